// idle_clients: opens N TLS logins to a PostgreSQL endpoint (writegate-proxy, PgBouncer) from one
// process and holds them open, idle, so that a script can read the server's memory meanwhile
// (bench/proxy/idle-memory). Each connection: SSLRequest, a TLS handshake verified against a CA
// file and a host name, StartupMessage (user, database), the password (an RDS IAM token) when
// the server asks for it in cleartext, then everything up to ReadyForQuery.
//
//   idle_clients --port 6432 --ca-file ca.crt --user lambda_writer --database mydb
//       --password-file token.txt --clients 10000 --sources 2
//
// Non-blocking sockets and one epoll set, so one thread holds any number of connections; at
// most --parallel logins are in flight at once (the rest wait their turn, so a server's cap on
// unauthenticated clients and its auth timeout measure nothing of this program's making).
// Source addresses 127.0.0.1 .. 127.0.0.K (--sources K) spread the connections over K times
// the ephemeral port range.
//
// stdout, one JSON object per line: {"event":"logged_in", "clients", "logged_in", "failed",
// "first_error", "seconds"} once every login ended, and {"event":"closed", "closed_by_server"} at
// the end. It holds the connections until stdin reaches EOF or SIGINT/SIGTERM arrives.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string server_name = "localhost";
  std::string ca_file;
  std::string user;
  std::string database;
  std::string password_file;
  int clients = 1;
  int sources = 1;
  int parallel = 64;
  int login_timeout_seconds = 600;
};

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

// A file descriptor closed exactly once.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.fd_;
      other.fd_ = -1;
    }
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no OpenSSL error queued";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

void put_u32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

std::uint32_t get_u32(const std::string& in, std::size_t at) {
  return (static_cast<std::uint32_t>(static_cast<unsigned char>(in[at])) << 24) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + 1])) << 16) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + 2])) << 8) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + 3]));
}

std::string ssl_request() {
  std::string out;
  put_u32(out, 8);
  put_u32(out, 80877103);
  return out;
}

std::string startup_message(const std::string& user, const std::string& database) {
  std::string body;
  put_u32(body, 196608);  // protocol 3.0
  for (const auto* part :
       {"user", user.c_str(), "database", database.c_str(), "application_name", "idle_clients"}) {
    body += part;
    body.push_back('\0');
  }
  body.push_back('\0');
  std::string out;
  put_u32(out, static_cast<std::uint32_t>(body.size() + 4));
  return out + body;
}

std::string password_message(const std::string& password) {
  std::string out = "p";
  put_u32(out, static_cast<std::uint32_t>(password.size() + 5));
  out += password;
  out.push_back('\0');
  return out;
}

// The M field of an ErrorResponse body, else the whole body made printable.
std::string error_text(const std::string& body) {
  std::string severity;
  std::string message;
  std::size_t i = 0;
  while (i < body.size() && body[i] != '\0') {
    const char field = body[i++];
    const std::size_t end = body.find('\0', i);
    if (end == std::string::npos) break;
    if (field == 'S') severity = body.substr(i, end - i);
    if (field == 'M') message = body.substr(i, end - i);
    i = end + 1;
  }
  if (message.empty()) return "ErrorResponse without a message";
  return severity.empty() ? message : severity + ": " + message;
}

enum class State {
  kWaiting,      // not started yet (at most --parallel logins run at once)
  kConnecting,   // TCP connect in progress
  kSslRequest,   // SSLRequest being written
  kSslResponse,  // waiting for 'S'
  kHandshake,    // TLS handshake
  kLogin,        // StartupMessage, the password, up to ReadyForQuery
  kIdle,         // logged in, held open
  kFailed,
  kClosed,  // logged in, then the server closed it
};

struct Connection {
  State state = State::kWaiting;
  Fd fd;
  SslPtr ssl;
  std::string out;  // bytes still to write (plain before TLS, through TLS after)
  std::size_t out_at = 0;
  std::string in;  // bytes read and not yet parsed
  std::uint32_t watching = 0;
};

class IdleClients {
 public:
  IdleClients(Options options, std::string password, SslCtxPtr ctx)
      : options_(std::move(options)), password_(std::move(password)), ctx_(std::move(ctx)) {}

