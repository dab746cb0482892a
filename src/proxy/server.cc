// clang-format off
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.
// clang-format on
#include "proxy/server.h"

#include <malloc.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "common/log_files.h"
#include "common/time.h"
#include "iam/store.h"
#include "pgwire/encode.h"
#include "pgwire/errors.h"
#include "pgwire/frame_decoder.h"
#include "pgwire/parse.h"
#include "proxy/admission.h"
#include "proxy/authenticator.h"
#include "proxy/backend_connector.h"
#include "proxy/client_login.h"
#include "proxy/pool.h"
#include "proxy/pooled_session.h"
#include "proxy/tls_socket.h"

namespace writegate::proxy {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
// What one read from a client takes (TLS records are decrypted into Asio's own buffer first).
constexpr std::size_t kClientReadChunk = 8 * 1024;
// What one pass over a client's bytes may queue for its backend before writing it out.
constexpr std::size_t kMaxPendingToBackend = 256 * 1024;
// How long a backend left by a vanished client may take to roll back before it is closed.
constexpr std::chrono::seconds kCleanupTimeout{10};
// How long the database may take to take a forwarded CancelRequest (connect, send, its close).
constexpr std::chrono::seconds kCancelTimeout{5};

std::string now_iso8601() {
  return format_iso8601_millis(std::chrono::system_clock::now());
}

// One JSON object per line, to a file (mode 0600) or stderr; lines never interleave. With a
// size cap the file rotates by itself (common/log_files.h): the line that would pass the cap
// starts a new file, under the same lock as every write, so a rotated file never grows again.
class JsonLog {
 public:
  Status open(const std::string& path, std::int64_t max_bytes = 0, int keep = 5) {
    if (path.empty()) return {};
    std::lock_guard lock(mutex_);
    path_ = path;
    max_bytes_ = max_bytes;
    keep_ = keep;
    return open_locked();
  }
  // After logrotate moved the file away: the next lines go to a new file of the same name. The
  // old file stays in use when the new one cannot be opened. The new file is made under the
  // lock, so no line reaches the old one once the new one exists.
  Status reopen() {
    if (path_.empty()) return {};
    std::lock_guard lock(mutex_);
    return open_locked();
  }
  ~JsonLog() {
    if (file_) std::fclose(file_);
  }
  // Never throws and never drops a line: bytes that are not UTF-8 (a user name, say) are written
  // as U+FFFD, so a client cannot hide its attempts from the log.
  void write(nlohmann::json line) noexcept try {
    line["time"] = now_iso8601();
    write_line(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  } catch (...) {
    lost();
  }
  // A line already made (one JSON object and its newline; JsonFields makes them).
  void write_line(const std::string& text) noexcept try {
    std::lock_guard lock(mutex_);
    if (file_ && max_bytes_ > 0 && written_ > 0 &&
        written_ + static_cast<std::int64_t>(text.size()) > max_bytes_) {
      // A failed rotation keeps writing to the full file rather than losing lines.
      if (rotate_log_file(path_, keep_).ok()) (void)open_locked();
    }
    FILE* out = file_ ? file_ : stderr;
    std::fwrite(text.data(), 1, text.size(), out);
    std::fflush(out);
    written_ += static_cast<std::int64_t>(text.size());
  } catch (...) {
    lost();
  }

 private:
  // Out of memory while formatting: say so without allocating.
  void lost() noexcept {
    static constexpr std::string_view kLost = "{\"event\":\"log_error\"}\n";
    std::lock_guard lock(mutex_);
    FILE* out = file_ ? file_ : stderr;
    std::fwrite(kLost.data(), 1, kLost.size(), out);
  }

  Status open_locked() {
    auto fd = open_log_file(path_, 0600);
    if (!fd) return fd.error();
    FILE* fresh = ::fdopen(*fd, "a");
    if (!fresh) {
      ::close(*fd);
      return Error::io("cannot open log file " + path_);
    }
    struct stat st {};
    written_ = ::fstat(*fd, &st) == 0 ? static_cast<std::int64_t>(st.st_size) : 0;
    if (file_) std::fclose(file_);
    file_ = fresh;
    return {};
  }

  std::mutex mutex_;
  FILE* file_ = nullptr;
  std::string path_;
  std::int64_t max_bytes_ = 0;
  int keep_ = 5;
  std::int64_t written_ = 0;  // the file's size
};

// One log line made field by field, for the line every connection attempt writes: the same
// JSON as JsonLog::write (keys in the order given, which callers keep sorted as nlohmann's
// objects are; invalid UTF-8 as U+FFFD) without building a JSON tree first.
class JsonFields {
 public:
  JsonFields() { text_.reserve(512); }
  JsonFields& add(std::string_view key, std::string_view value) {
    start(key);
    const bool plain = std::all_of(value.begin(), value.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u >= 0x20 && u < 0x7f && c != '"' && c != '\\';
    });
    if (plain) {
      text_.push_back('"');
      text_.append(value);
      text_.push_back('"');
    } else {
      text_ += nlohmann::json(std::string(value))
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    return *this;
  }
  JsonFields& add_bool(std::string_view key, bool value) {
    start(key);
    text_.append(value ? "true" : "false");
    return *this;
  }
  std::string line() && {
    text_.append("}\n");
    return std::move(text_);
  }

 private:
  void start(std::string_view key) {
    text_.push_back(text_.empty() ? '{' : ',');
    text_.push_back('"');
    text_.append(key);  // keys are ours: plain ASCII
    text_.append("\":");
  }
  std::string text_;
};

// The proxy hands clients keys of its own; a CancelRequest with one is handed to the session
// of that client, on its own worker, which forwards it to the backend it holds at that moment
// with the backend's key (RDS Proxy cannot do this; we can). Between transactions a client has
// no backend and a cancel has nothing to do.
class CancelRegistry {
 public:
  // `cancel` posts the request to the session's worker; it may be called from any thread.
  pgwire::BackendKeyData add(std::function<void()> cancel) {
    std::lock_guard lock(mutex_);
    for (;;) {
      pgwire::BackendKeyData key;
      RAND_bytes(reinterpret_cast<unsigned char*>(&key.process_id), sizeof key.process_id);
      RAND_bytes(reinterpret_cast<unsigned char*>(&key.secret_key), sizeof key.secret_key);
      key.process_id &= 0x7fffffff;
      if (key.process_id == 0) continue;
      if (entries_.emplace(std::pair{key.process_id, key.secret_key}, cancel).second) return key;
    }
  }
  void remove(const pgwire::BackendKeyData& key) {
    std::lock_guard lock(mutex_);
    entries_.erase({key.process_id, key.secret_key});
  }
  // What cancels that client's request; empty for an unknown key.
  std::function<void()> find(std::int32_t pid, std::int32_t secret) {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find({pid, secret});
    if (it == entries_.end()) return {};
    return it->second;
  }

 private:
  std::mutex mutex_;
  std::map<std::pair<std::int32_t, std::int32_t>, std::function<void()>> entries_;
};

}  // namespace

// What every worker shares: the configuration, TLS contexts, the token verifier and its
// threads, the secret source and its thread, the admission caps, cancel keys, log and metrics.
struct ProxyServer::Shared {
  ProxyConfig config;
  ssl::context front_tls{ssl::context::tls_server};
  ssl::context back_tls{ssl::context::tls_client};
  asio::thread_pool verify_pool;
  // Secret fetches (HTTPS to Secrets Manager) on a thread of their own: a slow fetch never
  // holds up token verification.
  asio::thread_pool secrets_pool{1};
  std::unique_ptr<iam::IamStore> store;
  std::unique_ptr<IamAuthenticator> auth;
  std::unique_ptr<SecretSource> secrets;
  CancelRegistry cancels;
  AdmissionControl admission;
  JsonLog log;
  // RDS Proxy's DebugLogging (settings_file, re-read on SIGHUP): per-borrow, per-query and
  // per-release lines, never a value (queries appear as digests, literals as $n).
  std::atomic<bool> debug_logging{false};
  // Set by SIGTERM before any worker hears of it: a connection a worker accepts after it is
  // closed at once, as by a closed listener (each worker closes its own when its drain runs).
  std::atomic<bool> draining{false};
  std::mutex settings_mutex;  // one reload at a time
  Metrics metrics;
  // The cap on database connections holds across the workers' pools.
  std::shared_ptr<PoolBudget> budget = std::make_shared<PoolBudget>();
  int bound_port = 0;
  int admin_bound_port = 0;
  std::vector<ProxyServer::State*> workers;  // set once in create(); each posts to the others

