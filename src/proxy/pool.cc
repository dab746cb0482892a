// clang-format off
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.
// clang-format on
// GCC 12 warns that Boost 1.74's coroutine frames are freed by a mismatched operator delete: a
// false positive on class-specific new/delete pairs in coroutines (GCC bug 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "proxy/pool.h"

#include <poll.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "pgwire/encode.h"
#include "pgwire/errors.h"
#include "pgwire/parse.h"

namespace writegate::proxy {
namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;

bool is_transient(const BackendLoginError& error) {
  if (error.reason == "backend_unreachable" || error.reason == "backend_closed" ||
      error.reason == "backend_timeout") {
    return true;
  }
  // The database is starting up or shutting down, or out of connection slots.
  return error.reason == "backend_login_failed" &&
         (error.sqlstate == "57P03" || error.sqlstate == "53300" || error.sqlstate == "57P01" ||
          error.sqlstate == "57P02");
}

BackendLoginError borrow_timeout() {
  return BackendLoginError{.reason = "borrow_timeout",
                           .detail = "no database connection became free in time",
                           .sqlstate = std::string(pgwire::sqlstate::kTooManyConnections),
                           .client_message = "Timed-out waiting to acquire database connection.",
                           .forward = {},
                           .password_refused = false};
}

BackendLoginError shutting_down() {
  return BackendLoginError{.reason = "shutting_down",
                           .detail = "the proxy is shutting down",
                           .sqlstate = std::string(pgwire::sqlstate::kAdminShutdown),
                           .client_message = "the proxy is shutting down",
                           .forward = {},
                           .password_refused = false};
}

}  // namespace

