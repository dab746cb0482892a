// writegate-proxy's controls, each tried live: which databases a token may reach, the
// connection caps and a flood of idle sockets, the login deadline, replication and plaintext
// refusals, backends that are down, lie about their name or never answer, cancel keys, and log
// lines that no user name can suppress.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "awslocal/secret_store.h"
#include "common/log_files.h"
#include "pgclient/pgclient.h"
#include "pgwire/frame_decoder.h"
#include "pgwire/parse.h"
#include "pgwire/scram.h"
#include "proxy/proxy_stack.h"

namespace writegate::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// A raw TCP client from a chosen loopback source address.
class RawClient {
 public:
  RawClient(int port, const std::string& source = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      close();
    }
  }
  ~RawClient() { close(); }
  RawClient(RawClient&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  RawClient(const RawClient&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool send(std::string_view bytes) {
    return fd_ >= 0 && ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
                           static_cast<ssize_t>(bytes.size());
  }
  // Everything the peer sends until it closes or `wait` passes; `closed` says which.
  std::string read_until_closed(std::chrono::milliseconds wait, bool* closed = nullptr) {
    std::string out;
    const auto until = std::chrono::steady_clock::now() + wait;
    if (closed) *closed = false;
    while (fd_ >= 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        if (closed) *closed = true;
        break;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

const std::string kSslRequest("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8);

// A StartupMessage for protocol 3.0 with these parameters.
std::string startup_message(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string body("\x00\x03\x00\x00", 4);
  for (const auto& [k, v] : params) {
    body += k;
    body += '\0';
    body += v;
    body += '\0';
  }
  body += '\0';
  const auto n = static_cast<std::uint32_t>(body.size() + 4);
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8)
    out += static_cast<char>((n >> shift) & 0xff);
  return out + body;
}

// A login spoken byte for byte over TLS (no libpq), so a test sees the exact ErrorResponse a
// client gets: "SQLSTATE: message", or "" when the login reached ReadyForQuery. `resumable`, when
// given, says whether the client could resume the TLS session afterwards (TLS 1.3: whether the
// server sent a session ticket before ReadyForQuery).
std::string raw_tls_login(int port, const std::string& ca_file, const std::string& database,
                          const std::string& user, const std::string& password,
                          bool* resumable = nullptr) {
  RawClient tcp(port);
  if (!tcp.send(kSslRequest)) return "no connection";
  char s = 0;
  pollfd p{tcp.fd(), POLLIN, 0};
  if (::poll(&p, 1, 5000) <= 0 || ::recv(tcp.fd(), &s, 1, 0) != 1 || s != 'S') return "no S";
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), tcp.fd());
  SSL_set1_host(ssl.get(), "localhost");
  if (SSL_connect(ssl.get()) != 1) return "TLS failed";
  const std::string startup = startup_message({{"user", user}, {"database", database}});
  SSL_write(ssl.get(), startup.data(), static_cast<int>(startup.size()));
  auto decoder = pgwire::FrameDecoder::backend();
  bool sent_password = false;
  for (;;) {
    auto decoded = decoder.next();
    if (!decoded) return "undecodable: " + decoded.error().message();
    if (!decoded->ready()) {
      char buf[4096];
      const int n = SSL_read(ssl.get(), buf, sizeof buf);
      if (n <= 0) return "closed without an error";
      decoder.feed(std::string_view(buf, static_cast<std::size_t>(n)));
      continue;
    }
    const pgwire::Frame& frame = decoded->frame;
    if (frame.type == 'E') {
      auto error = pgwire::parse_error_response(frame.body);
      if (!error) return "bad ErrorResponse";
      return std::string(error->sqlstate()) + ": " + std::string(error->message());
    }
    if (frame.type == 'Z') {
      if (resumable) *resumable = SSL_SESSION_is_resumable(SSL_get0_session(ssl.get())) == 1;
      return "";
    }
    if (frame.type == 'R' && !sent_password) {
      // AuthenticationCleartextPassword: the token.
      sent_password = true;
      std::string message = "p";
      const auto n = static_cast<std::uint32_t>(password.size() + 5);
      for (int shift = 24; shift >= 0; shift -= 8)
        message += static_cast<char>((n >> shift) & 0xff);
      message += password;
      message += '\0';
      SSL_write(ssl.get(), message.data(), static_cast<int>(message.size()));
    }
  }
}

class ProxyControlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The flood test holds a thousand sockets in this process (client and proxy ends).
    ProxyStack::raise_open_file_limit();
    stack_ = ProxyStack::start().release();
  }
  static void TearDownTestSuite() {
    delete stack_;
    stack_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(stack_, nullptr) << "the stack did not start"; }

  static std::string fresh_token(int port) {
    return stack_->token(stack_->role_credentials(), "", std::chrono::system_clock::now(),
                         "localhost", port);
  }
  static Result<pgclient::Connection> login_at(int port, const std::string& database = "mydb",
                                               const std::string& user = "") {
    return pgclient::Connection::open(
        stack_->dsn_for_port(port, fresh_token(port), user, database));
  }

  // The exact error a client logging in at `port` gets ("SQLSTATE: message"; "" if it got in).
  static std::string login_error(int port, const std::string& database = "mydb") {
    return raw_tls_login(port, stack_->proxy_ca_file(), database, "lambda_writer",
                         fresh_token(port));
  }

  static ProxyStack* stack_;
};
ProxyStack* ProxyControlsTest::stack_ = nullptr;