  // Sessions not logged in yet, all workers, oldest first: when an unauthenticated cap is full,
  // a new connection evicts the oldest in that cap's scope (all sources, or its own source), so
  // a flood of idle sockets cannot lock real clients out. The evictor frees the places at once
  // (AdmissionPlaces) and the session's own worker closes it.
  struct Unauthenticated {
    std::string source;
    std::shared_ptr<AdmissionPlaces> places;
    std::function<void()> evict;  // posts the close to the session's worker
  };
  std::mutex unauthenticated_mutex;
  std::map<std::uint64_t, Unauthenticated> unauthenticated;
  std::atomic<std::uint64_t> next_arrival{0};
  bool evict_oldest_unauthenticated(const std::string* source) {
    std::function<void()> evict;
    {
      std::lock_guard lock(unauthenticated_mutex);
      for (auto it = unauthenticated.begin(); it != unauthenticated.end();) {
        if (source && it->second.source != *source) {
          ++it;
          continue;
        }
        Unauthenticated entry = std::move(it->second);
        it = unauthenticated.erase(it);
        if (entry.places->release_if_unauthenticated()) {
          evict = std::move(entry.evict);
          break;
        }
        // It logged in meanwhile: not a candidate.
      }
    }
    if (!evict) return false;
    evict();
    return true;
  }
  void forget_unauthenticated(std::uint64_t arrival) {
    std::lock_guard lock(unauthenticated_mutex);
    unauthenticated.erase(arrival);
  }

  explicit Shared(ProxyConfig c)
      : config(std::move(c)),
        verify_pool(static_cast<std::size_t>(config.verify_threads)),
        admission(AdmissionLimits{
            .max_clients = static_cast<std::size_t>(config.max_client_connections),
            .max_unauthenticated = static_cast<std::size_t>(config.max_unauthenticated_connections),
            .max_unauthenticated_per_source =
                static_cast<std::size_t>(config.max_unauthenticated_per_source)}) {}
};

// One worker: an event loop of its own (one thread), its listener (SO_REUSEPORT: the kernel
// spreads new connections over the workers), its sessions, its share of the pools and its
// timers. Nothing here is touched by another thread; workers talk by posting.
struct ProxyServer::State : std::enable_shared_from_this<ProxyServer::State> {
  std::shared_ptr<Shared> shared;
  int index = 0;
  ProxyConfig& config;
  ssl::context& front_tls;
  ssl::context& back_tls;
  asio::thread_pool& verify_pool;
  asio::thread_pool& secrets_pool;
  std::unique_ptr<IamAuthenticator>& auth;
  std::unique_ptr<SecretSource>& secrets;
  CancelRegistry& cancels;
  AdmissionControl& admission;
  JsonLog& log;
  Metrics& metrics;
  asio::io_context io{1};
  std::unique_ptr<BackendPool> pool;  // made in create(), after the TLS contexts
  tcp::acceptor acceptor{io};
  tcp::acceptor admin_acceptor{io};  // worker 0's only
  // Live sessions, so stop() can close them and the event loop drains (sessions hold the
  // state; leaving them parked in the loop would keep it alive forever). Loop thread only.
  std::map<std::uint64_t, std::function<void()>> closers;
  // The same sessions, asked to finish their transaction and leave (SIGTERM). Loop thread only.
  std::map<std::uint64_t, std::function<void()>> drainers;
  bool draining = false;
  std::unique_ptr<asio::steady_timer> grace_timer;
  std::uint64_t next_session_id = 0;
  bool stopping = false;
  bool running = false;

  State(std::shared_ptr<Shared> s, int worker)
      : shared(std::move(s)),
        index(worker),
        config(shared->config),
        front_tls(shared->front_tls),
        back_tls(shared->back_tls),
        verify_pool(shared->verify_pool),
        secrets_pool(shared->secrets_pool),
        auth(shared->auth),
        secrets(shared->secrets),
        cancels(shared->cancels),
        admission(shared->admission),
        log(shared->log),
        metrics(shared->metrics) {}

  awaitable<void> accept_loop();
  awaitable<void> admin_loop();
  awaitable<void> serve_admin(tcp::socket socket);
  // The pool's view, and (worker 0, for /status) everyone's, each read on its own thread.
  awaitable<std::string> status_json();
  // A client's CancelRequest: handed to the session that owns the key (dropped when none does).
  void forward_cancel(std::int32_t pid, std::int32_t secret);
  // Sends a CancelRequest for this backend to the database and waits until the database has
  // taken it (PostgreSQL closes the connection once it has signalled the backend), within
  // kCancelTimeout. true: taken.
  awaitable<bool> deliver_cancel(pgwire::BackendKeyData backend);
  // Cancel connections in flight, closed by stop_now(). Loop thread only.
  std::set<tcp::socket*> cancel_sockets;
  // Sessions' client TLS connections: every second, those idle since the last sweep give their
  // record buffers back (about half of an idle client's memory). Loop thread only.
  std::map<std::uint64_t, TlsSocket*> client_tls;
  asio::steady_timer buffer_sweep{io};
  static constexpr std::size_t kTrimAfterReleases = 64;  // about 2 MiB of record buffers
  bool buffer_sweep_armed = false;
  void arm_buffer_sweep() {
    if (buffer_sweep_armed || stopping) return;
    buffer_sweep_armed = true;
    buffer_sweep.expires_after(std::chrono::seconds(1));
    buffer_sweep.async_wait([weak = weak_from_this()](error_code ec) {
      auto self = weak.lock();
      if (!self) return;
      self->buffer_sweep_armed = false;
      if (ec) return;
      std::size_t released = 0;
      for (auto& [id, tls] : self->client_tls)
        released += tls->release_buffers_if_idle() ? 1 : 0;
      // The freed buffers lie between live allocations, where the allocator keeps them for
      // reuse: give their pages back too when many clients went idle at once (a few ms at most,
      // at most once a second).
      if (released >= kTrimAfterReleases) malloc_trim(0);
      if (!self->client_tls.empty()) self->arm_buffer_sweep();
    });
  }
  // Closes the listeners, the pool and every session at once.
  void stop_now() {
    stopping = true;
    if (grace_timer) grace_timer->cancel();
    buffer_sweep.cancel();
    pool->shut_down();
    error_code ignored;
    acceptor.close(ignored);
    admin_acceptor.close(ignored);
    for (tcp::socket* socket : cancel_sockets)
      socket->close(ignored);
    auto all = closers;  // a closer may end its session and erase itself
    for (auto& [id, close] : all)
      close();
  }
  // Draining, and this worker's last session has gone.
  void drained() {
    if (grace_timer) grace_timer->cancel();
    buffer_sweep.cancel();
    error_code ignored;
    admin_acceptor.close(ignored);
    log.write({{"event", "drained"}, {"worker", index}});
  }
  // SIGTERM (see ProxyServer::shutdown): on this worker's thread.
  void drain(std::chrono::milliseconds grace) {
    if (stopping || draining) return;
    draining = true;
    error_code ignored;
    acceptor.close(ignored);  // new clients are refused by the kernel
    pool->shut_down();        // idle backends go; borrowed ones when given back
    if (closers.empty()) {
      drained();
      return;
    }
    grace_timer = std::make_unique<asio::steady_timer>(io);
    grace_timer->expires_after(grace);
    grace_timer->async_wait([self = shared_from_this()](error_code ec) {
      if (ec) return;
      self->log.write(
          {{"event", "grace_over"}, {"worker", self->index}, {"sessions", self->closers.size()}});
      self->stop_now();
    });
    auto all = drainers;  // a drainer may end its session and erase itself
    for (auto& [id, drain_one] : all)
      drain_one();
  }
};

namespace {

// One client connection from accept to close.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<ProxyServer::State> state, tcp::socket socket, AdmissionTicket ticket,
          std::string client)
      : state_(std::move(state)),
        socket_(std::move(socket)),
        ticket_(std::move(ticket)),
        deadline_(socket_.get_executor()),
        decoder_(pgwire::FrameDecoder::frontend(decoder_options())),
        login_(ClientLoginSettings{.databases = state_->config.databases}),
        client_(std::move(client)) {}

