// writegate::proxy::BackendPool — the database connections one event loop shares among its
// clients, as RDS Proxy's connection pool does: keyed by user, database and startup
// parameters; at most MaxConnectionsPercent of the database's max_connections open (or an
// explicit cap), at most MaxIdleConnectionsPercent idle; a borrower waits in line up to
// ConnectionBorrowTimeout ("Timed-out waiting to acquire database connection."). Every state
// change goes through give_back() / discard() / borrow(); one loop thread only.
//
//   BackendPool pool(executor, back_tls, config.backend, settings, metrics, passwords, log);
//   auto borrowed = co_await pool.borrow(key, deadline);
//   if (auto* failed = std::get_if<BackendLoginError>(&borrowed)) tell_client(*failed);
//   auto backend = std::get<std::shared_ptr<PooledBackend>>(borrowed);
//   ... relay; on ReadyForQuery idle:  pool.give_back(std::move(backend));
//
// A new backend logs in with BackendConnector (its deadline covers resolve, TLS and SCRAM),
// then runs `SHOW max_connections` once per pool (to size it) and the InitQuery. Idle backends
// are checked before reuse: one that became readable or hung up while idle (the database
// restarted, an administrator terminated it) is closed and the next one tried. When the
// database cannot be reached, a borrow keeps trying (100 ms, doubling to 1 s) until its
// deadline; a refused login (wrong password, no such database) fails at once. A password the
// database refuses is fetched again once (the secret was rotated).
#pragma once

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/result.h"
#include "pgwire/frame_decoder.h"
#include "pgwire/messages.h"
#include "proxy/backend_connector.h"
#include "proxy/metrics.h"
#include "proxy/pooled_session.h"

namespace writegate::proxy {

struct PoolKey {
  std::string user;
  std::string database;
  std::vector<std::pair<std::string, std::string>> parameters;  // sorted by name
  std::string id() const;  // one string naming the pool, for maps and logs
};

struct PoolSettings {
  int max_connections_percent = 100;          // of the database's max_connections
  int max_idle_connections_percent = 50;      // idle backends kept; the rest are closed
  int max_database_connections = 0;           // > 0: an absolute cap instead of the percentage
  std::string init_query;                     // run on every new backend; empty: none
  std::size_t max_prepared_statements = 100;  // per backend
  // Idle backends over MaxIdleConnectionsPercent are closed once idle this long (not at once:
  // a bursty load would log in new backends at every burst).
  std::chrono::milliseconds idle_timeout{60'000};
};

struct PooledBackend {
  std::uint64_t id = 0;
  std::string pool_id;
  std::unique_ptr<TlsSocket> stream;
  pgwire::BackendKeyData key;
  pgwire::FrameDecoder decoder = pgwire::FrameDecoder::backend(relay_decoder_options());
  StatementCache statements;
  std::vector<char> read_buffer;  // the relay's, kept with the connection
  std::chrono::steady_clock::time_point opened;
  std::chrono::steady_clock::time_point idle_since;
  bool broken = false;  // set by whoever saw it fail; give_back() then closes it
  // CancelRequests sent to the database for this backend and not yet taken (the relay's): a
  // backend with one in flight does not go back to the pool, or the cancel could land on the
  // next client's query; the last one to finish gives it back (release_after_cancels).
  int cancels_in_flight = 0;
  bool release_after_cancels = false;

  // Not broken, open, and nothing unread: fit to go back to the pool (no system call).
  bool reusable() const;
  // Reusable, and nothing arrived or hung up while it sat idle (one poll(2), no waiting):
  // checked when it is lent, not when it comes back (it has just said ReadyForQuery).
  bool healthy() const;
  static pgwire::DecoderOptions relay_decoder_options();
};

using BackendHandle = std::shared_ptr<PooledBackend>;

// What a fresh backend of a pool reports at login: the ParameterStatus values, in order, and the
// same as the bytes a client gets after AuthenticationOk. Made once per pool and shared (a login
// copies nothing, and a backend handed to another worker brings it along).
struct PoolProfile {
  std::shared_ptr<const std::vector<std::pair<std::string, std::string>>> baseline;
  std::string greeting;
};

// The cap on open backends across every worker's pool (each worker has a pool of its own, on
// its own thread): a backend is opened only with a place reserved here.
struct PoolBudget {
  static constexpr int kMaxWorkers = 64;  // the config's cap on `workers`

  std::atomic<int> reserved{0};         // open or opening, all workers
  std::atomic<int> max_connections{0};  // the database's, once a backend has said
  int workers = 1;
  // Asks the other workers for room: each hands `from_worker` an idle backend of `pool_id`, or
  // closes an idle one of another pool (set by the server, run on their threads; may be empty).
  std::function<void(int from_worker, const std::string& pool_id)> trim_elsewhere;
  // Hands a backend (detached from this worker's loop) to worker `to`, which adopts it on its
  // thread (set by the server; when empty, a backend that would move is closed instead).
  std::function<void(int to, BackendHandle backend, std::shared_ptr<const PoolProfile> profile)>
      hand_over;
  // Per worker: its backends open or opening, and its borrowers in line. Each worker writes its
  // own; the others read them (relaxed) to share the cap fairly (BackendPool::give_back).
  std::array<std::atomic<int>, kMaxWorkers> held{};
  std::array<std::atomic<int>, kMaxWorkers> in_line{};
};

class BackendPool {
 public:
  // The password of a user for the backend login; `fresh` asks past any cache.
  using PasswordSource =
      std::function<boost::asio::awaitable<Result<std::string>>(std::string user, bool fresh)>;