  int run() {
    epoll_ = Fd(epoll_create1(EPOLL_CLOEXEC));
    if (epoll_.get() < 0) return fail_setup(std::string("epoll_create1: ") + strerror(errno));
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    signal_fd_ = Fd(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
    watch_fd(signal_fd_.get(), kSignalTag);

    connections_.resize(static_cast<std::size_t>(options_.clients));
    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + std::chrono::seconds(options_.login_timeout_seconds);
    std::size_t next = 0;
    std::vector<epoll_event> events(1024);
    while (logins_ended_ < connections_.size() && !stop_) {
      while (in_flight_ < options_.parallel && next < connections_.size())
        start(next++);
      if (std::chrono::steady_clock::now() > deadline) {
        for (std::size_t i = 0; i < connections_.size(); ++i) {
          const State s = connections_[i].state;
          if (s == State::kWaiting) {  // never started
            connections_[i].state = State::kFailed;
            ++failed_;
            ++logins_ended_;
          } else if (s != State::kIdle && s != State::kFailed && s != State::kClosed) {
            fail(i, "no ReadyForQuery within --login-timeout");
          }
        }
        break;
      }
      const int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 1000);
      if (n < 0 && errno != EINTR) return fail_setup(std::string("epoll_wait: ") + strerror(errno));
      for (int e = 0; e < n; ++e)
        dispatch(events[static_cast<std::size_t>(e)]);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf(
        "{\"event\":\"logged_in\",\"clients\":%d,\"logged_in\":%zu,\"failed\":%zu,"
        "\"first_error\":%s,\"seconds\":%.1f}\n",
        options_.clients, logged_in_, failed_, json_string(first_error_).c_str(), seconds);
    std::fflush(stdout);
    std::fprintf(stderr, "idle_clients: %zu logged in, %zu failed in %.1f s%s%s; holding\n",
                 logged_in_, failed_, seconds,
                 first_error_.empty() ? "" : "; first error: ", first_error_.c_str());

    // Hold: nothing is sent; a connection the server closes is counted.
    watch_fd(STDIN_FILENO, kStdinTag);
    while (!stop_) {
      const int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), -1);
      if (n < 0 && errno != EINTR) break;
      for (int e = 0; e < n; ++e)
        dispatch(events[static_cast<std::size_t>(e)]);
    }
    std::printf("{\"event\":\"closed\",\"closed_by_server\":%zu}\n", closed_by_server_);
    std::fflush(stdout);
    return failed_ == 0 ? 0 : 1;
  }

 private:
  static constexpr std::uint64_t kSignalTag = ~std::uint64_t{0};
  static constexpr std::uint64_t kStdinTag = ~std::uint64_t{0} - 1;

  int fail_setup(const std::string& what) {
    std::fprintf(stderr, "idle_clients: %s\n", what.c_str());
    return 2;
  }

  static std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
      if (c == '"' || c == '\\') {
        out.push_back('\\');
        out.push_back(c);
      } else if (static_cast<unsigned char>(c) < 0x20) {
        out.push_back(' ');
      } else {
        out.push_back(c);
      }
    }
    return out + "\"";
  }

  void watch_fd(int fd, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  }

  // Interest in EPOLLIN or EPOLLOUT only as the state needs it.
  void want(std::size_t i, std::uint32_t events) {
    Connection& c = connections_[i];
    if (c.watching == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = i;
    epoll_ctl(epoll_.get(), c.watching == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd.get(), &ev);
    c.watching = events;
  }

  void fail(std::size_t i, const std::string& why) {
    Connection& c = connections_[i];
    if (first_error_.empty()) first_error_ = why;
    c.state = State::kFailed;
    c.ssl.reset();
    c.fd.reset();
    c.watching = 0;
    ++failed_;
    end_login();
  }

  void end_login() {
    --in_flight_;
    ++logins_ended_;
  }

  void start(std::size_t i) {
    Connection& c = connections_[i];
    ++in_flight_;
    c.state = State::kConnecting;
    c.fd = Fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (c.fd.get() < 0) return fail(i, std::string("socket: ") + strerror(errno));
    if (options_.sources > 1) {
      // The port is chosen at connect(), per destination, not at bind().
      const int one = 1;
      setsockopt(c.fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sockaddr_in source{};
      source.sin_family = AF_INET;
      source.sin_addr.s_addr = htonl(
          0x7f000001u + static_cast<std::uint32_t>(i % static_cast<std::size_t>(options_.sources)));
      if (bind(c.fd.get(), reinterpret_cast<sockaddr*>(&source), sizeof source) != 0) {
        return fail(i, std::string("bind to a 127.0.0.x source: ") + strerror(errno));
      }
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(options_.port));
    inet_pton(AF_INET, options_.host.c_str(), &to.sin_addr);
    if (connect(c.fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 &&
        errno != EINPROGRESS) {
      return fail(i, std::string("connect: ") + strerror(errno));
    }
    c.out = ssl_request();
    c.out_at = 0;
    want(i, EPOLLOUT);
  }

  void dispatch(const epoll_event& ev) {
    if (ev.data.u64 == kSignalTag) {
      stop_ = true;
      return;
    }
    if (ev.data.u64 == kStdinTag) {
      char buf[256];
      const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
      if (n <= 0) stop_ = true;
      return;
    }
    const std::size_t i = ev.data.u64;
    switch (connections_[i].state) {
      case State::kConnecting:
      case State::kSslRequest:
        return on_ssl_request(i);
      case State::kSslResponse:
        return on_ssl_response(i);
      case State::kHandshake:
        return on_handshake(i);
      case State::kLogin:
        return on_login(i);
      case State::kIdle:
        return on_idle(i);
      default:
        return;
    }
  }

  void on_ssl_request(std::size_t i) {
    Connection& c = connections_[i];
    if (c.state == State::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return fail(i, std::string("connect: ") + strerror(err));
      c.state = State::kSslRequest;
    }
    const ssize_t n =
        send(c.fd.get(), c.out.data() + c.out_at, c.out.size() - c.out_at, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) return;
      return fail(i, std::string("sending SSLRequest: ") + strerror(errno));
    }
    c.out_at += static_cast<std::size_t>(n);
    if (c.out_at < c.out.size()) return;
    c.state = State::kSslResponse;
    want(i, EPOLLIN);
  }

  void on_ssl_response(std::size_t i) {
    Connection& c = connections_[i];
    char answer = 0;
    const ssize_t n = recv(c.fd.get(), &answer, 1, 0);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) return fail(i, "the server closed the connection after SSLRequest");
    if (answer != 'S')
      return fail(i, std::string("the server refused TLS (answered '") + answer + "')");
    c.ssl.reset(SSL_new(ctx_.get()));
    if (!c.ssl) return fail(i, "SSL_new: " + openssl_error());
    SSL_set_fd(c.ssl.get(), c.fd.get());
    SSL_set_tlsext_host_name(c.ssl.get(), options_.server_name.c_str());
    SSL_set1_host(c.ssl.get(), options_.server_name.c_str());
    SSL_set_connect_state(c.ssl.get());
    c.state = State::kHandshake;
    on_handshake(i);
  }

  // true: go on; false: wait for the socket (interest set) or the connection failed.
  bool ssl_retry(std::size_t i, int rc, const char* what) {
    const int err = SSL_get_error(connections_[i].ssl.get(), rc);
    if (err == SSL_ERROR_WANT_READ) {
      want(i, EPOLLIN);
      return false;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
      want(i, EPOLLOUT);
      return false;
    }
    std::string why = std::string(what) + ": ";
    if (err == SSL_ERROR_ZERO_RETURN) {
      why += "the server closed the TLS connection";
    } else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      why += errno != 0 ? strerror(errno) : "the server closed the connection";
    } else {
      why += openssl_error();
      const long verify = SSL_get_verify_result(connections_[i].ssl.get());
      if (verify != X509_V_OK)
        why += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    }
    fail(i, why);
    return false;
  }

  void on_handshake(std::size_t i) {
    Connection& c = connections_[i];
    ERR_clear_error();
    errno = 0;
    const int rc = SSL_connect(c.ssl.get());
    if (rc != 1) {
      ssl_retry(i, rc, "TLS handshake");
      return;
    }
    c.state = State::kLogin;
    c.out = startup_message(options_.user, options_.database);
    c.out_at = 0;
    on_login(i);
  }

  // Writes what is queued, answers the messages read so far, reads more; up to ReadyForQuery.
  void on_login(std::size_t i) {
    Connection& c = connections_[i];
    char buf[4096];
    for (;;) {
      while (c.out_at < c.out.size()) {
        ERR_clear_error();
        errno = 0;
        const int rc = SSL_write(c.ssl.get(), c.out.data() + c.out_at,
                                 static_cast<int>(c.out.size() - c.out_at));
        if (rc <= 0) {
          ssl_retry(i, rc, "sending the login");
          return;
        }
        c.out_at += static_cast<std::size_t>(rc);
      }
      switch (parse_login(i)) {
        case Parsed::kMore:
          break;
        case Parsed::kWrite:
          continue;
        case Parsed::kDone:
          return;
      }
      ERR_clear_error();
      errno = 0;
      const int rc = SSL_read(c.ssl.get(), buf, sizeof buf);
      if (rc <= 0) {
        ssl_retry(i, rc, "reading the login's answers");
        return;
      }
      c.in.append(buf, static_cast<std::size_t>(rc));
    }
  }

  enum class Parsed { kMore, kWrite, kDone };

  // The complete messages in c.in: kWrite when an answer was queued, kDone when the login ended
  // (ReadyForQuery, or failed), kMore when more bytes are needed.
  Parsed parse_login(std::size_t i) {
    Connection& c = connections_[i];
    while (c.in.size() >= 5) {
      const std::uint32_t len = get_u32(c.in, 1);
      if (len < 4 || len > 1024 * 1024) {
        fail(i, "a malformed message from the server");
        return Parsed::kDone;
      }
      if (c.in.size() < 1 + static_cast<std::size_t>(len)) break;
      const char type = c.in[0];
      const std::string body = c.in.substr(5, len - 4);
      c.in.erase(0, 1 + static_cast<std::size_t>(len));
      if (type == 'E') {
        fail(i, error_text(body));
        return Parsed::kDone;
      }
      if (type == 'R') {
        const std::uint32_t code = body.size() >= 4 ? get_u32(body, 0) : 99;
        if (code == 3) {  // cleartext password: the token
          c.out = password_message(password_);
          c.out_at = 0;
          return Parsed::kWrite;
        }
        if (code != 0) {
          fail(i, "the server asked for authentication method " + std::to_string(code) +
                      " (only cleartext and none are spoken here)");
          return Parsed::kDone;
        }
      }
      if (type == 'Z') {
        c.state = State::kIdle;
        std::string().swap(c.in);
        std::string().swap(c.out);
        want(i, EPOLLIN);
        ++logged_in_;
        end_login();
        return Parsed::kDone;
      }
    }
    return Parsed::kMore;
  }

  void on_idle(std::size_t i) {
    Connection& c = connections_[i];
    char buf[4096];
    ERR_clear_error();
    const int rc = SSL_read(c.ssl.get(), buf, sizeof buf);
    if (rc > 0) return;  // a NoticeResponse or ParameterStatus: nothing to answer
    const int err = SSL_get_error(c.ssl.get(), rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
    c.state = State::kClosed;
    c.ssl.reset();
    c.fd.reset();
    ++closed_by_server_;
  }

  Options options_;
  std::string password_;
  SslCtxPtr ctx_;
  Fd epoll_;
  Fd signal_fd_;
  std::vector<Connection> connections_;
  int in_flight_ = 0;
  std::size_t logins_ended_ = 0;
  std::size_t logged_in_ = 0;
  std::size_t failed_ = 0;
  std::size_t closed_by_server_ = 0;
  std::string first_error_;
  bool stop_ = false;
};