  ~Session() {
    if (session_id_) {
      state_->client_tls.erase(session_id_);
      state_->closers.erase(session_id_);
      state_->drainers.erase(session_id_);
      state_->shared->forget_unauthenticated(arrival_);
      if (state_->draining && state_->closers.empty()) state_->drained();
    }
    if (registered_) state_->cancels.remove(client_key_);
    --state_->metrics.client_connections;
  }

  awaitable<void> run() {
    session_id_ = ++state_->next_session_id;
    state_->closers.emplace(session_id_, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->close_all();
    });
    state_->drainers.emplace(session_id_, [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->drain();
    });
    arrival_ = ++state_->shared->next_arrival;
    {
      // The eviction runs on this session's worker, whichever worker asks for it.
      auto evict = [worker = std::weak_ptr<ProxyServer::State>(state_), weak = weak_from_this()] {
        auto alive = worker.lock();
        if (!alive) return;
        asio::post(alive->io, [weak] {
          if (auto self = weak.lock()) self->evict();
        });
      };
      std::lock_guard lock(state_->shared->unauthenticated_mutex);
      state_->shared->unauthenticated.emplace(
          arrival_, ProxyServer::Shared::Unauthenticated{client_.substr(0, client_.rfind(':')),
                                                         ticket_.places(), std::move(evict)});
    }
    ++state_->metrics.client_connections;
    ++state_->metrics.client_connections_received;
    login_started_ = std::chrono::steady_clock::now();
    arm_deadline();
    const bool logged_in = co_await login();
    deadline_.cancel();
    if (!logged_in) {
      close_all();
      co_return;
    }
    relaying_ = true;
    last_activity_ = std::chrono::steady_clock::now();
    arm_idle_timer(std::chrono::seconds(state_->config.idle_client_timeout_seconds));
    co_await serve_client();
    co_await goodbye();
    end_client();
    if (idle_closed_) {
      state_->log.write({{"event", "disconnect"},
                         {"client", client_},
                         {"user", user_},
                         {"reason", "idle_client_timeout"}});
    }
  }

  // A CancelRequest with this client's key, on this session's worker: the backend held now (if
  // any) is cancelled. The release of a backend and this look-up run on the same thread, and a
  // backend with a cancel in flight stays out of the pool until the database has taken the
  // cancel, so a cancel can never reach the next client's query on that backend. A cancel
  // between transactions is dropped.
  void cancel_request() {
    if (!attached_) {
      state_->log.write({{"event", "cancel"}, {"client", client_}, {"outcome", "no_query"}});
      return;
    }
    ++attached_->cancels_in_flight;
    asio::co_spawn(socket_.get_executor(), send_cancel(shared_from_this(), attached_),
                   asio::detached);
  }

 private:
  static awaitable<void> send_cancel(std::shared_ptr<Session> self, BackendHandle backend) {
    const bool taken = co_await self->state_->deliver_cancel(backend->key);
    self->state_->log.write({{"event", "cancel"},
                             {"client", self->client_},
                             {"outcome", taken ? "forwarded" : "error"}});
    // In doubt whether (or when) the database takes it: nobody else may get this backend.
    if (!taken) backend->broken = true;
    if (--backend->cancels_in_flight == 0 && backend->release_after_cancels) {
      backend->release_after_cancels = false;
      self->state_->pool->give_back(std::move(backend));
    }
  }

  // Coroutines are free functions taking their arguments by value: GCC 12 mishandles the
  // captures of coroutine lambdas.
  static awaitable<AuthOutcome> authenticate_on_pool(std::shared_ptr<ProxyServer::State> state,
                                                     std::string token, std::string user) {
    co_return state->auth->authenticate(token, user, std::chrono::system_clock::now());
  }

  static pgwire::DecoderOptions decoder_options() {
    pgwire::DecoderOptions options;
    options.limits.max_message = 64 * 1024 * 1024;
    return options;
  }

  void arm_deadline() {
    deadline_.expires_after(std::chrono::seconds(state_->config.auth_timeout_seconds));
    deadline_.async_wait([weak = weak_from_this()](error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) {
        self->timed_out_ = true;
        self->close_all();
      }
    });
  }

  // IdleClientTimeout: a client that has the last word's answer and says nothing more for the
  // timeout is closed, as RDS Proxy does. A client waiting on the database (its bytes were the
  // last to pass) is not idle, however long the query runs.
  void arm_idle_timer(std::chrono::steady_clock::duration after) {
    idle_timer_.expires_after(after);
    idle_timer_.async_wait([weak = weak_from_this()](error_code ec) {
      if (ec) return;
      auto self = weak.lock();
      if (!self) return;
      const auto timeout = std::chrono::seconds(self->state_->config.idle_client_timeout_seconds);
      const auto idle_for = std::chrono::steady_clock::now() - self->last_activity_;
      if (self->waiting_on_database_ || idle_for < timeout) {
        self->arm_idle_timer(self->waiting_on_database_ ? timeout : timeout - idle_for);
        return;
      }
      self->idle_closed_ = true;
      self->close_all();
    });
  }

  void evict() {
    evicted_ = true;
    ticket_.release();
    close_all();
  }

  void close_all() {
    deadline_.cancel();
    idle_timer_.cancel();
    error_code ignored;
    if (tls_) {
      tls_->close();
    } else {
      socket_.close(ignored);
    }
    if (attached_ && attached_->stream) attached_->stream->close();
  }

  // ---- client I/O ----
  awaitable<bool> read_client() {
    // A buffer of the session's (not of this coroutine's frame, which would be allocated at
    // every read).
    if (read_buffer_.empty()) read_buffer_.resize(kClientReadChunk);
    auto buf = asio::buffer(read_buffer_);
    error_code ec;
    std::size_t n = 0;
    if (tls_) {
      const TlsSocket::ReadResult read = co_await tls_->read_some(buf);
      ec = read.ec;
      n = read.bytes;
    } else {
      n = co_await socket_.async_read_some(buf, asio::redirect_error(use_awaitable, ec));
    }
    if (ec || n == 0) {
      client_left_ = !(ec == asio::error::operation_aborted && draining_);
      co_return false;
    }
    decoder_.feed(std::string_view(read_buffer_.data(), n));
    co_return true;
  }

  awaitable<bool> write_client(std::string_view bytes) {
    error_code ec;
    if (tls_) {
      ec = co_await tls_->write(bytes);
    } else {
      co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()),
                                 asio::redirect_error(use_awaitable, ec));
    }
    co_return !ec;
  }

  // The login's next step for what the client sends next: its next frame, its garbage, or its
  // leaving (or being closed: the login's deadline, an eviction).
  awaitable<LoginStep> next_login_step() {
    for (;;) {
      auto decoded = decoder_.next();
      if (!decoded) co_return login_.on_decode_error(decoded.error());
      if (decoded->ready()) {
        co_return login_.on_client_frame(decoded->frame, decoder_.buffered_bytes());
      }
      if (!co_await read_client()) {
        co_return login_.on_client_gone(timed_out_ ? "auth_timeout"
                                        : evicted_ ? "evicted_unauthenticated"
                                                   : "client_closed");
      }
    }
  }

  awaitable<void> send_error(pgwire::Severity severity, std::string_view sqlstate,
                             const std::string& message) {
    auto bytes = pgwire::error_response_bytes(severity, sqlstate, message);
    if (bytes) co_await write_client(*bytes);
  }

  // One line per connection attempt (the busiest line of the log: made without a JSON tree).
  void log_attempt(const std::string& outcome) noexcept try {
    // In words, for people and for the architecture document's Logs Insights queries
    // (`like /new connection/`, `like /authentication failed/`); never holds a token.
    std::string message = "new connection from " + client_;
    if (outcome == "ok") {
      message += " authenticated: user " + user_ + ", database " + database_;
    } else if (auth_failed_) {
      message += " refused: IAM authentication failed for user \"" + user_ + "\" (" + reason_ + ")";
    } else {
      message += " " + outcome + ": " + reason_;
    }
    JsonFields line;
    line.add("client", client_).add("database", database_);
    if (!detail_.empty()) line.add("detail", detail_);
    line.add("event", "connect").add("message", message).add("outcome", outcome);
    if (!principal_.empty()) line.add("principal", principal_);
    line.add("reason", reason_)
        .add("time", now_iso8601())
        .add_bool("tls", tls_ != nullptr)
        .add("user", user_);
    state_->log.write_line(std::move(line).line());
  } catch (...) {
    state_->log.write({{"event", "log_error"}});
  }

  // ---- login: the decisions are ClientLogin's; here the I/O they ask for ----
  awaitable<bool> login() {
    LoginStep step = co_await next_login_step();
    for (;;) {
      if (!step.reason.empty()) reason_ = step.reason;
      if (!step.detail.empty()) detail_ = step.detail;
      user_ = login_.user();
      database_ = login_.database();
      // (No co_await inside a conditional expression: GCC 12 mishandles those.)
      bool written = true;
      if (!step.to_client.empty()) written = co_await write_client(step.to_client);
      switch (step.action) {
        case LoginAction::kRead:
          if (!written) co_return false;
          step = co_await next_login_step();
          break;
        case LoginAction::kStartTls: {
          if (!written) co_return false;
          if (!co_await start_tls()) {
            log_attempt("refused");
            co_return false;
          }
          ++state_->metrics.client_connections_tls;
          login_.on_tls_established();
          step = co_await next_login_step();
          break;
        }
        case LoginAction::kCancel:
          state_->forward_cancel(step.cancel->process_id, step.cancel->secret_key);
          co_return false;
        case LoginAction::kVerifyToken:
          step = co_await verify_token();
          break;
        case LoginAction::kFindPool:
          step = co_await find_pool();
          break;
        case LoginAction::kDone:
          if (!written) {
            reason_ = "client_closed";
            log_attempt("error");
            co_return false;
          }
          ++state_->metrics.client_connections_setup_succeeded;
          log_attempt("ok");
          co_return true;
        case LoginAction::kClose:
          if (step.failed_auth) ++state_->metrics.client_connections_setup_failed_auth;
          auth_failed_ = login_.token_refused();
          if (reason_ == "borrow_timeout") ++state_->metrics.database_connections_borrow_timeouts;
          if (!step.outcome.empty()) log_attempt(step.outcome);
          co_return false;
      }
    }
  }

  // The server side of the TLS handshake; false: failed (reason_ and detail_ say why).
  awaitable<bool> start_tls() {
    auto made = TlsSocket::accept(std::move(socket_), state_->front_tls.native_handle());
    if (!made) {
      reason_ = "tls_handshake_failed";
      detail_ = made.error().message();
      co_return false;
    }
    tls_ = std::move(*made);
    state_->client_tls.emplace(session_id_, tls_.get());
    state_->arm_buffer_sweep();
    const error_code ec = co_await tls_->handshake();
    if (!ec) co_return true;
    reason_ = timed_out_ ? "auth_timeout"
              : evicted_ ? "evicted_unauthenticated"
                         : "tls_handshake_failed";
    detail_ = ec.message();
    co_return false;
  }

  // The token is checked here when the IAM store is as last read (a signature check and a
  // policy evaluation: microseconds), and on the verify pool when the store changed, so that
  // the event loop never waits on a file read. Going to the pool every time cost each login
  // two thread switches (bench/README.md).
  awaitable<LoginStep> verify_token() {
    auto state = state_;
    std::optional<AuthOutcome> current = state->auth->authenticate_if_current(
        login_.token(), login_.user(), std::chrono::system_clock::now());
    AuthOutcome outcome;
    if (current) {
      outcome = std::move(*current);
    } else {
      outcome = co_await asio::co_spawn(state->verify_pool,
                                        authenticate_on_pool(state, login_.token(), login_.user()),
                                        use_awaitable);
    }
    principal_ = outcome.principal_arn;
    bool admitted = true;
    if (outcome.ok) {
      state_->shared->forget_unauthenticated(arrival_);
      admitted = ticket_.authenticated();
    }
    co_return login_.on_token_verified(outcome, admitted);
  }

  // The pool this client's transactions will use; its first client waits for one backend
  // login (which tells the pool what a backend of it reports), the others log in at once.
  awaitable<LoginStep> find_pool() {
    key_.user = login_.user();
    key_.database = login_.database();
    key_.parameters = login_.pool_parameters();
    pool_id_ = key_.id();
    if (!state_->pool->profile(pool_id_)) {
      // Within what is left of the login's own deadline, and without waiting out a database
      // that is down: the client hears why at once.
      const auto until =
          std::min(std::chrono::steady_clock::now() + borrow_timeout(),
                   login_started_ + std::chrono::seconds(state_->config.auth_timeout_seconds) -
                       std::chrono::milliseconds(500));
      auto borrowed = co_await state_->pool->borrow(key_, pool_id_, until, false);
      if (auto* failed = std::get_if<BackendLoginError>(&borrowed)) {
        co_return login_.on_pool_failed(*failed);
      }
      state_->pool->give_back(std::get<BackendHandle>(std::move(borrowed)));
    }
    const auto profile = state_->pool->profile(pool_id_);
    if (!profile) {
      BackendLoginError unavailable;
      unavailable.reason = "pool_unavailable";
      unavailable.sqlstate = pgwire::sqlstate::kCannotConnectNow;
      unavailable.client_message = "the proxy cannot reach the database";
      co_return login_.on_pool_failed(unavailable);
    }
    protocol_.emplace(
        profile->baseline,
        PooledSessionOptions{.pinning = {},
                             .exclude_variable_sets = state_->config.exclude_variable_sets});
    client_key_ = state_->cancels.add(
        [worker = std::weak_ptr<ProxyServer::State>(state_), weak = weak_from_this()] {
          auto alive = worker.lock();
          if (!alive) return;
          asio::post(alive->io, [weak] {
            if (auto self = weak.lock()) self->cancel_request();
          });
        });
    registered_ = true;
    co_return login_.on_pool_ready(profile->greeting, client_key_);
  }

  // ---- transaction pooling ----
  std::chrono::steady_clock::duration borrow_timeout() const {
    return std::chrono::milliseconds(state_->config.connection_borrow_timeout_ms);
  }

  // Client -> database: every complete frame in what was read goes, rewritten where the
  // session says so, in one write to the backend the session holds (borrowed at the first
  // frame that needs one).
  awaitable<void> serve_client() {
    std::string to_backend;
    for (;;) {
      auto decoded = decoder_.next();
      if (!decoded) {
        reason_ = "protocol_violation";
        if (!attached_) {
          co_await send_error(pgwire::Severity::kFatal, pgwire::sqlstate::kProtocolViolation,
                              "invalid message from client: " + decoded.error().message());
        }
        co_return;
      }
      if (!decoded->ready()) {
        if (!to_backend.empty()) {
          if (!co_await flush_to_backend(to_backend)) co_return;
          to_backend.clear();
        }
        if (!co_await read_client()) co_return;
        continue;
      }
      const pgwire::Frame& frame = decoded->frame;
      last_activity_ = std::chrono::steady_clock::now();
      if (frame.type == 'X') {  // Terminate: the backend stays with the pool
        said_goodbye_ = true;
        co_return;
      }
      if (frame.type == 'Q' || frame.type == 'E') ++state_->metrics.query_requests;
      if (skipping_to_sync_) {
        // After a failed borrow: the rest of that request is dropped, as a server does after an
        // error, and its Sync is answered.
        if (frame.type == 'S') {
          skipping_to_sync_ = false;
          if (!co_await write_client(ready_for_query_idle())) co_return;
        }
        continue;
      }
      if (!attached_) {
        const bool ok = co_await attach();
        if (!ok) {
          if (fatal_) co_return;
          if (frame.type == 'Q' || frame.type == 'S') {
            if (!co_await write_client(ready_for_query_idle())) co_return;
          } else {
            skipping_to_sync_ = true;
          }
          continue;
        }
      }
      if (frame.type == 'Q' || frame.type == 'P') debug_statement(frame);
      protocol_->on_client_frame(frame, attached_->statements, to_backend);
      if (auto pin = protocol_->take_new_pin()) on_pinned(*pin);
      // A cap on what one read may queue for the backend.
      if (to_backend.size() >= kMaxPendingToBackend) {
        if (!co_await flush_to_backend(to_backend)) co_return;
        to_backend.clear();
      }
    }
  }

  static std::string ready_for_query_idle() {
    std::string out;
    (void)pgwire::encode_to(pgwire::ReadyForQuery{pgwire::TransactionStatus::kIdle}, out);
    return out;
  }

  // Borrows a backend for the next transaction and starts relaying its answers. false: the
  // client has been told why (an ERROR after a borrow timeout, the session goes on; a FATAL
  // otherwise, fatal_ set).
  awaitable<bool> attach() {
    const auto asked = std::chrono::steady_clock::now();
    auto borrowed = co_await state_->pool->borrow(key_, pool_id_, asked + borrow_timeout(), true);
    if (auto* failed = std::get_if<BackendLoginError>(&borrowed)) {
      state_->log.write({{"event", "borrow"},
                         {"client", client_},
                         {"user", user_},
                         {"outcome", "error"},
                         {"reason", failed->reason},
                         {"detail", failed->detail}});
      if (failed->reason == "borrow_timeout") {
        ++state_->metrics.database_connections_borrow_timeouts;
        co_await send_error(pgwire::Severity::kError, failed->sqlstate, failed->client_message);
        co_return false;
      }
      fatal_ = true;
      if (!failed->forward.empty()) {
        co_await write_client(failed->forward);
      } else {
        co_await send_error(pgwire::Severity::kFatal, failed->sqlstate, failed->client_message);
      }
      co_return false;
    }
    attached_ = std::get<BackendHandle>(std::move(borrowed));
    if (debug_on()) {
      debug_line({{"event", "borrow"},
                  {"outcome", "ok"},
                  {"backend_pid", attached_->key.process_id},
                  {"wait_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - asked)
                                  .count()}});
    }
    protocol_->on_attach();
    asio::co_spawn(socket_.get_executor(), relay_backend(shared_from_this(), attached_),
                   asio::detached);
    co_return true;
  }

  awaitable<bool> flush_to_backend(const std::string& bytes) {
    BackendHandle backend = attached_;
    waiting_on_database_ = true;
    if (!request_sent_at_) request_sent_at_ = std::chrono::steady_clock::now();
    writing_to_backend_ = true;
    const error_code ec = co_await backend->stream->write(bytes);
    writing_to_backend_ = false;
    if (ec) {
      // The reader sees the same dead connection and tells the client.
      backend->broken = true;
      co_return false;
    }
    co_return true;
  }

  // Debug logging (settings_file): a line about this session, never a value. Callers build the
  // line only when debug_on() (a JSON tree per transaction otherwise, for nothing).
  bool debug_on() const { return state_->shared->debug_logging.load(std::memory_order_relaxed); }
  void debug_line(nlohmann::json line) {
    if (!debug_on()) return;
    line["client"] = client_;
    line["user"] = user_;
    state_->log.write(std::move(line));
  }

  // A Query or Parse as a digest (every literal as $n, comments dropped): the statement's
  // shape without its data. Bind values never reach the log.
  void debug_statement(const pgwire::Frame& frame) {
    if (!debug_on()) return;
    std::string sql;
    if (frame.type == 'Q') {
      auto q = pgwire::parse_query(frame.body);
      if (q) sql = std::move(q->sql);
    } else {
      auto p = pgwire::parse_parse(frame.body);
      if (p) sql = std::move(p->query);
    }
    debug_line({{"event", frame.type == 'Q' ? "query" : "parse"},
                {"bytes", sql.size()},
                {"digest", query_digest(sql)}});
  }

  void on_pinned(const PinEvent& pin) {
    ++state_->metrics.database_connections_currently_session_pinned;
    pinned_counted_ = true;
    nlohmann::json line = {{"event", "pin"},
                           {"client", client_},
                           {"user", user_},
                           {"reason", pin.reason},
                           {"message", pin.message}};
    if (!pin.digest.empty()) line["digest"] = pin.digest;
    state_->log.write(std::move(line));
  }

  // Database -> client for one borrowed backend, until it goes back to the pool (ReadyForQuery
  // idle and nothing pinned) or is closed. The only writer to the client while it runs.
  static awaitable<void> relay_backend(std::shared_ptr<Session> self, BackendHandle backend) {
    try {
      co_await self->relay_backend_frames(backend);
    } catch (const std::exception& e) {
      self->state_->log.write(
          {{"event", "internal_error"}, {"where", "relay_backend"}, {"detail", e.what()}});
      backend->broken = true;
      self->detach(backend, false);
      self->close_all();
    }
  }

  awaitable<void> relay_backend_frames(BackendHandle backend) {
    std::vector<char>& buf = backend->read_buffer;
    if (buf.empty()) buf.resize(kReadChunk * 4);  // once per backend, not per transaction
    std::string out;
    for (;;) {
      const auto [ec, n] = co_await backend->stream->read_some(asio::buffer(buf));
      if (ec || n == 0) {
        backend->broken = true;
        const bool told = forwarded_fatal_;
        detach(backend, false);
        if (!client_gone_ && !told) {
          co_await send_error(pgwire::Severity::kFatal, pgwire::sqlstate::kConnectionFailure,
                              "the database connection was lost");
        }
        if (!client_gone_) {
          state_->log.write({{"event", "disconnect"},
                             {"client", client_},
                             {"user", user_},
                             {"reason", "database_connection_lost"}});
        }
        close_all();
        co_return;
      }
      if (request_sent_at_) {
        state_->metrics.query_database_response_latency.observe(
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                  *request_sent_at_));
        request_sent_at_.reset();
      }
      backend->decoder.feed(std::string_view(buf.data(), n));
      out.clear();
      bool ready = false;
      for (;;) {
        auto decoded = backend->decoder.next();
        if (!decoded) {
          backend->broken = true;  // out of sync: nobody may use it again
          detach(backend, false);
          if (!client_gone_) {
            co_await send_error(pgwire::Severity::kFatal, pgwire::sqlstate::kProtocolViolation,
                                "the database sent a malformed message");
          }
          close_all();
          co_return;
        }
        if (!decoded->ready()) break;
        const pgwire::Frame& frame = decoded->frame;
        if (protocol_->on_backend_frame(frame, backend->statements) == BackendVerdict::kForward &&
            !client_gone_) {
          out.append(frame.wire);
          if (frame.type == 'E' && is_fatal(frame.body)) forwarded_fatal_ = true;
        }
        if (frame.type == 'Z') ready = true;
      }
      if (!out.empty() && !client_gone_) {
        last_activity_ = std::chrono::steady_clock::now();
        waiting_on_database_ = false;
        if (!co_await write_client(out)) {
          client_gone_ = true;
          close_client();
        }
      }
      if (protocol_->answers_owed() != 0) request_sent_at_ = std::chrono::steady_clock::now();
      if (client_gone_) {
        // The client left with this backend: roll back what it left open, then give the backend
        // back; a pinned backend (session state) is closed.
        if (protocol_->pinned()) {
          detach(backend, false);
          co_return;
        }
        if (protocol_->releasable() && backend->decoder.buffered_bytes() == 0) {
          detach(backend, true);
          co_return;
        }
        if (ready && protocol_->answers_owed() == 0) {
          std::string cleanup = protocol_->cleanup_messages();
          if (!cleanup.empty()) {
            if (co_await backend->stream->write(cleanup)) {
              backend->broken = true;
              detach(backend, false);
              co_return;
            }
          }
        }
        continue;
      }
      if (ready && protocol_->releasable() && !writing_to_backend_ &&
          backend->decoder.buffered_bytes() == 0 && attached_ == backend) {
        detach(backend, true);
        co_return;
      }
    }
  }

  static bool is_fatal(std::string_view body) {
    auto error = pgwire::parse_error_response(body);
    if (!error) return false;
    const auto severity = error->severity();
    return severity == "FATAL" || severity == "PANIC";
  }

  // The session lets go of its backend: back to the pool (`reuse`) or closed.
  void detach(const BackendHandle& backend, bool reuse) {
    if (attached_ != backend) return;
    if (pinned_counted_) {
      --state_->metrics.database_connections_currently_session_pinned;
      pinned_counted_ = false;
    }
    cleanup_timer_.cancel();
    BackendHandle handle = std::move(attached_);
    attached_.reset();
    if (debug_on()) {
      debug_line({{"event", "release"},
                  {"backend_pid", handle->key.process_id},
                  {"outcome", reuse && !protocol_->pinned() ? "reused" : "closed"}});
    }
    if (reuse && !protocol_->pinned()) {
      if (handle->cancels_in_flight > 0) {
        handle->release_after_cancels = true;  // given back when the database took them
      } else {
        state_->pool->give_back(std::move(handle));
      }
    } else {
      state_->pool->discard(std::move(handle));
    }
    if (draining_ && !client_gone_) stop_reading_client();
  }

  // SIGTERM: a session between transactions leaves now; one in a transaction when it ends
  // (detach). Not yet logged in: closed at once.
  void drain() {
    if (draining_) return;
    draining_ = true;
    if (!relaying_) {
      close_all();
      return;
    }
    if (!attached_) stop_reading_client();
  }

  // The client reader stops (its read is cancelled) and the session says goodbye.
  void stop_reading_client() {
    error_code ignored;
    if (tls_) tls_->cancel();
  }

  // How a session the proxy ends (drain) or the client ends (Terminate) closes, as
  // PostgreSQL's does: a FATAL 57P01 when the server is shutting down, then TLS close_notify
  // (bounded by a second: the client need not answer it). A client that just vanished gets
  // nothing; nor does one whose backend's answers are still being relayed.
  awaitable<void> goodbye() {
    if (!tls_ || attached_ || (client_left_ && !said_goodbye_)) co_return;
    if (draining_ && !said_goodbye_) {
      co_await send_error(pgwire::Severity::kFatal, pgwire::sqlstate::kAdminShutdown,
                          "terminating connection due to administrator command");
      state_->log.write({{"event", "disconnect"},
                         {"client", client_},
                         {"user", user_},
                         {"reason", "proxy_shutdown"}});
    }
    if (tls_->try_close_notify()) co_return;
    asio::steady_timer limit(tls_->socket().get_executor());
    limit.expires_after(std::chrono::seconds(1));
    limit.async_wait([weak = weak_from_this()](error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->close_client();
    });
    co_await tls_->shutdown();
    limit.cancel();
  }

  // The client is gone (it left, was closed, or said Terminate). A backend still held is
  // cleaned up by its reader: rolled back within kCleanupTimeout, or closed.
  void end_client() {
    client_gone_ = true;
    close_client();
    if (!attached_) return;
    if (protocol_->pinned()) {
      // Session state on it: close it; the reader sees that and lets go.
      attached_->stream->close();
      return;
    }
    if (protocol_->answers_owed() == 0 && !writing_to_backend_) {
      auto cleanup = std::make_shared<std::string>(protocol_->cleanup_messages());
      if (!cleanup->empty()) {
        // The buffer and the backend live in the coroutine until the write is done.
        asio::co_spawn(
            socket_.get_executor(),
            [cleanup, backend = attached_]() -> awaitable<void> {
              if (co_await backend->stream->write(*cleanup)) backend->broken = true;
            },
            asio::detached);
      }
    }
    cleanup_timer_.expires_after(kCleanupTimeout);
    // Only while this session still holds it: a timer that had already fired when detach()
    // cancelled it must not touch a backend that is back in the pool, or handed to another
    // worker (its thread).
    cleanup_timer_.async_wait([weak = weak_from_this(),
                               backend = std::weak_ptr<PooledBackend>(attached_)](error_code ec) {
      if (ec) return;
      auto self = weak.lock();
      auto held = backend.lock();
      if (!self || !held || self->attached_ != held) return;
      held->broken = true;
      held->stream->close();
    });
  }

  void close_client() {
    deadline_.cancel();
    idle_timer_.cancel();
    error_code ignored;
    if (tls_) {
      tls_->close();
    } else {
      socket_.close(ignored);
    }
  }

  std::shared_ptr<ProxyServer::State> state_;
  tcp::socket socket_;
  AdmissionTicket ticket_;
  std::unique_ptr<TlsSocket> tls_;
  PoolKey key_;
  std::string pool_id_;  // key_.id(), made once
  std::optional<PooledSession> protocol_;
  BackendHandle attached_;
  asio::steady_timer cleanup_timer_{socket_.get_executor()};
  std::optional<std::chrono::steady_clock::time_point> request_sent_at_;
  std::chrono::steady_clock::time_point login_started_;
  bool writing_to_backend_ = false;
  bool client_gone_ = false;
  bool client_left_ = false;   // the client's side ended the connection (EOF, reset)
  bool said_goodbye_ = false;  // the client sent Terminate
  bool draining_ = false;
  bool skipping_to_sync_ = false;
  bool fatal_ = false;
  bool forwarded_fatal_ = false;
  bool pinned_counted_ = false;
  asio::steady_timer deadline_;
  asio::steady_timer idle_timer_{socket_.get_executor()};
  std::chrono::steady_clock::time_point last_activity_;
  bool waiting_on_database_ = false;
  bool idle_closed_ = false;
  pgwire::FrameDecoder decoder_;
  ClientLogin login_;
  std::vector<char> read_buffer_;
  pgwire::BackendKeyData client_key_;
  bool registered_ = false;
  std::uint64_t session_id_ = 0;
  std::uint64_t arrival_ = 0;  // in the shared registry of sessions not logged in yet
  bool timed_out_ = false;
  bool evicted_ = false;
  bool relaying_ = false;
  std::string client_;
  std::string user_;
  std::string database_;
  std::string reason_;
  std::string detail_;
  bool auth_failed_ = false;  // the IAM token was refused (log_attempt says so in words)
  std::string principal_;
};