std::string PoolKey::id() const {
  std::string out = user;
  out.push_back('\x1f');
  out += database;
  for (const auto& [name, value] : parameters) {
    out.push_back('\x1f');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

pgwire::DecoderOptions PooledBackend::relay_decoder_options() {
  pgwire::DecoderOptions options;
  options.validate_bodies = false;  // the server is trusted to frame its own messages
  options.limits.max_message = 1024 * 1024 * 1024 - 1;
  return options;
}

bool PooledBackend::reusable() const {
  return !broken && stream && decoder.buffered_bytes() == 0 && stream->socket().is_open() &&
         !stream->holds_unread();
}

bool PooledBackend::healthy() const {
  if (!reusable()) return false;
  pollfd fd{.fd = stream->socket().native_handle(), .events = POLLIN | POLLRDHUP, .revents = 0};
  // Idle backends have nothing to say: anything readable (a FATAL before a restart, EOF, a
  // TLS alert) or a hang-up means it must not serve anyone.
  return ::poll(&fd, 1, 0) == 0;
}

struct BackendPool::Waiter {
  std::string pool_id;
  asio::steady_timer timer;
  BackendHandle handed;
};

BackendPool::BackendPool(asio::any_io_executor executor, asio::ssl::context& tls,
                         const BackendConfig& backend, PoolSettings settings, Metrics& metrics,
                         PasswordSource passwords, std::shared_ptr<PoolBudget> budget, int worker)
    : executor_(std::move(executor)),
      tls_(tls),
      backend_(backend),
      settings_(std::move(settings)),
      metrics_(metrics),
      passwords_(std::move(passwords)),
      budget_(std::move(budget)),
      worker_(worker),
      janitor_(executor_) {}

BackendPool::~BackendPool() {
  shut_down();
}

int BackendPool::capacity() const {
  if (settings_.max_database_connections > 0) return settings_.max_database_connections;
  // Until the first backend has said how many connections the database takes, one at a time.
  const int database_max = budget_->max_connections.load();
  if (database_max <= 0) return 1;
  return std::max(1, database_max * settings_.max_connections_percent / 100);
}

// This worker's share of the idle cap.
int BackendPool::max_idle() const {
  if (settings_.max_connections_percent <= 0) return capacity();
  const int all = std::max(
      1, capacity() * settings_.max_idle_connections_percent / settings_.max_connections_percent);
  return std::max(1, all / std::max(1, budget_->workers));
}

bool BackendPool::try_reserve() {
  int now = budget_->reserved.load();
  while (now < capacity()) {
    if (budget_->reserved.compare_exchange_weak(now, now + 1)) return true;
  }
  return false;
}

void BackendPool::unreserve() {
  --budget_->reserved;
}

void BackendPool::make_room(int for_worker, const std::string& pool_id) {
  if (shut_down_) return;
  // Handed over rather than closed: a new backend costs the database a process, a TLS
  // handshake and a SCRAM exchange, and then runs on cold caches (select-c256 opened 16-39
  // backends per run this way, its PostgreSQL CPU per transaction twice PgBouncer's).
  // The one idle the longest (this worker's next transaction takes the most recent).
  if (const auto it = pools_.find(pool_id);
      it != pools_.end() && !it->second.idle.empty() &&
      Clock::now() - it->second.idle.front()->idle_since >= kLendAfter) {
    BackendHandle backend = std::move(it->second.idle.front());
    it->second.idle.pop_front();
    --idle_count_;
    lend(std::move(backend), for_worker);
    return;
  }
  close_one_idle_elsewhere({}, kLendAfter);
}

std::shared_ptr<const BackendPool::Profile> BackendPool::profile(const std::string& pool_id) const {
  const auto it = pools_.find(pool_id);
  return it == pools_.end() ? nullptr : it->second.profile;
}

awaitable<BackendPool::Borrowed> BackendPool::borrow(const PoolKey& key, const std::string& pool_id,
                                                     Clock::time_point deadline, bool retry) {
  const auto started = Clock::now();
  auto backoff = std::chrono::milliseconds(100);
  bool first_in_line = false;  // looked again as the first in line: goes back to the front
  for (;;) {
    if (shut_down_) co_return shutting_down();
    // 1. An idle backend of this pool, the most recently used first (warm caches).
    auto& pool = pools_[pool_id];
    while (!pool.idle.empty()) {
      BackendHandle backend = std::move(pool.idle.back());
      pool.idle.pop_back();
      --idle_count_;
      if (!backend->healthy()) {
        close(std::move(backend));
        continue;
      }
      ++metrics_.database_connections_borrowed;
      metrics_.database_connections_borrow_latency.observe(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started));
      co_return backend;
    }
    // 2. Room for a new one (unless another worker's borrowers wait for their share of it).
    if (worker_short_of_share(1) < 0 && try_reserve()) {
      ++opening_;
      publish_counts();
      Borrowed opened = co_await open_backend(key, deadline);
      --opening_;
      publish_counts();
      if (auto* backend = std::get_if<BackendHandle>(&opened)) {
        ++open_;
        publish_counts();
        ++metrics_.database_connections;
        ++metrics_.database_connections_borrowed;
        metrics_.database_connections_borrow_latency.observe(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started));
        // The first login may have told the pool it is bigger than one connection.
        if (budget_->max_connections.load() > 0) {
          for (int i = 0; i < capacity() && !waiters_.empty(); ++i)
            wake_first_waiter();
        }
        co_return std::move(*backend);
      }
      unreserve();
      wake_first_waiter();  // the slot this attempt held is free again
      auto& failed = std::get<BackendLoginError>(opened);
      if (!retry || !is_transient(failed) || shut_down_) co_return std::move(failed);
      const auto now = Clock::now();
      if (now >= deadline) co_return borrow_timeout();
      asio::steady_timer pause(executor_);
      pause.expires_at(std::min(deadline, now + backoff));
      error_code ignored;
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ignored));
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
      continue;
    }
    // 3. An idle backend of another pool makes room, on this worker or (asked) another: asked
    // by the first in line only (each borrower asking would post to every other worker at
    // every borrow that waits).
    if (close_one_idle_elsewhere(pool_id)) continue;
    if (budget_->workers > 1 && budget_->trim_elsewhere && (waiters_.empty() || first_in_line)) {
      budget_->trim_elsewhere(worker_, pool_id);
    }
    // 4. Wait in line: give_back() hands a backend over, or a closed one makes room. Room made
    // on another worker is not announced here: with several workers, the first in line looks
    // again every 20 ms. Everyone keeps their place meanwhile (those who looked again and
    // found nothing go back to the front), so backends go out in the order borrowers came.
    if (Clock::now() >= deadline) co_return borrow_timeout();
    Waiter waiter{.pool_id = pool_id, .timer = asio::steady_timer(executor_), .handed = {}};
    if (first_in_line) {
      waiters_.push_front(&waiter);
    } else {
      waiters_.push_back(&waiter);
    }
    publish_counts();
    first_in_line = false;
    for (;;) {
      waiter.timer.expires_at(budget_->workers > 1
                                  ? std::min(deadline, Clock::now() + std::chrono::milliseconds(20))
                                  : deadline);
      error_code ec;
      co_await waiter.timer.async_wait(asio::redirect_error(use_awaitable, ec));
      if (waiter.handed || shut_down_ || Clock::now() >= deadline) break;
      // Woken because room was made (cancelled), or the 20 ms look: the first in line looks.
      if (first_waiter() == &waiter) {
        first_in_line = true;
        break;
      }
    }
    std::erase(waiters_, &waiter);
    publish_counts();
    if (waiter.handed && !waiter.handed->healthy()) {
      // Handed over as it came back; checked now that it is lent (it may have died since).
      close(std::move(waiter.handed));
      continue;
    }
    if (waiter.handed) {
      ++metrics_.database_connections_borrowed;  // handed over without going idle
      metrics_.database_connections_borrow_latency.observe(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started));
      co_return std::move(waiter.handed);
    }
    if (!shut_down_ && Clock::now() >= deadline) co_return borrow_timeout();
  }
}