// ---- 1. only the spec's database ----

TEST_F(ProxyControlsTest, OtherDatabasesAreRefusedEvenWhenPublicMayConnect) {
  auto admin = pgclient::Connection::open(stack_->pg().admin_dsn());
  ASSERT_TRUE(admin.ok());
  // Created after provision: PUBLIC has CONNECT and TEMPORARY there.
  ASSERT_TRUE(admin->exec("CREATE DATABASE created_later").ok());
  for (const std::string database : {"postgres", "template1", "created_later", "lambda_writer"}) {
    SCOPED_TRACE(database);
    const std::size_t before = stack_->connect_log_count();
    EXPECT_EQ(login_error(stack_->port(), database),
              "42501: permission denied for database \"" + database + "\"");
    const std::string line = stack_->wait_connect_log(before);
    EXPECT_THAT(line, HasSubstr("\"reason\":\"database_not_allowed\""));
    EXPECT_THAT(line, HasSubstr("\"database\":\"" + database + "\""));
  }
  // The spec's database still works, and psql-like clients show the reason.
  EXPECT_EQ(login_error(stack_->port()), "");
  auto conn = login_at(stack_->port(), "postgres");
  ASSERT_FALSE(conn.ok());
  EXPECT_THAT(conn.error().message(), HasSubstr("This proxy serves only the database(s): mydb."));
}

TEST_F(ProxyControlsTest, TheConfigMayWidenTheDatabasesOnPurpose) {
  auto admin = pgclient::Connection::open(stack_->pg().admin_dsn());
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE(admin->exec("CREATE DATABASE widened").ok());
  auto extra = stack_->start_proxy([](proxy::ProxyConfig& c) {
    c.databases = {"mydb", "widened"};
  });
  ASSERT_NE(extra, nullptr);
  auto conn = login_at(extra->port(), "widened");
  ASSERT_TRUE(conn.ok()) << conn.error().message();
  EXPECT_EQ(conn->exec("SELECT current_database() AS d")->get(0, "d"), "widened");
  EXPECT_FALSE(login_at(extra->port(), "postgres").ok());
}

// ---- 2. caps and floods ----

TEST_F(ProxyControlsTest, TheClientCapRefusesTheNextClientWith53300AndLogsIt) {
  auto extra = stack_->start_proxy([](proxy::ProxyConfig& c) { c.max_client_connections = 2; });
  ASSERT_NE(extra, nullptr);
  auto first = login_at(extra->port());
  auto second = login_at(extra->port());
  ASSERT_TRUE(first.ok() && second.ok());
  auto third = login_at(extra->port());
  ASSERT_FALSE(third.ok());
  // The refusal comes before any TLS work (README: a deliberate difference from PostgreSQL, which
  // would do the handshake first), so libpq reports it as an error during the SSL exchange.
  EXPECT_THAT(third.error().message(),
              HasSubstr("server sent an error response during SSL exchange"));
  // On the wire: an ErrorResponse 53300 straight away, then the close.
  RawClient raw(extra->port());
  bool closed = false;
  const std::string answer = raw.read_until_closed(5s, &closed);
  EXPECT_TRUE(closed);
  ASSERT_FALSE(answer.empty());
  EXPECT_EQ(answer[0], 'E');
  EXPECT_THAT(answer, HasSubstr("53300"));
  EXPECT_THAT(answer, HasSubstr("too many client connections to the proxy (2)"));
  EXPECT_THAT(extra->wait_log(2), HasSubstr("\"reason\":\"too_many_clients\""));
}