// Nothing a session throws may end the loop or go unlogged.
awaitable<void> run_session(std::shared_ptr<ProxyServer::State> state,
                            std::shared_ptr<Session> session) {
  try {
    co_await session->run();
  } catch (const std::exception& e) {
    state->log.write({{"event", "internal_error"}, {"where", "session"}, {"detail", e.what()}});
  }
}

}  // namespace

awaitable<void> ProxyServer::State::accept_loop() {
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open() || stopping) co_return;
      continue;
    }
    if (stopping) co_return;
    if (shared->draining.load()) {
      socket.close(ec);  // accepted before this worker closed its listener
      continue;
    }
    const auto peer = socket.remote_endpoint(ec);
    if (ec) continue;  // already gone
    const std::string source = peer.address().to_string();
    const std::string client = source + ":" + std::to_string(peer.port());
    auto ticket = admission.admit(source);
    if (!ticket && (ticket.error().subcode() == "too_many_unauthenticated" ||
                    ticket.error().subcode() == "too_many_from_source")) {
      const bool per_source = ticket.error().subcode() == "too_many_from_source";
      if (shared->evict_oldest_unauthenticated(per_source ? &source : nullptr)) {
        ++metrics.client_connections_refused_by_caps;
        ticket = admission.admit(source);
      }
    }
    if (!ticket) {
      // Over a cap: a proper FATAL, then close; the log says which cap.
      ++metrics.client_connections_received;
      ++metrics.client_connections_refused_by_caps;
      auto bytes = pgwire::error_response_bytes(pgwire::Severity::kFatal,
                                                pgwire::sqlstate::kTooManyConnections,
                                                ticket.error().message());
      if (bytes) {
        socket.non_blocking(true, ec);
        asio::write(socket, asio::buffer(*bytes), ec);
      }
      socket.close(ec);
      log.write({{"event", "connect"},
                 {"client", client},
                 {"outcome", "refused"},
                 {"reason", ticket.error().subcode()},
                 {"message", "new connection from " + client +
                                 " refused: " + std::string(ticket.error().subcode())}});
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto session = std::make_shared<Session>(shared_from_this(), std::move(socket),
                                             std::move(*ticket), client);
    asio::co_spawn(io, run_session(shared_from_this(), std::move(session)), asio::detached);
  }
}