awaitable<BackendPool::Borrowed> BackendPool::open_backend(const PoolKey& key,
                                                           Clock::time_point deadline) {
  (void)deadline;  // the connector has its own deadline (backend.connect_timeout)
  ++metrics_.database_connection_requests;
  bool fresh = false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto password = co_await passwords_(key.user, fresh);
    if (!password) {
      ++metrics_.database_connection_failures;
      co_return BackendLoginError{.reason = "secret_unavailable",
                                  .detail = password.error().message(),
                                  .sqlstate = std::string(pgwire::sqlstate::kCannotConnectNow),
                                  .client_message =
                                      "the proxy could not get the database credentials of "
                                      "user \"" +
                                      key.user + "\"",
                                  .forward = {},
                                  .password_refused = false};
    }
    if (shut_down_) co_return shutting_down();  // stopped while the secret was fetched
    BackendLoginRequest request{.user = key.user,
                                .database = key.database,
                                .parameters = key.parameters,
                                .password = std::move(*password)};
    BackendConnector connector(executor_, tls_, backend_);
    connecting_.push_back(&connector);
    auto outcome = co_await connector.connect(std::move(request));
    std::erase(connecting_, &connector);
    if (auto* failed = std::get_if<BackendLoginError>(&outcome)) {
      if (failed->password_refused && !fresh) {
        fresh = true;  // the secret may have been rotated since it was cached
        continue;
      }
      ++metrics_.database_connection_failures;
      co_return std::move(*failed);
    }
    auto& login = std::get<BackendLogin>(outcome);
    auto backend = std::make_shared<PooledBackend>();
    backend->id = ++next_id_;
    backend->pool_id = key.id();
    backend->stream = std::move(login.stream);
    backend->key = login.key;
    backend->statements = StatementCache(settings_.max_prepared_statements);
    backend->opened = Clock::now();

    auto& pool = pools_[backend->pool_id];
    std::vector<std::pair<std::string, std::string>> reported;
    {
      auto decoder = pgwire::FrameDecoder::backend(PooledBackend::relay_decoder_options());
      decoder.feed(login.greeting);
      for (;;) {
        auto next = decoder.next();
        if (!next || !next->ready()) break;
        if (next->frame.type != 'S') continue;
        auto parameter = pgwire::parse_parameter_status(next->frame.body);
        if (parameter) reported.emplace_back(parameter->name, parameter->value);
      }
    }
    if (!pool.profile) pool.baseline = reported;
    auto failed_setup = [&](std::string what, const Error& error) {
      backend->stream->close();
      ++metrics_.database_connection_failures;
      return BackendLoginError{.reason = "backend_setup_failed",
                               .detail = what + ": " + error.message(),
                               .sqlstate = std::string(pgwire::sqlstate::kCannotConnectNow),
                               .client_message = "the proxy cannot set up a database connection",
                               .forward = {},
                               .password_refused = false};
    };
    if (budget_->max_connections.load() <= 0 && settings_.max_database_connections <= 0) {
      auto rows = co_await run_internal_query(*backend, "SHOW max_connections", pool);
      if (!rows) co_return failed_setup("SHOW max_connections", rows.error());
      if (!rows->empty()) budget_->max_connections = std::atoi((*rows)[0].c_str());
    }
    if (!settings_.init_query.empty()) {
      auto rows = co_await run_internal_query(*backend, settings_.init_query, pool);
      if (!rows) co_return failed_setup("init_query", rows.error());
    }
    if (!pool.profile) {
      auto made = std::make_shared<Profile>();
      for (const auto& [name, value] : pool.baseline) {
        (void)pgwire::encode_to(pgwire::ParameterStatus{name, value}, made->greeting);
      }
      made->baseline = std::make_shared<const std::vector<std::pair<std::string, std::string>>>(
          std::exchange(pool.baseline, {}));
      pool.profile = std::move(made);
    }
    co_return backend;
  }
  co_return BackendLoginError{};  // not reached
}