void usage() {
  std::fprintf(stderr,
               "usage: idle_clients --port P --ca-file F --user U --database D "
               "[--password-file F] [--host 127.0.0.1] [--server-name localhost] "
               "[--clients N] [--sources K] [--parallel M] [--login-timeout S]\n"
               "  the password (an IAM token) comes from --password-file or PGPASSWORD\n");
}

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return std::nullopt;
    const std::string value = argv[++i];
    try {
      if (arg == "--host") {
        o.host = value;
      } else if (arg == "--port") {
        o.port = std::stoi(value);
      } else if (arg == "--server-name") {
        o.server_name = value;
      } else if (arg == "--ca-file") {
        o.ca_file = value;
      } else if (arg == "--user") {
        o.user = value;
      } else if (arg == "--database") {
        o.database = value;
      } else if (arg == "--password-file") {
        o.password_file = value;
      } else if (arg == "--clients") {
        o.clients = std::stoi(value);
      } else if (arg == "--sources") {
        o.sources = std::stoi(value);
      } else if (arg == "--parallel") {
        o.parallel = std::stoi(value);
      } else if (arg == "--login-timeout") {
        o.login_timeout_seconds = std::stoi(value);
      } else {
        return std::nullopt;
      }
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (o.port <= 0 || o.port > 65535 || o.ca_file.empty() || o.user.empty() || o.database.empty() ||
      o.clients < 1 || o.sources < 1 || o.sources > 254 || o.parallel < 1 ||
      o.login_timeout_seconds < 1) {
    return std::nullopt;
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = parse(argc, argv);
  if (!options) {
    usage();
    return 2;
  }
  std::string password;
  if (!options->password_file.empty()) {
    std::ifstream in(options->password_file);
    if (!in || !std::getline(in, password)) {
      std::fprintf(stderr, "idle_clients: cannot read %s\n", options->password_file.c_str());
      return 2;
    }
  } else if (const char* env = std::getenv("PGPASSWORD")) {
    password = env;
  }

  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    std::fprintf(stderr, "idle_clients: SSL_CTX_new: %s\n", openssl_error().c_str());
    return 2;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  // This process's own memory is not what is measured, but 10,000 idle read buffers add up.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_load_verify_locations(ctx.get(), options->ca_file.c_str(), nullptr) != 1) {
    std::fprintf(stderr, "idle_clients: cannot load the CA file %s: %s\n", options->ca_file.c_str(),
                 openssl_error().c_str());
    return 2;
  }
  IdleClients clients(*options, std::move(password), std::move(ctx));
  return clients.run();
}