void ProxyServer::State::forward_cancel(std::int32_t pid, std::int32_t secret) {
  const auto cancel = cancels.find(pid, secret);
  if (!cancel) return;  // unknown keys are ignored, as PostgreSQL does
  cancel();
}

awaitable<bool> ProxyServer::State::deliver_cancel(pgwire::BackendKeyData backend) {
  auto self = shared_from_this();
  auto held = std::make_shared<tcp::socket>(io);
  tcp::socket& socket = *held;
  cancel_sockets.insert(held.get());
  asio::steady_timer limit(io);
  limit.expires_after(kCancelTimeout);
  limit.async_wait([weak = std::weak_ptr<tcp::socket>(held)](error_code ec) {
    if (ec) return;
    if (auto alive = weak.lock()) {
      error_code ignored;
      alive->close(ignored);
    }
  });
  error_code ec;
  bool taken = false;
  tcp::resolver resolver(io);
  const auto endpoints =
      co_await resolver.async_resolve(config.backend.host, std::to_string(config.backend.port),
                                      asio::redirect_error(use_awaitable, ec));
  if (!ec && !stopping) {
    co_await asio::async_connect(socket, endpoints, asio::redirect_error(use_awaitable, ec));
  }
  auto bytes = pgwire::encode(pgwire::CancelRequest{backend.process_id, backend.secret_key});
  if (!ec && bytes && socket.is_open()) {
    co_await asio::async_write(socket, asio::buffer(*bytes),
                               asio::redirect_error(use_awaitable, ec));
    if (!ec) {
      // PostgreSQL answers nothing: it signals the backend, then closes.
      char byte = 0;
      co_await socket.async_read_some(asio::buffer(&byte, 1),
                                      asio::redirect_error(use_awaitable, ec));
      taken = ec == asio::error::eof;
    }
  }
  limit.cancel();
  cancel_sockets.erase(held.get());
  co_return taken;
}