// A simple query of the pool's own on a backend no client holds yet: the first column of each
// row. ParameterStatus it causes (an InitQuery's SET) becomes the pool's baseline.
awaitable<Result<std::vector<std::string>>> BackendPool::run_internal_query(PooledBackend& backend,
                                                                            std::string sql,
                                                                            PoolState& pool) {
  std::string bytes;
  if (auto made = pgwire::encode_to(pgwire::Query{sql}, bytes); !made) co_return made.error();
  error_code ec = co_await backend.stream->write(bytes);
  if (ec) co_return Error::unavailable("write: " + ec.message());
  std::vector<std::string> rows;
  std::optional<Error> failed;
  char buf[kReadChunk];
  asio::steady_timer deadline(executor_);
  deadline.expires_after(std::chrono::seconds(std::max(1, backend_.connect_timeout_seconds)));
  deadline.async_wait(
      [stream = backend.stream.get(), alive = std::weak_ptr<int>(alive_)](error_code wait) {
        if (wait || alive.expired()) return;
        stream->close();
      });
  for (;;) {
    const auto [read_ec, n] = co_await backend.stream->read_some(asio::buffer(buf));
    ec = read_ec;
    if (ec || n == 0) {
      deadline.cancel();
      co_return Error::unavailable("read: " + (ec ? ec.message() : std::string("closed")));
    }
    backend.decoder.feed(std::string_view(buf, n));
    for (;;) {
      auto next = backend.decoder.next();
      if (!next) {
        deadline.cancel();
        co_return next.error();
      }
      if (!next->ready()) break;
      const auto& frame = next->frame;
      if (frame.type == 'D') {
        // DataRow: int16 count, then int32 length + bytes per column.
        const auto body = frame.body;
        if (body.size() >= 6) {
          const auto length =
              (static_cast<std::uint32_t>(static_cast<unsigned char>(body[2])) << 24) |
              (static_cast<std::uint32_t>(static_cast<unsigned char>(body[3])) << 16) |
              (static_cast<std::uint32_t>(static_cast<unsigned char>(body[4])) << 8) |
              static_cast<std::uint32_t>(static_cast<unsigned char>(body[5]));
          if (length != 0xffffffffu && 6 + length <= body.size()) {
            rows.emplace_back(body.substr(6, length));
          } else {
            rows.emplace_back();
          }
        }
      } else if (frame.type == 'E') {
        auto error = pgwire::parse_error_response(frame.body);
        failed = Error::failed_precondition(error ? std::string(error->sqlstate()) + " " +
                                                        std::string(error->message())
                                                  : std::string("the database refused it"));
      } else if (frame.type == 'S') {
        auto parameter = pgwire::parse_parameter_status(frame.body);
        if (parameter && !pool.profile) {
          auto it = std::find_if(pool.baseline.begin(), pool.baseline.end(),
                                 [&](const auto& p) { return p.first == parameter->name; });
          if (it != pool.baseline.end()) {
            it->second = parameter->value;
          } else {
            pool.baseline.emplace_back(parameter->name, parameter->value);
          }
        }
      } else if (frame.type == 'Z') {
        deadline.cancel();
        if (failed) co_return *failed;
        if (frame.body.empty() || frame.body[0] != 'I') {
          co_return Error::failed_precondition("it left a transaction open");
        }
        co_return rows;
      }
    }
  }
}