TEST_F(ProxyControlsTest, ThePerSourceCapEvictsTheOldestFromThatSourceOnly) {
  auto extra = stack_->start_proxy([](proxy::ProxyConfig& c) {
    c.max_unauthenticated_per_source = 3;
    c.max_unauthenticated_connections = 100;
  });
  ASSERT_NE(extra, nullptr);
  RawClient other_source(extra->port(), "127.0.0.3");
  ASSERT_TRUE(other_source.connected());
  std::vector<RawClient> idle;
  for (int i = 0; i < 3; ++i) {
    idle.emplace_back(extra->port(), "127.0.0.2");
    ASSERT_TRUE(idle.back().connected());
    std::this_thread::sleep_for(50ms);  // an order of arrival
  }
  // A fourth from the same source: the oldest of that source goes, not the other source's.
  RawClient fourth(extra->port(), "127.0.0.2");
  ASSERT_TRUE(fourth.connected());
  bool closed = false;
  idle[0].read_until_closed(5s, &closed);
  EXPECT_TRUE(closed) << "the oldest socket of 127.0.0.2 should have been evicted";
  closed = false;
  idle[1].read_until_closed(300ms, &closed);
  EXPECT_FALSE(closed);
  other_source.read_until_closed(300ms, &closed);
  EXPECT_FALSE(closed);
  EXPECT_THAT(extra->wait_log(0), HasSubstr("\"reason\":\"evicted_unauthenticated\""));
  // A real login from the flooded source still gets in.
  auto conn =
      pgclient::Connection::open(stack_->dsn_for_port(extra->port(), fresh_token(extra->port())));
  EXPECT_TRUE(conn.ok()) << conn.error().message();
}

TEST_F(ProxyControlsTest, ARealLoginSucceedsWhileAThousandIdleSocketsAreOpen) {
  const int port = stack_->port();
  const std::size_t log_before = stack_->connect_log_count();
  // A thousand sockets that never say a word: from twenty source addresses, then from the
  // client's own.
  std::vector<RawClient> idle;
  for (int i = 0; i < 1000; ++i) {
    idle.emplace_back(port, "127.0.0." + std::to_string(2 + i % 20));
    ASSERT_TRUE(idle.back().connected()) << i;
  }
  for (int i = 0; i < 1000; ++i) {
    idle.emplace_back(port, "127.0.0.1");
    ASSERT_TRUE(idle.back().connected()) << i;
  }
  std::this_thread::sleep_for(500ms);
  const auto started = std::chrono::steady_clock::now();
  auto conn = login_at(port);
  ASSERT_TRUE(conn.ok()) << conn.error().message();
  EXPECT_EQ(conn->exec("SELECT current_user AS u")->get(0, "u"), "lambda_writer");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  // The refusals and evictions are in the log, each with its reason.
  std::size_t refused = 0;
  for (std::size_t i = log_before;; ++i) {
    const std::string line = stack_->wait_connect_log(i);
    if (line.empty()) break;
    if (line.find("evicted_unauthenticated") != std::string::npos) {
      ++refused;
    }
    if (refused >= 10) break;
  }
  EXPECT_GE(refused, 10u);
}

TEST_F(ProxyControlsTest, AClientThatNeverLogsInIsClosedAtTheAuthTimeout) {
  auto extra = stack_->start_proxy([](proxy::ProxyConfig& c) { c.auth_timeout_seconds = 1; });
  ASSERT_NE(extra, nullptr);
  RawClient silent(extra->port());
  ASSERT_TRUE(silent.connected());
  const auto started = std::chrono::steady_clock::now();
  bool closed = false;
  silent.read_until_closed(10s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);
  EXPECT_THAT(extra->wait_log(0), HasSubstr("\"reason\":\"auth_timeout\""));
}