// The admin listener: GET /metrics (Prometheus text) and GET /status (JSON), one request per
// connection, each within five seconds.
awaitable<void> ProxyServer::State::admin_loop() {
  for (;;) {
    error_code ec;
    tcp::socket socket =
        co_await admin_acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !admin_acceptor.is_open() || stopping) co_return;
      continue;
    }
    asio::co_spawn(io, serve_admin(std::move(socket)), asio::detached);
  }
}

awaitable<void> ProxyServer::State::serve_admin(tcp::socket socket) {
  auto self = shared_from_this();
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(5));
  beast::flat_buffer buffer(16 * 1024);
  http::request_parser<http::empty_body> parser;
  parser.header_limit(8 * 1024);
  error_code ec;
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return;
  const auto& request = parser.get();
  http::response<http::string_body> response;
  response.version(request.version());
  response.keep_alive(false);
  if (request.method() != http::verb::get) {
    response.result(http::status::method_not_allowed);
    response.set(http::field::allow, "GET");
    response.body() = "only GET\n";
  } else if (request.target() == "/metrics") {
    response.result(http::status::ok);
    response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    response.body() = render_prometheus(metrics, {.proxy = config.proxy_name});
  } else if (request.target() == "/status") {
    response.result(http::status::ok);
    response.set(http::field::content_type, "application/json");
    response.body() = co_await status_json();
  } else {
    response.result(http::status::not_found);
    response.body() = "not found: try /metrics or /status\n";
  }
  response.prepare_payload();
  co_await http::async_write(stream, response, asio::redirect_error(use_awaitable, ec));
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