void BackendPool::give_back(BackendHandle backend) {
  --metrics_.database_connections_borrowed;
  if (shut_down_ || !backend->reusable()) {
    close(std::move(backend));
    return;
  }
  // Another worker's borrowers wait while this worker holds more than its share: the cap is
  // shared out by handing this one to that worker. Without it, the worker that came first kept
  // what it had for as long as its clients stayed busy: 15 of 20 backends against 5 under
  // pgbench -S -c 256, its clients served three times as fast as the other's (p99 192 ms), and
  // with a small pool the other's clients timed out.
  if (const int to = worker_short_of_share(0); to >= 0) {
    lend(std::move(backend), to);
    return;
  }
  place(std::move(backend));
}

void BackendPool::place(BackendHandle backend) {
  // The first in line for this pool gets it at once.
  for (Waiter* waiter : waiters_) {
    if (waiter->pool_id != backend->pool_id || waiter->handed) continue;
    waiter->handed = std::move(backend);
    std::erase(waiters_, waiter);
    publish_counts();
    waiter->timer.cancel();
    return;
  }
  // Someone waits for another pool and everything is in use: this one makes room.
  if (!waiters_.empty() && budget_->reserved.load() >= capacity()) {
    close(std::move(backend));
    return;
  }
  backend->idle_since = Clock::now();
  pools_[backend->pool_id].idle.push_back(std::move(backend));
  ++idle_count_;
  // Over the idle cap: not closed at once (the next transaction would pay a new login for it,
  // and a busy pool would churn), but once it has stayed idle a while (the janitor).
  if (idle_count_ > max_idle()) arm_janitor();
}

void BackendPool::arm_janitor() {
  if (janitor_armed_ || shut_down_) return;
  janitor_armed_ = true;
  janitor_.expires_after(settings_.idle_timeout);
  janitor_.async_wait([this, alive = std::weak_ptr<int>(alive_)](error_code ec) {
    if (ec || alive.expired()) return;
    janitor_armed_ = false;
    trim_idle();
  });
}

// Closes idle backends over the cap, those idle longest first, once idle for
// settings_.idle_timeout.
void BackendPool::trim_idle() {
  const auto now = Clock::now();
  while (idle_count_ > max_idle()) {
    PoolState* oldest = nullptr;
    for (auto& [id, pool] : pools_) {
      if (pool.idle.empty()) continue;
      if (!oldest || pool.idle.front()->idle_since < oldest->idle.front()->idle_since) {
        oldest = &pool;
      }
    }
    if (!oldest || now - oldest->idle.front()->idle_since < settings_.idle_timeout) break;
    BackendHandle victim = std::move(oldest->idle.front());
    oldest->idle.pop_front();
    --idle_count_;
    close(std::move(victim));
  }
  if (idle_count_ > max_idle()) arm_janitor();
}

void BackendPool::discard(BackendHandle backend) {
  --metrics_.database_connections_borrowed;
  close(std::move(backend));
}

void BackendPool::close(BackendHandle backend) {
  if (!backend) return;
  --open_;
  publish_counts();
  unreserve();
  --metrics_.database_connections;
  if (backend->stream) {
    // Terminate, then close; the write is best effort (the socket may be dead already, or
    // full: then it is closed without).
    static constexpr std::string_view kTerminate("X\0\0\0\4", 5);
    if (!backend->broken && backend->stream->socket().is_open()) {
      (void)backend->stream->try_write(kTerminate);
    }
    backend->stream->close();
  }
  wake_first_waiter();
}