TEST_F(ProxyControlsTest, AnIdleClientIsClosedAtIdleClientTimeoutButALongQueryIsNot) {
  auto extra =
      stack_->start_proxy([](proxy::ProxyConfig& c) { c.idle_client_timeout_seconds = 1; });
  ASSERT_NE(extra, nullptr);
  auto conn = login_at(extra->port());
  ASSERT_TRUE(conn.ok()) << conn.error().message();
  // Waiting on the database for longer than the timeout is not idleness.
  auto slow = conn->exec("SELECT pg_sleep(2)");
  EXPECT_TRUE(slow.ok()) << slow.error().message();
  // Saying nothing for longer is.
  std::this_thread::sleep_for(2500ms);
  EXPECT_FALSE(conn->exec("SELECT 1").ok());
  EXPECT_THAT(extra->wait_log(0, "disconnect"), HasSubstr("\"reason\":\"idle_client_timeout\""));
}

// ---- refusals before the token ----

TEST_F(ProxyControlsTest, ReplicationConnectionsAreRefused) {
  const std::size_t before = stack_->connect_log_count();
  auto conn = pgclient::Connection::open(
      stack_->dsn_for_port(stack_->port(), fresh_token(stack_->port())) + " replication=database");
  ASSERT_FALSE(conn.ok());
  EXPECT_THAT(conn.error().message(), HasSubstr("replication connections are not supported"));
  EXPECT_THAT(stack_->wait_connect_log(before), HasSubstr("\"reason\":\"replication_refused\""));
}

// PostgreSQL's server sends no TLS 1.3 session tickets (libpq never resumes a session): neither
// does the proxy, which saves both sides two tickets' work at every login.
TEST_F(ProxyControlsTest, TheHandshakeSendsNoSessionTicketAsPostgresqlDoes) {
  const std::size_t before = stack_->connect_log_count();
  bool resumable = true;
  ASSERT_EQ(raw_tls_login(stack_->port(), stack_->proxy_ca_file(), "mydb", "lambda_writer",
                          fresh_token(stack_->port()), &resumable),
            "");
  EXPECT_FALSE(resumable) << "the proxy sent a session ticket";
  // This login's line is written before the next test counts lines.
  EXPECT_THAT(stack_->wait_connect_log(before), HasSubstr("\"outcome\":\"ok\""));
}

TEST_F(ProxyControlsTest, PlaintextSentWithTheSslRequestIsRefusedAsPostgresqlDoes) {
  const std::size_t before = stack_->connect_log_count();
  RawClient client(stack_->port());
  // The SSLRequest and a plaintext startup message in one segment: a man in the middle's trick.
  ASSERT_TRUE(client.send(kSslRequest +
                          startup_message({{"user", "lambda_writer"}, {"database", "mydb"}})));
  bool closed = false;
  const std::string answer = client.read_until_closed(5s, &closed);
  EXPECT_TRUE(closed);
  ASSERT_GE(answer.size(), 2u);
  EXPECT_EQ(answer[0], 'S');
  EXPECT_EQ(answer[1], 'E');
  EXPECT_THAT(answer, HasSubstr("08P01"));
  EXPECT_THAT(answer, HasSubstr("received unencrypted data after SSL request"));
  EXPECT_THAT(stack_->wait_connect_log(before),
              HasSubstr("\"reason\":\"plaintext_after_sslrequest\""));
}

TEST_F(ProxyControlsTest, AUserNameThatIsNotUtf8IsStillLogged) {
  const std::size_t before = stack_->connect_log_count();
  RawClient client(stack_->port());
  // No TLS: refused with tls_required, and the line is written with the name's bad bytes
  // replaced.
  ASSERT_TRUE(client.send(startup_message({{"user", "evil\xff\xfe"}, {"database", "mydb"}})));
  client.read_until_closed(5s);
  const std::string line = stack_->wait_connect_log(before);
  EXPECT_THAT(line, HasSubstr("\"reason\":\"tls_required\""));
  EXPECT_THAT(line, HasSubstr("\"user\":\"evil\xef\xbf\xbd\xef\xbf\xbd\""));
}

// ---- backends that fail ----