namespace {

awaitable<std::string> pool_status_on(ProxyServer::State* worker);

// A worker's pool, and its clients (TLS sessions). On the worker's own thread.
std::string worker_status_json(ProxyServer::State* worker) {
  auto status = nlohmann::json::parse(worker->pool->status_json(), nullptr, false);
  status["clients"] = worker->client_tls.size();
  return status.dump();
}

}  // namespace

awaitable<std::string> ProxyServer::State::status_json() {
  const auto counts = admission.counts();
  const auto& limits = admission.limits();
  nlohmann::json pools = nlohmann::json::array();
  for (ProxyServer::State* worker : shared->workers) {
    // Each worker's pool is read on that worker's own thread. (No co_await inside a
    // conditional expression: GCC 12 destroys its temporaries twice.)
    std::string text;
    if (worker == this) {
      text = worker_status_json(this);
    } else {
      auto read = pool_status_on(worker);
      text = co_await asio::co_spawn(worker->io, std::move(read), use_awaitable);
    }
    auto one = nlohmann::json::parse(text, nullptr, false);
    one["worker"] = worker->index;
    pools.push_back(std::move(one));
  }
  nlohmann::json status = {
      {"proxy", config.proxy_name},
      {"resource_id", config.resource_id},
      {"mode", "transaction"},
      {"workers", shared->workers.size()},
      {"clients", {{"connected", counts.clients}, {"logging_in", counts.unauthenticated}}},
      {"limits",
       {{"max_client_connections", limits.max_clients},
        {"max_unauthenticated_connections", limits.max_unauthenticated},
        {"max_unauthenticated_per_source", limits.max_unauthenticated_per_source}}},
      {"database_connections", metrics.database_connections.load()},
      {"database_connections_borrowed", metrics.database_connections_borrowed.load()},
      {"pinned_sessions", metrics.database_connections_currently_session_pinned.load()},
      {"pool_capacity", pool->capacity()},
      {"pools", pools},
      {"databases", config.databases},
      {"backend", config.backend.host + ":" + std::to_string(config.backend.port)}};
  co_return status.dump(2) + "\n";
}

namespace {

awaitable<std::string> pool_status_on(ProxyServer::State* worker) {
  co_return worker_status_json(worker);
}

}  // namespace

namespace {

struct PasswordAnswer {
  std::string password;
  std::optional<Error> error;
};

// Runs on the secrets thread.
awaitable<PasswordAnswer> password_on_thread(ProxyServer::State* state, std::string user,
                                             bool fresh) {
  if (fresh) state->secrets->invalidate(user);
  auto found = state->secrets->password_for(user);
  if (!found) co_return PasswordAnswer{{}, found.error()};
  co_return PasswordAnswer{std::move(*found), std::nullopt};
}

// The event loop only waits for the answer.
awaitable<Result<std::string>> fetch_password(ProxyServer::State* state, std::string user,
                                              bool fresh) {
  PasswordAnswer answer = co_await asio::co_spawn(
      state->secrets_pool, password_on_thread(state, std::move(user), fresh), use_awaitable);
  if (answer.error) co_return *answer.error;
  co_return std::move(answer.password);
}

}  // namespace

ProxyServer::ProxyServer(std::shared_ptr<Shared> shared,
                         std::vector<std::shared_ptr<State>> workers)
    : shared_(std::move(shared)), workers_(std::move(workers)) {}

ProxyServer::~ProxyServer() {
  stop();
  // Drain what is left (run() was never called, or returned): every session ends and lets go
  // of its worker before the worker goes.
  for (auto& worker : workers_) {
    if (!worker->running) {
      worker->io.restart();
      worker->io.run();
    }
  }
  shared_->verify_pool.join();
  shared_->secrets_pool.join();
}