bool BackendPool::close_one_idle_elsewhere(const std::string& pool_id,
                                           Clock::duration idle_at_least) {
  // The backend idle the longest, in any other pool.
  PoolState* oldest_pool = nullptr;
  for (auto& [id, pool] : pools_) {
    if (id == pool_id || pool.idle.empty()) continue;
    if (!oldest_pool || pool.idle.front()->idle_since < oldest_pool->idle.front()->idle_since) {
      oldest_pool = &pool;
    }
  }
  if (!oldest_pool) return false;
  if (Clock::now() - oldest_pool->idle.front()->idle_since < idle_at_least) return false;
  BackendHandle victim = std::move(oldest_pool->idle.front());
  oldest_pool->idle.pop_front();
  --idle_count_;
  close(std::move(victim));
  return true;
}

int BackendPool::worker_short_of_share(int more) const {
  const int workers = budget_->workers;
  if (workers <= 1) return -1;
  const int cap = capacity();
  const int mine = open_ + opening_ + more;
  if (mine <= (cap + workers - 1) / workers) return -1;
  for (int w = 0; w < workers && w < PoolBudget::kMaxWorkers; ++w) {
    if (w == worker_) continue;
    if (budget_->in_line[w].load(std::memory_order_relaxed) > 0 &&
        budget_->held[w].load(std::memory_order_relaxed) < cap / workers) {
      return w;
    }
  }
  return -1;
}

void BackendPool::lend(BackendHandle backend, int to) {
  if (!budget_->hand_over || backend->stream->detach()) {
    close(std::move(backend));
    return;
  }
  // Still open and still in the budget (`reserved`): only which worker holds it changes.
  --open_;
  publish_counts();
  std::shared_ptr<const Profile> profile;
  if (const auto it = pools_.find(backend->pool_id); it != pools_.end()) {
    profile = it->second.profile;
  }
  budget_->hand_over(to, std::move(backend), std::move(profile));
}

void BackendPool::adopt(BackendHandle backend, std::shared_ptr<const Profile> profile) {
  ++open_;
  publish_counts();
  if (shut_down_ || backend->stream->attach(executor_)) {
    backend->broken = true;  // no Terminate: the descriptor may not be usable here
    close(std::move(backend));
    return;
  }
  auto& pool = pools_[backend->pool_id];
  if (!pool.profile && profile) pool.profile = std::move(profile);
  place(std::move(backend));
}

void BackendPool::publish_counts() {
  if (worker_ < 0 || worker_ >= PoolBudget::kMaxWorkers) return;
  budget_->held[worker_].store(open_ + opening_, std::memory_order_relaxed);
  budget_->in_line[worker_].store(static_cast<int>(waiters_.size()), std::memory_order_relaxed);
}

BackendPool::Waiter* BackendPool::first_waiter() const {
  for (Waiter* waiter : waiters_) {
    if (!waiter->handed) return waiter;
  }
  return nullptr;
}

void BackendPool::wake_first_waiter() {
  if (Waiter* waiter = first_waiter()) waiter->timer.cancel();
}

void BackendPool::shut_down() {
  if (shut_down_) return;
  shut_down_ = true;
  janitor_.cancel();
  for (BackendConnector* connector : connecting_)
    connector->cancel();
  for (Waiter* waiter : waiters_)
    waiter->timer.cancel();
  for (auto& [id, pool] : pools_) {
    while (!pool.idle.empty()) {
      BackendHandle backend = std::move(pool.idle.back());
      pool.idle.pop_back();
      --idle_count_;
      close(std::move(backend));
    }
  }
}

std::string BackendPool::status_json() const {
  nlohmann::json pools = nlohmann::json::array();
  for (const auto& [id, pool] : pools_) {
    std::string user = id.substr(0, id.find('\x1f'));
    std::string rest = id.substr(std::min(id.size(), user.size() + 1));
    std::string database = rest.substr(0, rest.find('\x1f'));
    pools.push_back({{"user", user}, {"database", database}, {"idle", pool.idle.size()}});
  }
  nlohmann::json status = {{"capacity", capacity()},
                           {"open", open_},
                           {"opening", opening_},
                           {"idle", idle_count_},
                           {"max_idle", max_idle()},
                           {"waiting", waiters_.size()},
                           {"database_max_connections", budget_->max_connections.load()},
                           {"reserved_all_workers", budget_->reserved.load()},
                           {"pools", pools}};
  return status.dump();
}

}  // namespace writegate::proxy