TEST_F(ProxyControlsTest, ABackendThatIsDownGivesACleanErrorAndALogReason) {
  // A port nobody listens on: bound, then closed.
  int unused = 0;
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    unused = ntohs(a.sin_port);
    ::close(fd);
  }
  auto extra = stack_->start_proxy([&](proxy::ProxyConfig& c) { c.backend.port = unused; });
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(login_error(extra->port()), "57P03: the proxy cannot reach the database");
  EXPECT_THAT(extra->wait_log(0), HasSubstr("\"reason\":\"backend_unreachable\""));
}

TEST_F(ProxyControlsTest, ABackendWithTheWrongCertificateNameIsRefused) {
  auto extra = stack_->start_proxy(
      [](proxy::ProxyConfig& c) { c.backend.server_name = "not-the-database.example.com"; });
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(login_error(extra->port()), "57P03: the proxy cannot reach the database securely");
  const std::string line = extra->wait_log(0);
  EXPECT_THAT(line, HasSubstr("\"reason\":\"backend_tls_failed\""));
  EXPECT_THAT(line, HasSubstr("certificate verify failed"));
}

// A TCP listener that accepts (the kernel does, through the backlog) and never answers.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 64);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(ProxyControlsTest, ABackendThatNeverAnswersTimesOut) {
  SilentListener silent;
  auto extra = stack_->start_proxy([&](proxy::ProxyConfig& c) {
    c.backend.port = silent.port();
    c.backend.connect_timeout_seconds = 1;
  });
  ASSERT_NE(extra, nullptr);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(login_error(extra->port()), "57P03: the proxy cannot reach the database");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 8s);
  EXPECT_THAT(extra->wait_log(0), HasSubstr("\"reason\":\"backend_timeout\""));
}

TEST_F(ProxyControlsTest, StopIsNotBlockedByABackendThatNeverAnswers) {
  SilentListener silent;
  auto extra = stack_->start_proxy([&](proxy::ProxyConfig& c) {
    c.backend.port = silent.port();
    c.backend.connect_timeout_seconds = 120;
    c.auth_timeout_seconds = 120;
  });
  ASSERT_NE(extra, nullptr);
  std::atomic<bool> done{false};
  std::string error;
  std::thread client([&] {
    auto conn = login_at(extra->port());
    if (!conn) error = conn.error().message();
    done = true;
  });
  // Wait until the login is past the token check and stuck at the backend.
  for (int i = 0; i < 100 && extra->server().metrics().database_connection_requests.load() == 0;
       ++i) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(extra->server().metrics().database_connection_requests.load(), 1);
  const auto started = std::chrono::steady_clock::now();
  extra->stop_and_join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  client.join();
  EXPECT_TRUE(done);
  EXPECT_FALSE(error.empty());
}

// ---- the admin listener ----