  BackendPool(boost::asio::any_io_executor executor, boost::asio::ssl::context& tls,
              const BackendConfig& backend, PoolSettings settings, Metrics& metrics,
              PasswordSource passwords, std::shared_ptr<PoolBudget> budget,
              int worker);  // worker: its index in budget
  ~BackendPool();
  BackendPool(const BackendPool&) = delete;
  BackendPool& operator=(const BackendPool&) = delete;

  using Borrowed = std::variant<BackendHandle, BackendLoginError>;
  // `retry`: while the database cannot be reached (down, restarting, out of slots), keep trying
  // until the deadline; otherwise fail with the reason at once.
  // `key` and `pool_id` (key.id(), made once by the caller) must outlive the borrow: the caller
  // co_awaits it.
  boost::asio::awaitable<Borrowed> borrow(const PoolKey& key, const std::string& pool_id,
                                          std::chrono::steady_clock::time_point deadline,
                                          bool retry);
  // The backend is idle ('I', nothing owed, nothing pinned on it): the next borrower in line
  // for its pool gets it, else it waits idle (or is closed over the idle cap).
  void give_back(BackendHandle backend);
  // Closes it (pinned by a client that left, broken, or in doubt).
  void discard(BackendHandle backend);

  // What a backend of this pool reports at login; null until one backend of the pool has logged
  // in on this worker (or was handed to it).
  using Profile = PoolProfile;
  std::shared_ptr<const Profile> profile(const std::string& pool_id) const;

  // A backend another worker handed over (PoolBudget::hand_over), on this worker's thread: it
  // joins this worker's loop and goes to the first borrower in line for its pool, or idle.
  void adopt(BackendHandle backend, std::shared_ptr<const Profile> profile);

  // Refuses new borrows, wakes every borrower in line and closes the idle backends.
  void shut_down();
  // Another worker's borrowers of `pool_id` wait and the cap is spent: hands it this worker's
  // backend of that pool idle the longest, or else closes the one idle the longest of
  // any pool; either only if idle for kLendAfter.
  void make_room(int for_worker, const std::string& pool_id);

  int capacity() const;  // the cap on open backends now, all workers together
  int open() const { return open_; }
  int idle() const { return idle_count_; }
  int waiting() const { return static_cast<int>(waiters_.size()); }
  std::string status_json() const;

 private:
  struct Waiter;
  struct PoolState {
    std::deque<BackendHandle> idle;  // back: most recently used
    // What this pool's first backend reported, while it is being set up (the InitQuery may
    // change it); then moved into the profile.
    std::vector<std::pair<std::string, std::string>> baseline;
    std::shared_ptr<const Profile> profile;  // null until the first backend is set up
  };

  boost::asio::awaitable<Borrowed> open_backend(const PoolKey& key,
                                                std::chrono::steady_clock::time_point deadline);
  boost::asio::awaitable<Result<std::vector<std::string>>> run_internal_query(
      PooledBackend& backend, std::string sql, PoolState& pool);
  void close(BackendHandle backend);
  bool close_one_idle_elsewhere(const std::string& pool_id,
                                std::chrono::steady_clock::duration idle_at_least = {});
  void arm_janitor();
  void trim_idle();
  bool try_reserve();  // a place in the budget for one more backend
  // The worker owed a backend when this one, with `more` backends, holds more than its share
  // of the cap (the cap over the workers, rounded up) while that one has borrowers in line and
  // holds less than its own (rounded down); -1 when none is.
  int worker_short_of_share(int more) const;
  // Moves a backend no one holds to another worker (closed if it cannot move).
  void lend(BackendHandle backend, int to);
  // A backend no one holds: to the first borrower in line for its pool, else idle (or closed,
  // if borrowers of another pool wait and the cap is spent).
  void place(BackendHandle backend);
  void publish_counts();  // held / in_line of this worker, for the others
  void unreserve();
  Waiter* first_waiter() const;  // the first in line not handed a backend yet
  void wake_first_waiter();
  int max_idle() const;

  boost::asio::any_io_executor executor_;
  boost::asio::ssl::context& tls_;
  const BackendConfig& backend_;
  PoolSettings settings_;
  Metrics& metrics_;
  PasswordSource passwords_;
  std::shared_ptr<PoolBudget> budget_;
  int worker_ = 0;
  std::map<std::string, PoolState> pools_;
  std::deque<Waiter*> waiters_;
  std::vector<BackendConnector*> connecting_;  // logins in flight, cancelled by shut_down()
  int open_ = 0;                               // logged in (idle, borrowed)
  int opening_ = 0;                            // logging in now
  int idle_count_ = 0;
  std::uint64_t next_id_ = 0;
  bool shut_down_ = false;
  // Another worker's request for room closes only a backend idle at least this long: one
  // given back a moment ago is this worker's next transaction's (closing it made both workers
  // log in new backends all the time: 800 backend logins in 8 s of pgbench -S -c 32).
  static constexpr std::chrono::milliseconds kLendAfter{100};
  boost::asio::steady_timer janitor_;
  bool janitor_armed_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace writegate::proxy