Result<std::unique_ptr<ProxyServer>> ProxyServer::create(ProxyConfig config,
                                                         std::unique_ptr<SecretSource> secrets) {
  auto state = std::make_shared<Shared>(std::move(config));
  ProxyConfig& c = state->config;
  state->secrets = std::move(secrets);
  WG_RETURN_IF_ERROR(state->log.open(c.log_file, c.log_max_bytes, c.log_keep));

  WG_ASSIGN_OR_RETURN(state->store, iam::IamStore::open(c.state_dir));
  if (c.resource_id.empty()) c.resource_id = state->store->settings().proxy_resource_id;
  if (c.resource_id.empty()) {
    return Error::failed_precondition(
        "the proxy has no resource id: set proxy.resource_id in the spec or run `writegate iam "
        "seed`");
  }

  error_code ec;
  state->front_tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                               ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                               ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  state->front_tls.use_certificate_chain_file(c.tls_cert_file, ec);
  if (ec)
    return Error::invalid_argument("proxy TLS certificate " + c.tls_cert_file + ": " +
                                   ec.message());
  state->front_tls.use_private_key_file(c.tls_key_file, ssl::context::pem, ec);
  if (ec) return Error::invalid_argument("proxy TLS key " + c.tls_key_file + ": " + ec.message());
  SSL_CTX_set_min_proto_version(state->front_tls.native_handle(), TLS1_2_VERSION);
  // No session tickets and no session cache, as PostgreSQL's server does: libpq never resumes a
  // session, so a ticket sent after each handshake and each cached session would be unused.
  // SSL_OP_NO_TICKET alone still has TLS 1.3 send two stateful tickets: num_tickets 0 sends none
  // (saving each login two tickets' work on both sides).
  SSL_CTX_set_options(state->front_tls.native_handle(), SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(state->front_tls.native_handle(), 0);
  SSL_CTX_set_session_cache_mode(state->front_tls.native_handle(), SSL_SESS_CACHE_OFF);
  // OpenSSL takes what was received in one call, not a record header and then its body (with
  // a socket BIO this saved about a third of the read calls per login; TlsSocket now hands it
  // the bytes Asio read).
  SSL_CTX_set_read_ahead(state->front_tls.native_handle(), 1);
  // No SSL_MODE_RELEASE_BUFFERS: it frees and makes the record buffers again at every record
  // (two 17 KB malloc/free pairs per message relayed). An idle client still holds none: each
  // worker frees those of clients idle for a second (State::sweep_client_buffers).

  state->back_tls.set_verify_mode(ssl::verify_peer);
  state->back_tls.load_verify_file(c.backend.ca_file, ec);
  if (ec) return Error::invalid_argument("backend CA " + c.backend.ca_file + ": " + ec.message());
  SSL_CTX_set_min_proto_version(state->back_tls.native_handle(), TLS1_2_VERSION);

  // The workers: one event loop each, each with a listener on the same address and port
  // (SO_REUSEPORT), the first one choosing the port when the config says 0.
  const int worker_count =
      c.workers > 0 ? c.workers
                    : std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 8);
  std::vector<std::shared_ptr<State>> workers;
  for (int i = 0; i < worker_count; ++i) {
    workers.push_back(std::make_shared<State>(state, i));
  }
  for (auto& worker : workers) {
    const int port = worker->index == 0 ? c.listen_port : state->bound_port;
    tcp::endpoint endpoint(asio::ip::make_address(c.listen_host, ec),
                           static_cast<unsigned short>(port));
    if (ec) return Error::invalid_argument("listen address " + c.listen_host + ": " + ec.message());
    auto& acceptor = worker->acceptor;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) {
      const int one = 1;
      if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        ec = error_code(errno, boost::system::system_category());
      }
    }
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Error::unavailable("cannot listen on " + c.listen_host + ":" + std::to_string(port) +
                                ": " + ec.message());
    }
    if (worker->index == 0) state->bound_port = acceptor.local_endpoint().port();
  }
  if (!c.admin_host.empty()) {
    tcp::endpoint admin(asio::ip::make_address(c.admin_host, ec),
                        static_cast<unsigned short>(c.admin_port));
    if (ec) return Error::invalid_argument("admin_listen " + c.admin_host + ": " + ec.message());
    auto& admin_acceptor = workers[0]->admin_acceptor;
    admin_acceptor.open(admin.protocol(), ec);
    if (!ec) admin_acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) admin_acceptor.bind(admin, ec);
    if (!ec) admin_acceptor.listen(64, ec);
    if (ec) {
      return Error::unavailable("cannot listen on " + c.admin_host + ":" +
                                std::to_string(c.admin_port) + " (admin_listen): " + ec.message());
    }
    state->admin_bound_port = admin_acceptor.local_endpoint().port();
  }
  if (c.endpoint_port == 0) c.endpoint_port = state->bound_port;

  // Each worker's pool; the password source: the secret, fetched on the secrets thread.
  state->budget->workers = worker_count;
  for (auto& worker : workers) {
    ProxyServer::State* raw = worker.get();
    worker->pool = std::make_unique<BackendPool>(
        worker->io.get_executor(), state->back_tls, c.backend,
        PoolSettings{.max_connections_percent = c.max_connections_percent,
                     .max_idle_connections_percent = c.max_idle_connections_percent,
                     .max_database_connections = c.max_database_connections,
                     .init_query = c.init_query,
                     .max_prepared_statements = static_cast<std::size_t>(c.max_prepared_statements),
                     .idle_timeout = std::chrono::milliseconds(c.pool_idle_timeout_ms)},
        state->metrics,
        [raw](std::string user, bool fresh) { return fetch_password(raw, std::move(user), fresh); },
        state->budget, worker->index);
    state->workers.push_back(raw);
  }
  // A worker whose borrowers wait while the budget is spent asks the others for room (each on its
  // own thread): an idle backend of the pool, handed over, or one of another pool closed.
  state->budget->trim_elsewhere = [shared = std::weak_ptr<Shared>(state)](
                                      int from, const std::string& pool_id) {
    auto alive = shared.lock();
    if (!alive) return;
    for (ProxyServer::State* worker : alive->workers) {
      if (worker->index == from) continue;
      asio::post(worker->io, [worker, from, pool_id] { worker->pool->make_room(from, pool_id); });
    }
  };
  // A backend moves to another worker: adopted there, on its thread.
  state->budget->hand_over = [shared = std::weak_ptr<Shared>(state)](
                                 int to, BackendHandle backend,
                                 std::shared_ptr<const BackendPool::Profile> profile) {
    auto alive = shared.lock();
    if (!alive) return;  // stopping: the backend's descriptor is closed with it
    for (ProxyServer::State* worker : alive->workers) {
      if (worker->index != to) continue;
      asio::post(worker->io,
                 [worker, backend = std::move(backend), profile = std::move(profile)]() mutable {
                   worker->pool->adopt(std::move(backend), std::move(profile));
                 });
      return;
    }
  };
  state->auth = std::make_unique<IamAuthenticator>(
      *state->store,
      IamAuthenticator::Options{.region = c.region,
                                .account_id = c.account_id,
                                .resource_id = c.resource_id,
                                .endpoint_hosts = c.endpoint_names,
                                .port = static_cast<std::uint16_t>(c.endpoint_port)});
  // Listening from here on (clients queue in the backlog until run()): said before anyone can
  // read the port, so the line is the log's first.
  state->log.write({{"event", "start"},
                    {"listen", c.listen_host + ":" + std::to_string(state->bound_port)},
                    {"resource_id", c.resource_id},
                    {"secrets", state->secrets->describe()}});
  auto server = std::unique_ptr<ProxyServer>(new ProxyServer(std::move(state), std::move(workers)));
  WG_RETURN_IF_ERROR(server->reload_settings());
  return server;
}

int ProxyServer::port() const {
  return shared_->bound_port;
}
int ProxyServer::admin_port() const {
  return shared_->admin_bound_port;
}
const ProxyConfig& ProxyServer::config() const {
  return shared_->config;
}
const Metrics& ProxyServer::metrics() const {
  return shared_->metrics;
}
int ProxyServer::workers() const {
  return static_cast<int>(workers_.size());
}

namespace {

void run_worker(const std::shared_ptr<ProxyServer::State>& worker) {
  asio::co_spawn(worker->io, worker->accept_loop(), [worker](std::exception_ptr failure) {
    if (!failure) return;
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      worker->log.write({{"event", "internal_error"}, {"where", "accept"}, {"detail", e.what()}});
    }
  });
  if (worker->admin_acceptor.is_open()) {
    asio::co_spawn(worker->io, worker->admin_loop(), asio::detached);
  }
  worker->running = true;
  worker->io.run();
  worker->running = false;
}

}  // namespace

void ProxyServer::run() {
  // Worker 0 on the calling thread, the others on threads of their own.
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers_.size(); ++i) {
    threads.emplace_back([worker = workers_[i]] { run_worker(worker); });
  }
  run_worker(workers_[0]);
  for (auto& thread : threads)
    thread.join();
}

Status ProxyServer::reload_settings() {
  const std::string& path = shared_->config.settings_file;
  if (path.empty()) return {};
  std::lock_guard lock(shared_->settings_mutex);
  bool debug = false;
  std::ifstream in(path, std::ios::binary);
  if (in) {
    constexpr std::size_t kMaxSettings = 4096;
    std::string text(kMaxSettings + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    const auto doc =
        text.size() > kMaxSettings ? nlohmann::json() : nlohmann::json::parse(text, nullptr, false);
    const bool valid =
        doc.is_object() && std::all_of(doc.items().begin(), doc.items().end(), [](const auto& kv) {
          return kv.key() == "debug_logging" && kv.value().is_boolean();
        });
    if (!valid) {
      shared_->log.write({{"event", "settings_error"}, {"file", path}});
      return Error::invalid_argument(
          "settings file " + path +
          " is not a JSON object {\"debug_logging\": true|false} of at most 4 KiB; the "
          "settings stay as they were");
    }
    debug = doc.value("debug_logging", false);
  }
  if (shared_->debug_logging.exchange(debug) != debug) {
    shared_->log.write({{"event", "debug_logging"}, {"enabled", debug}});
  }
  return {};
}

bool ProxyServer::debug_logging() const {
  return shared_->debug_logging.load();
}

Status ProxyServer::reopen_log() {
  auto reopened = shared_->log.reopen();
  shared_->log.write({{"event", "log_reopened"}, {"ok", reopened.ok()}});
  return reopened;
}

void ProxyServer::stop() {
  // Close the listeners and every session; the loops then run out of work and run() returns.
  for (auto& worker : workers_) {
    asio::post(worker->io, [worker] { worker->stop_now(); });
  }
}

void ProxyServer::shutdown(std::chrono::milliseconds grace) {
  shared_->draining = true;
  shared_->log.write({{"event", "draining"}, {"grace_ms", grace.count()}});
  for (auto& worker : workers_) {
    asio::post(worker->io, [worker, grace] { worker->drain(grace); });
  }
}

}  // namespace writegate::proxy