// One HTTP/1.1 request to 127.0.0.1:port; the whole answer.
std::string http_request(int port, const std::string& method, const std::string& target) {
  RawClient client(port);
  EXPECT_TRUE(client.send(method + " " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  return client.read_until_closed(5s);
}

TEST_F(ProxyControlsTest, MetricsAndStatusOnTheAdminListener) {
  auto extra = stack_->start_proxy([](proxy::ProxyConfig& c) {
    c.admin_host = "127.0.0.1";
    c.admin_port = 0;
    c.proxy_name = "aurora-write-proxy";
  });
  ASSERT_NE(extra, nullptr);
  ASSERT_NE(extra->server().admin_port(), 0);
  ASSERT_EQ(login_error(extra->port()), "");
  EXPECT_NE(login_error(extra->port(), "postgres"), "");
  const std::string metrics = http_request(extra->server().admin_port(), "GET", "/metrics");
  EXPECT_THAT(metrics, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(metrics, HasSubstr("text/plain; version=0.0.4"));
  const std::string label = "{ProxyName=\"aurora-write-proxy\"}";
  EXPECT_THAT(metrics, HasSubstr("# TYPE ClientConnections gauge\n"));
  EXPECT_THAT(metrics, HasSubstr("\nClientConnectionsReceived" + label + " 2\n"));
  EXPECT_THAT(metrics, HasSubstr("\nClientConnectionsSetupSucceeded" + label + " 1\n"));
  EXPECT_THAT(metrics, HasSubstr("\nClientConnectionsTLS" + label + " 2\n"));
  EXPECT_THAT(metrics, HasSubstr("\nDatabaseConnectionRequests" + label + " 1\n"));
  EXPECT_THAT(metrics, HasSubstr("\nDatabaseConnectionsBorrowLatency_count" + label + " 1\n"));
  const std::string status = http_request(extra->server().admin_port(), "GET", "/status");
  EXPECT_THAT(status, HasSubstr("\"databases\": [\n    \"mydb\"\n  ]"));
  EXPECT_THAT(http_request(extra->server().admin_port(), "POST", "/metrics"),
              HasSubstr("HTTP/1.1 405 Method Not Allowed"));
  EXPECT_THAT(http_request(extra->server().admin_port(), "GET", "/secrets"),
              HasSubstr("HTTP/1.1 404 Not Found"));
}

// ---- the secret rotated under a running proxy ----

TEST_F(ProxyControlsTest, ARotatedSecretIsFetchedAgainAtOnceNotAfterTheCache) {
  // A login caches the current password (30 s).
  ASSERT_EQ(login_error(stack_->port()), "");
  // Rotation, as `writegate secrets rotate-writer` does it: a new verifier on the database and
  // the new password in the secret.
  const std::string fresh = "rotated-" + std::to_string(::getpid()) + "-Xy7";
  auto verifier = pgwire::make_scram_secret(fresh, "salt-of-this-test");
  ASSERT_TRUE(verifier.ok());
  auto admin = pgclient::Connection::open(stack_->pg().admin_dsn("mydb"));
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE(admin
                  ->exec("ALTER ROLE lambda_writer PASSWORD " +
                         pgclient::quote_literal(pgwire::format_scram_secret(*verifier)))
                  .ok());
  auto secrets = awslocal::SecretStore::open(stack_->state_dir());
  ASSERT_TRUE(secrets.ok());
  ASSERT_TRUE((*secrets)
                  ->upsert(stack_->spec().database.user_secret,
                           awslocal::SecretPayload::text(
                               R"({"username":"lambda_writer","password":")" + fresh + R"("})"),
                           std::chrono::system_clock::now())
                  .ok());
  // The cached password is refused by the database; the proxy fetches the secret again.
  EXPECT_EQ(login_error(stack_->port()), "");
}

// ---- cancel keys ----

TEST_F(ProxyControlsTest, ACancelReachesOnlyItsOwnSessionAndAWrongKeyNothing) {
  auto open = [&] {
    PGconn* c =
        PQconnectdb(stack_->dsn_for_port(stack_->port(), fresh_token(stack_->port())).c_str());
    EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
    return c;
  };
  PGconn* a = open();
  PGconn* b = open();
  ASSERT_EQ(PQsendQuery(a, "SELECT pg_sleep(3)"), 1);
  ASSERT_EQ(PQsendQuery(b, "SELECT pg_sleep(3)"), 1);
  std::this_thread::sleep_for(300ms);

  // A wrong key: B's pid with a different secret. Nothing is cancelled.
  const int b_pid = PQbackendPID(b);
  {
    RawClient raw(stack_->port());
    std::string cancel("\x00\x00\x00\x10\x04\xd2\x16\x2e", 8);
    for (const std::uint32_t v : {static_cast<std::uint32_t>(b_pid), 0x12345678u})
      for (int shift = 24; shift >= 0; shift -= 8)
        cancel += static_cast<char>((v >> shift) & 0xff);
    ASSERT_TRUE(raw.send(cancel));
    bool closed = false;
    EXPECT_EQ(raw.read_until_closed(5s, &closed), "");  // PostgreSQL answers nothing either
    EXPECT_TRUE(closed);
  }
  // A's own key cancels A only.
  PGcancel* cancel = PQgetCancel(a);
  char errbuf[256];
  ASSERT_EQ(PQcancel(cancel, errbuf, sizeof errbuf), 1) << errbuf;
  PQfreeCancel(cancel);

  auto sqlstate_of = [](PGconn* c) {
    std::string state;
    while (PGresult* r = PQgetResult(c)) {
      if (const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE)) state = s;
      if (PQresultStatus(r) == PGRES_TUPLES_OK) state = "ok";
      PQclear(r);
    }
    return state;
  };
  EXPECT_EQ(sqlstate_of(a), "57014");
  EXPECT_EQ(sqlstate_of(b), "ok");  // B slept its three seconds out
  PQfinish(a);
  PQfinish(b);
}

// ---- debug logging and the log's rotation ----

// The JSON lines of every file of a rotating log (common/log_files.h), oldest first.
std::vector<nlohmann::json> rotating_log_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  for (const LogSegment& segment : log_segments(path)) {
    std::ifstream in(segment.path);
    for (std::string line; std::getline(in, line);)
      out.push_back(nlohmann::json::parse(line, nullptr, false));
  }
  return out;
}

std::size_t count_event(const std::vector<nlohmann::json>& lines, const std::string& event) {
  return static_cast<std::size_t>(std::count_if(lines.begin(), lines.end(), [&](const auto& l) {
    return l.is_object() && l.value("event", "") == event;
  }));
}

// settings_file turns debug logging on (at start, and again on reload_settings(), SIGHUP's
// work): a borrow, a query digest (no literal) and a release per transaction. The log rotates
// at log_max_bytes into files that never pass it, mode 0600, and across them every query line
// is there exactly once.
TEST_F(ProxyControlsTest, DebugLinesFollowTheSettingsFileAndTheLogRotatesWithoutLosingALine) {
  const std::string settings = stack_->dir() + "/debug-settings.json";
  std::ofstream(settings) << R"({"debug_logging": true})";
  auto extra = stack_->start_proxy([&](proxy::ProxyConfig& c) {
    c.settings_file = settings;
    c.log_max_bytes = 64 * 1024;
    c.log_keep = 100;
  });
  ASSERT_NE(extra, nullptr);
  EXPECT_TRUE(extra->server().debug_logging());
  auto conn = login_at(extra->port());
  ASSERT_TRUE(conn.ok()) << conn.error().message();
  constexpr int kQueries = 400;
  for (int i = 0; i < kQueries; ++i) {
    auto r = conn->exec("SELECT 'l1t3ral-" + std::to_string(i) + "' AS v /* a comment */");
    ASSERT_TRUE(r.ok()) << r.error().message();
  }
  // The backend goes back to the pool (and its release line is written) just after the client
  // has the last ReadyForQuery: wait for it (5 s at most) before turning debug logging off.
  for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
       count_event(rotating_log_lines(extra->log_file()), "release") <
           static_cast<std::size_t>(kQueries) &&
       std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Off (the file again, then what SIGHUP does): no more query lines.
  std::ofstream(settings, std::ios::trunc) << R"({"debug_logging": false})";
  ASSERT_TRUE(extra->server().reload_settings().ok());
  EXPECT_FALSE(extra->server().debug_logging());
  ASSERT_TRUE(conn->exec("SELECT 'after'").ok());
  // A damaged file changes nothing and says so.
  std::ofstream(settings, std::ios::trunc) << R"({"debug_logging": "yes"})";
  EXPECT_FALSE(extra->server().reload_settings().ok());
  EXPECT_FALSE(extra->server().debug_logging());
  conn = Error::internal("closed");  // the session ends: its lines are written

  const auto segments = log_segments(extra->log_file());
  EXPECT_GE(segments.size(), 3u) << "the log did not rotate";
  for (const LogSegment& segment : segments) {
    struct stat st {};
    ASSERT_EQ(::stat(segment.path.c_str(), &st), 0) << segment.path;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << segment.path;
    EXPECT_LE(segment.size, 64u * 1024) << segment.path;
  }
  const auto lines = rotating_log_lines(extra->log_file());
  for (const auto& l : lines)
    ASSERT_TRUE(l.is_object()) << "a broken line at a rotation";
  EXPECT_EQ(count_event(lines, "query"), static_cast<std::size_t>(kQueries));
  EXPECT_EQ(count_event(lines, "borrow"), static_cast<std::size_t>(kQueries));
  EXPECT_EQ(count_event(lines, "release"), static_cast<std::size_t>(kQueries));
  EXPECT_EQ(count_event(lines, "settings_error"), 1u);
  std::set<std::string> digests;
  for (const auto& l : lines) {
    if (l.value("event", "") != "query") continue;
    digests.insert(l.value("digest", ""));
    EXPECT_EQ(l.value("user", ""), "lambda_writer");
  }
  EXPECT_EQ(digests, std::set<std::string>{"select $1 as v"});
  for (const auto& l : lines)
    EXPECT_EQ(l.dump().find("l1t3ral"), std::string::npos) << l.dump();
}

}  // namespace
}  // namespace writegate::testing
