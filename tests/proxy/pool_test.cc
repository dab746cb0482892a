// Transaction pooling, live: a real PostgreSQL, writegate-proxy in front of it with a small
// pool, and libpq / pgbench clients over TLS with real IAM tokens. What RDS Proxy promises:
// many clients share few backends, every transaction lands, no client sees another's state,
// and failures (a killed backend, a restart, a vanished client, a full pool) hurt only whom
// they must.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "pgclient/pgclient.h"
#include "proxy/proxy_stack.h"

namespace writegate::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// A TCP forwarder between a proxy and PostgreSQL (loopback) that can hold new connections back
// before passing them on: a CancelRequest (a connection of its own) then reaches the database
// late, as over a slow network, while the backends connected before go on at full speed.
class DelayingForwarder {
 public:
  explicit DelayingForwarder(int upstream_port) : upstream_port_(upstream_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      return;
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~DelayingForwarder() {
    stop_ = true;
    if (listener_ >= 0) ::shutdown(listener_, SHUT_RDWR);  // wakes accept()
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& pump : pumps_)
      pump.join();
    if (listener_ >= 0) ::close(listener_);
  }
  int port() const { return port_; }  // 0: could not listen
  // Each connection accepted from now on is passed on only after `hold`.
  void hold_new_connections(std::chrono::milliseconds hold) { hold_ms_ = hold.count(); }

 private:
  void accept_loop() {
    for (;;) {
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) {
        if (errno == EINTR && !stop_) continue;
        return;
      }
      std::lock_guard lock(mutex_);
      pumps_.emplace_back([this, client] { pump(client); });
    }
  }
  // Copies both ways until both sides have finished (or the forwarder stops).
  void pump(int client) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(hold_ms_);
    while (!stop_ && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(10ms);
    const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(upstream_port_));
    if (server < 0 ||
        ::connect(server, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(client);
      if (server >= 0) ::close(server);
      return;
    }
    pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    const int peers[2] = {server, client};
    char buffer[16 * 1024];
    while (!stop_ && (fds[0].fd >= 0 || fds[1].fd >= 0)) {
      if (::poll(fds, 2, 100) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0) continue;
        const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
        bool failed = n <= 0;
        for (ssize_t done = 0; !failed && done < n;) {
          const ssize_t w = ::write(peers[i], buffer + done, static_cast<std::size_t>(n - done));
          failed = w <= 0;
          done += failed ? 0 : w;
        }
        if (failed) {
          ::shutdown(peers[i], SHUT_WR);  // the end of one direction, passed on
          fds[i].fd = -1;
        }
      }
    }
    ::close(client);
    ::close(server);
  }

  int upstream_port_ = 0;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<long> hold_ms_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> pumps_;
};

class PoolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ProxyStack::raise_open_file_limit();
    stack_ = ProxyStack::start().release();
  }
  static void TearDownTestSuite() {
    delete stack_;
    stack_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(stack_, nullptr) << "the stack did not start";
    auto admin = pgclient::Connection::open(stack_->pg().admin_dsn("mydb"));
    ASSERT_TRUE(admin.ok());
    ASSERT_TRUE(admin->exec("TRUNCATE foo.test_table").ok());
  }

  // A proxy of its own with a pool of `backends` and these borrow / client limits.
  static std::unique_ptr<ProxyStack::ExtraProxy> proxy_with(
      int backends, int borrow_timeout_ms = 120'000,
      const std::function<void(proxy::ProxyConfig&)>& more = {}) {
    return stack_->start_proxy([&](proxy::ProxyConfig& c) {
      c.max_database_connections = backends;
      c.connection_borrow_timeout_ms = borrow_timeout_ms;
      c.max_client_connections = 2000;
      c.max_unauthenticated_connections = 1000;
      c.max_unauthenticated_per_source = 1000;
      if (more) more(c);
    });
  }

  static std::string token_for(int port) {
    return stack_->token(stack_->role_credentials(), "", std::chrono::system_clock::now(),
                         "localhost", port);
  }
  static PGconn* open(int port, const std::string& token) {
    PGconn* c = PQconnectdb(stack_->dsn_for_port(port, token).c_str());
    EXPECT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
    return c;
  }
  // "" when the statement worked; else "SQLSTATE: message" (or the connection's error).
  static std::string run(PGconn* c, const std::string& sql) {
    PGresult* r = PQexec(c, sql.c_str());
    std::string out;
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      out = std::string(state ? state : "none") + ": " + PQerrorMessage(c);
    }
    PQclear(r);
    return out;
  }
  static std::string show(PGconn* c, const std::string& setting) {
    PGresult* r = PQexec(c, ("SHOW " + setting).c_str());
    std::string out = PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "error";
    PQclear(r);
    return out;
  }
  static long admin_count(const std::string& sql) {
    auto admin = pgclient::Connection::open(stack_->pg().admin_dsn("mydb"));
    if (!admin.ok()) return -1;
    auto rows = admin->query(sql);
    if (!rows.ok() || rows->rows.empty()) return -1;
    return std::stol(rows->rows[0][0].value_or("-1"));
  }
  // Backends the proxy holds open at the database (the writer's connections).
  static long writer_backends() {
    return admin_count(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'lambda_writer' AND "
        "backend_type = 'client backend'");
  }
  static long rows(const std::string& where = "true") {
    return admin_count("SELECT count(*) FROM foo.test_table WHERE " + where);
  }

  static ProxyStack* stack_;
};
ProxyStack* PoolTest::stack_ = nullptr;

TEST_F(PoolTest, FiveHundredClientsShareTenBackendsAndEveryTransactionCommits) {
  // Two workers (event loops), each with its own pool: the cap holds across both.
  auto proxy = proxy_with(10, 120'000, [](proxy::ProxyConfig& c) { c.workers = 2; });
  ASSERT_NE(proxy, nullptr);
  ASSERT_EQ(proxy->server().workers(), 2);
  const std::string token = token_for(proxy->port());
  constexpr int kClients = 500;
  constexpr int kTransactions = 4;
  std::vector<PGconn*> conns(kClients, nullptr);
  // Everyone connects first: 500 clients at once.
  {
    std::vector<std::thread> openers;
    for (int t = 0; t < 10; ++t) {
      openers.emplace_back([&, t] {
        for (int i = t; i < kClients; i += 10)
          conns[i] = PQconnectdb(stack_->dsn_for_port(proxy->port(), token).c_str());
      });
    }
    for (auto& t : openers)
      t.join();
  }
  int connected = 0;
  for (PGconn* c : conns)
    connected += PQstatus(c) == CONNECTION_OK ? 1 : 0;
  ASSERT_EQ(connected, kClients);

  std::atomic<long> peak{0};
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done) {
      const long now = writer_backends();
      long seen = peak.load();
      while (now > seen && !peak.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(20ms);
    }
  });
  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex failure_mutex;
  std::vector<std::thread> workers;
  for (int t = 0; t < kClients; ++t) {
    workers.emplace_back([&, t] {
      for (int n = 0; n < kTransactions; ++n) {
        const std::string tag = std::to_string(t) + "-" + std::to_string(n);
        for (const std::string& sql :
             {std::string("BEGIN"),
              "INSERT INTO foo.test_table (column1, column2) VALUES ('pool', '" + tag + "')",
              "INSERT INTO foo.test_table (column1, column2) VALUES ('pool', '" + tag + "')",
              std::string("COMMIT")}) {
          const std::string error = run(conns[t], sql);
          if (!error.empty()) {
            ++failures;
            std::lock_guard lock(failure_mutex);
            if (first_failure.empty()) first_failure = error;
          }
        }
      }
    });
  }
  for (auto& w : workers)
    w.join();
  done = true;
  watcher.join();
  for (PGconn* c : conns)
    PQfinish(c);

  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_EQ(rows("column1 = 'pool'"), kClients * kTransactions * 2);
  EXPECT_GE(peak.load(), 1);
  EXPECT_LE(peak.load(), 10);
  EXPECT_LE(proxy->server().metrics().database_connections.load(), 10);
  // Most borrows here were hand-overs from a client to the next in line: once every client has
  // gone, none is counted as still borrowed.
  auto& borrowed = proxy->server().metrics().database_connections_borrowed;
  for (int i = 0; i < 200 && borrowed.load() != 0; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(borrowed.load(), 0);
}

TEST_F(PoolTest, TwoBusyWorkersDoNotTakeEachOthersBackends) {
  // 6 clients over 2 workers share 4 backends, each client running short transactions back to
  // back, so a worker's backends are now and then all busy while the other's sit idle between
  // two transactions. A backend given back a moment ago is its worker's next transaction's: the
  // other worker's request for room must not close it (that made both workers log in new
  // backends all the time: 27 logins here, 800 in 8 s of pgbench -S -c 32). Expected: the
  // first 4 logins, and a few more at most (a client stalled 100 ms lends its backend).
  auto proxy = proxy_with(4, 120'000, [](proxy::ProxyConfig& c) { c.workers = 2; });
  ASSERT_NE(proxy, nullptr);
  ASSERT_EQ(proxy->server().workers(), 2);
  const std::string token = token_for(proxy->port());
  constexpr int kClients = 6;
  constexpr int kTransactions = 150;
  std::vector<PGconn*> conns(kClients, nullptr);
  for (auto& c : conns) {
    c = open(proxy->port(), token);
    ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      for (int n = 0; n < kTransactions; ++n) {
        if (!run(conns[t], "INSERT INTO foo.test_table (column1) VALUES ('no-churn')").empty()) {
          ++failures;
        }
      }
    });
  }
  for (auto& c : clients)
    c.join();
  for (PGconn* c : conns)
    PQfinish(c);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(rows("column1 = 'no-churn'"), kClients * kTransactions);
  const auto logins = proxy->server().metrics().database_connection_requests.load();
  EXPECT_GE(logins, 1);
  EXPECT_LE(logins, 12) << "backend logins for " << kClients * kTransactions
                        << " transactions over a pool of 4";
}

TEST_F(PoolTest, WithTwoWorkersAndOneBackendEachWorkerGetsItFromTheOther) {
  // The only backend sits idle in one worker; a client of the other worker must get a backend
  // (the other worker closes its idle one to make room) well within the borrow timeout. The
  // kernel spreads 16 clients over both workers (all on one: 2 in 65536).
  auto proxy = proxy_with(1, 5'000, [](proxy::ProxyConfig& c) { c.workers = 2; });
  ASSERT_NE(proxy, nullptr);
  const std::string token = token_for(proxy->port());
  for (int i = 0; i < 16; ++i) {
    PGconn* c = open(proxy->port(), token);
    EXPECT_EQ(run(c, "INSERT INTO foo.test_table (column1) VALUES ('two-workers')"), "") << i;
    PQfinish(c);
  }
  EXPECT_EQ(rows("column1 = 'two-workers'"), 16);
  EXPECT_LE(writer_backends(), 1);
}

// The admin listener's /status as JSON (null when it does not answer).
nlohmann::json admin_status(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return nullptr;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buf[4096];
      pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
      while (::poll(&p, 1, 5000) > 0) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        answer.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  const std::size_t body = answer.find("\r\n\r\n");
  if (body == std::string::npos) return nullptr;
  return nlohmann::json::parse(answer.substr(body + 4), nullptr, false);
}

TEST_F(PoolTest, AWorkerThatCameFirstSharesTheCapWithTheOtherWorkersWaitingClients) {
  // Two workers, 4 backends. Four clients of one worker keep all 4 busy with back-to-back
  // transactions; then two clients of the other worker start theirs. The first worker must give
  // up backends down to its share (2) as they come back, so the other's clients are served well
  // within the borrow timeout (1.5 s). Before: the first worker kept all 4 (never idle the
  // 100 ms another worker's request for room needs) and every borrow of the other timed out.
  auto proxy = proxy_with(4, 1'500, [](proxy::ProxyConfig& c) {
    c.workers = 2;
    c.admin_host = "127.0.0.1";
    c.admin_port = 0;
  });
  ASSERT_NE(proxy, nullptr);
  ASSERT_EQ(proxy->server().workers(), 2);
  const int admin = proxy->server().admin_port();
  const std::string token = token_for(proxy->port());
  // Each worker's clients and backends, by worker index.
  auto per_worker = [&](const char* field) {
    std::vector<int> out(2, -1);
    const nlohmann::json status = admin_status(admin);
    if (!status.is_object()) return out;
    for (const auto& pool : status["pools"])
      out.at(pool["worker"].get<std::size_t>()) = pool[field].get<int>();
    return out;
  };
  // Which worker a new connection is on: the one whose client count went up (the kernel picks).
  std::vector<PGconn*> on[2];
  int first = -1;
  for (int i = 0; i < 60 && first < 0; ++i) {
    const auto before = per_worker("clients");
    PGconn* c = open(proxy->port(), token);
    ASSERT_EQ(PQstatus(c), CONNECTION_OK);
    auto after = per_worker("clients");
    for (int wait = 0; wait < 100 && after[0] + after[1] != before[0] + before[1] + 1; ++wait) {
      std::this_thread::sleep_for(10ms);
      after = per_worker("clients");
    }
    ASSERT_EQ(after[0] + after[1], before[0] + before[1] + 1);
    on[after[0] > before[0] ? 0 : 1].push_back(c);
    for (int w = 0; w < 2; ++w)
      if (on[w].size() >= 4 && on[1 - w].size() >= 2) first = w;
  }
  ASSERT_GE(first, 0) << "60 connections never made 4 on one worker and 2 on the other";
  const int second = 1 - first;

  std::atomic<bool> stop{false};
  std::atomic<int> first_done{0};
  std::atomic<int> first_failures{0};
  std::vector<std::thread> busy;
  for (int t = 0; t < 4; ++t) {
    busy.emplace_back([&, t] {
      while (!stop) {
        const std::string error =
            run(on[first][t], "INSERT INTO foo.test_table (column1) VALUES ('fair-first')");
        if (error.empty()) {
          ++first_done;
        } else {
          ++first_failures;
          ADD_FAILURE() << error;
        }
      }
    });
  }
  // The first worker holds all 4 before the other's clients come.
  auto open_now = per_worker("open");
  for (int wait = 0; wait < 500 && open_now[first] != 4; ++wait) {
    std::this_thread::sleep_for(10ms);
    open_now = per_worker("open");
  }
  ASSERT_EQ(open_now[first], 4);

  constexpr int kEach = 20;
  std::atomic<int> second_done{0};
  std::vector<std::string> second_errors;
  std::mutex errors_mutex;
  std::vector<std::thread> late;
  for (int t = 0; t < 2; ++t) {
    late.emplace_back([&, t] {
      for (int n = 0; n < kEach; ++n) {
        const std::string error =
            run(on[second][t], "INSERT INTO foo.test_table (column1) VALUES ('fair-second')");
        if (error.empty()) {
          ++second_done;
        } else {
          std::lock_guard lock(errors_mutex);
          second_errors.push_back(error);
        }
      }
    });
  }
  // While both are busy, the first worker holds its share and no more.
  for (int wait = 0; wait < 500 && second_done < 10; ++wait)
    std::this_thread::sleep_for(10ms);
  const auto shared_out = per_worker("open");
  for (auto& t : late)
    t.join();
  stop = true;
  for (auto& t : busy)
    t.join();
  for (auto& list : on)
    for (PGconn* c : list)
      PQfinish(c);

  EXPECT_TRUE(second_errors.empty())
      << second_errors.size()
      << " failed, the first: " << (second_errors.empty() ? "" : second_errors[0]);
  EXPECT_EQ(second_done.load(), 2 * kEach);
  EXPECT_EQ(first_failures.load(), 0);
  EXPECT_LE(shared_out[first], 2) << "the first worker's backends while both were busy";
  EXPECT_EQ(rows("column1 = 'fair-second'"), 2 * kEach);
  EXPECT_EQ(rows("column1 = 'fair-first'"), first_done.load());
  // Shared out by handing backends over, not by closing them and logging in new ones (each a
  // new PostgreSQL process on cold caches): the first worker's 4 logins and no more (this
  // also holds the earlier bound of 10, against churn).
  EXPECT_EQ(proxy->server().metrics().database_connection_requests.load(), 4)
      << "backend logins: the share moved by closing and reopening";
}

TEST_F(PoolTest, ASetIsNeverSeenByAnotherClientTheSessionPinsInstead) {
  auto proxy = proxy_with(2);
  ASSERT_NE(proxy, nullptr);
  const std::string token = token_for(proxy->port());
  PGconn* a = open(proxy->port(), token);
  PGconn* b = open(proxy->port(), token);
  const std::string before = show(b, "search_path");
  ASSERT_EQ(run(a, "SET search_path = pinned_schema"), "");
  EXPECT_EQ(show(a, "search_path"), "pinned_schema");
  EXPECT_EQ(proxy->server().metrics().database_connections_currently_session_pinned.load(), 1);
  // B runs many transactions: whichever backend it gets, never A's setting.
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(show(b, "search_path"), before);
  const std::string pin = proxy->wait_log(0, "pin");
  EXPECT_THAT(pin, HasSubstr("\"reason\":\"set\""));
  EXPECT_THAT(pin, HasSubstr("set search_path = $1"));
  EXPECT_THAT(pin, ::testing::Not(HasSubstr("pinned_schema")));  // a value never reaches the log
  // A leaves: its backend, with its session state, is closed rather than reused.
  PQfinish(a);
  for (int i = 0;
       i < 100 &&
       proxy->server().metrics().database_connections_currently_session_pinned.load() != 0;
       ++i)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(proxy->server().metrics().database_connections_currently_session_pinned.load(), 0);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(show(b, "search_path"), before);
  PQfinish(b);
}

TEST_F(PoolTest, EachPinningTriggerIsDetectedCountedAndLoggedAndAHarmlessSetIsNot) {
  auto proxy = proxy_with(3);
  ASSERT_NE(proxy, nullptr);
  const std::string token = token_for(proxy->port());
  // A harmless statement that merely contains SET: no pin.
  {
    PGconn* c = open(proxy->port(), token);
    EXPECT_EQ(run(c, "INSERT INTO foo.test_table (column1) VALUES ('SET search_path = x')"), "");
    EXPECT_EQ(run(c,
                  "BEGIN; SET LOCAL statement_timeout = '5s'; INSERT INTO foo.test_table "
                  "(column1) VALUES ('local'); COMMIT"),
              "");
    EXPECT_EQ(proxy->server().metrics().database_connections_currently_session_pinned.load(), 0);
    PQfinish(c);
  }
  EXPECT_EQ(proxy->log_count("pin"), 0u);
  // Each trigger of RDS Proxy's list (the statement may fail for the writer: it pins anyway,
  // as the proxy decides before the database answers).
  const std::vector<std::pair<std::string, std::string>> triggers = {
      {"SET statement_timeout = '5s'", "set"},
      {"SELECT set_config('statement_timeout', '5s', false)", "set_config"},
      {"PREPARE p AS SELECT 1", "prepare"},
      {"DISCARD PLANS", "discard"},
      {"CREATE TEMP TABLE t (a int)", "temporary_object"},
      {"BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT 1; COMMIT", "cursor_with_hold"},
      {"LISTEN some_channel", "listen"},
      {"SELECT pg_advisory_lock(42)", "advisory_lock"},
      {"INSERT INTO foo.test_table (column1) VALUES ('" + std::string(17 * 1024, 'x') + "')",
       "statement_too_large"},
  };
  std::size_t index = 0;
  for (const auto& [sql, reason] : triggers) {
    PGconn* c = open(proxy->port(), token);
    run(c, sql);
    EXPECT_EQ(proxy->server().metrics().database_connections_currently_session_pinned.load(), 1)
        << sql;
    EXPECT_THAT(proxy->wait_log(index++, "pin"), HasSubstr("\"reason\":\"" + reason + "\"")) << sql;
    PQfinish(c);
    for (int i = 0;
         i < 100 &&
         proxy->server().metrics().database_connections_currently_session_pinned.load() != 0;
         ++i)
      std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(proxy->log_count("pin"), triggers.size());
}

TEST_F(PoolTest, PreparedStatementsFollowTheirClientsAcrossBackends) {
  auto proxy = proxy_with(2);
  ASSERT_NE(proxy, nullptr);
  const std::string token = token_for(proxy->port());
  const std::string script = stack_->dir() + "/insert.sql";
  std::ofstream(script) << "\\set v random(1, 1000000)\n"
                           "INSERT INTO foo.test_table (column1, column2) VALUES ('bench', :v);\n";
  for (const std::string mode : {"prepared", "extended", "simple"}) {
    SetUp();  // an empty table
    auto out = stack_->pg().run_tool({"pgbench", "-n", "-M", mode, "-c", "8", "-j", "2", "-t", "50",
                                      "-f", script, stack_->dsn_for_port(proxy->port(), token)},
                                     {});
    ASSERT_TRUE(out.ok()) << out.error().message();
    EXPECT_EQ(out->exit_code, 0) << mode << "\n" << out->output;
    EXPECT_THAT(out->output, HasSubstr("number of failed transactions: 0")) << out->output;
    EXPECT_EQ(rows("column1 = 'bench'"), 8 * 50) << mode;
  }
  EXPECT_LE(proxy->server().metrics().database_connections.load(), 2);
  // libpq's own named statements, more clients than backends, interleaved.
  std::vector<PGconn*> conns;
  for (int i = 0; i < 6; ++i) {
    conns.push_back(open(proxy->port(), token));
    PGresult* r =
        PQprepare(conns.back(), "ins",
                  "INSERT INTO foo.test_table (column1, column2) VALUES ('libpq', $1)", 1, nullptr);
    EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(conns.back());
    PQclear(r);
  }
  for (int round = 0; round < 10; ++round) {
    for (std::size_t i = 0; i < conns.size(); ++i) {
      const std::string value = std::to_string(round * 100 + static_cast<int>(i));
      const char* params[] = {value.c_str()};
      PGresult* r = PQexecPrepared(conns[i], "ins", 1, params, nullptr, nullptr, 0);
      EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(conns[i]);
      PQclear(r);
    }
  }
  for (PGconn* c : conns)
    PQfinish(c);
  EXPECT_EQ(rows("column1 = 'libpq'"), 60);
}

TEST_F(PoolTest, CopyFromStdinWorksThroughThePool) {
  auto proxy = proxy_with(2);
  ASSERT_NE(proxy, nullptr);
  PGconn* c = open(proxy->port(), token_for(proxy->port()));
  for (int round = 0; round < 3; ++round) {
    PGresult* r = PQexec(c, "COPY foo.test_table (column1, column2) FROM STDIN");
    ASSERT_EQ(PQresultStatus(r), PGRES_COPY_IN) << PQerrorMessage(c);
    PQclear(r);
    for (int i = 0; i < 100; ++i) {
      const std::string line = "copy\t" + std::to_string(i) + "\n";
      ASSERT_EQ(PQputCopyData(c, line.data(), static_cast<int>(line.size())), 1);
    }
    ASSERT_EQ(PQputCopyEnd(c, nullptr), 1);
    r = PQgetResult(c);
    EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(c);
    PQclear(r);
    while ((r = PQgetResult(c)) != nullptr)
      PQclear(r);
  }
  EXPECT_EQ(rows("column1 = 'copy'"), 300);
  // A COPY the client abandons (CopyFail) rolls back and the session carries on.
  PGresult* r = PQexec(c, "COPY foo.test_table (column1) FROM STDIN");
  ASSERT_EQ(PQresultStatus(r), PGRES_COPY_IN);
  PQclear(r);
  ASSERT_EQ(PQputCopyData(c, "lost\n", 5), 1);
  ASSERT_EQ(PQputCopyEnd(c, "changed my mind"), 1);
  r = PQgetResult(c);
  EXPECT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
  PQclear(r);
  while ((r = PQgetResult(c)) != nullptr)
    PQclear(r);
  EXPECT_EQ(run(c, "INSERT INTO foo.test_table (column1) VALUES ('after-copy')"), "");
  EXPECT_EQ(rows("column1 = 'lost'"), 0);
  PQfinish(c);
}

TEST_F(PoolTest, ABorrowThatTimesOutSaysSoAndTheSessionCarriesOn) {
  // One worker: with two, the one backend moves between them by closing and logging in anew,
  // which a loaded machine may not do within this test's 500 ms borrow timeout.
  auto proxy = proxy_with(1, 500, [](proxy::ProxyConfig& c) { c.workers = 1; });
  ASSERT_NE(proxy, nullptr);
  const std::string token = token_for(proxy->port());
  PGconn* a = open(proxy->port(), token);
  PGconn* b = open(proxy->port(), token);
  ASSERT_EQ(run(a, "BEGIN"), "");  // A holds the only backend
  const auto started = std::chrono::steady_clock::now();
  const std::string error = run(b, "INSERT INTO foo.test_table (column1) VALUES ('b')");
  EXPECT_THAT(error, HasSubstr("53300: ERROR:  Timed-out waiting to acquire database connection."));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 450ms);
  EXPECT_EQ(PQstatus(b), CONNECTION_OK);
  EXPECT_EQ(proxy->server().metrics().database_connections_borrow_timeouts.load(), 1);
  ASSERT_EQ(run(a, "COMMIT"), "");
  EXPECT_EQ(run(b, "INSERT INTO foo.test_table (column1) VALUES ('b')"), "");
  // The extended protocol too: the failed request is skipped to its Sync, then answered.
  ASSERT_EQ(run(a, "BEGIN"), "");
  PGresult* r = PQexecParams(b, "INSERT INTO foo.test_table (column1) VALUES ($1)", 1, nullptr,
                             std::vector<const char*>{"x"}.data(), nullptr, nullptr, 0);
  EXPECT_EQ(PQresultStatus(r), PGRES_FATAL_ERROR);
  EXPECT_STREQ(PQresultErrorField(r, PG_DIAG_SQLSTATE), "53300");
  PQclear(r);
  ASSERT_EQ(run(a, "COMMIT"), "");
  EXPECT_EQ(run(b, "INSERT INTO foo.test_table (column1) VALUES ('b')"), "");
  EXPECT_EQ(rows("column1 = 'b'"), 2);
  PQfinish(a);
  PQfinish(b);
}

TEST_F(PoolTest, ACancelThatReachesTheDatabaseLateNeverCancelsTheNextClientsQuery) {
  // One backend, reached through a forwarder that will delay new connections: A's cancel is
  // sent while A's query runs but reaches PostgreSQL only after that query has ended. The
  // backend must not serve B before the database has taken the cancel.
  DelayingForwarder forwarder(stack_->pg().port());
  ASSERT_NE(forwarder.port(), 0);
  auto proxy = proxy_with(1, 120'000, [&](proxy::ProxyConfig& c) {
    c.workers = 1;
    c.backend.port = forwarder.port();
  });
  ASSERT_NE(proxy, nullptr);
  const std::string token = token_for(proxy->port());
  PGconn* a = open(proxy->port(), token);
  PGconn* b = open(proxy->port(), token);
  ASSERT_EQ(run(a, "SELECT 1"), "");  // the pool's one backend is open
  forwarder.hold_new_connections(1500ms);
  ASSERT_EQ(PQsendQuery(a, "SELECT pg_sleep(0.5)"), 1);
  std::this_thread::sleep_for(150ms);
  PGcancel* cancel = PQgetCancel(a);
  char errbuf[256];
  ASSERT_EQ(PQcancel(cancel, errbuf, sizeof errbuf), 1) << errbuf;
  PQfreeCancel(cancel);
  // A's query ends on its own: the cancel is still on its way.
  PGresult* r = PQgetResult(a);
  EXPECT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQresultErrorMessage(r);
  PQclear(r);
  while ((r = PQgetResult(a)) != nullptr)
    PQclear(r);
  // B's query right after, on the same backend, runs while the late cancel arrives.
  EXPECT_EQ(run(b, "SELECT pg_sleep(1.5)"), "");
  EXPECT_THAT(proxy->wait_log(0, "cancel"), HasSubstr("\"outcome\":\"forwarded\""));
  // And a cancel between transactions (no backend held) has nothing to do.
  cancel = PQgetCancel(b);
  ASSERT_EQ(PQcancel(cancel, errbuf, sizeof errbuf), 1) << errbuf;
  PQfreeCancel(cancel);
  EXPECT_THAT(proxy->wait_log(1, "cancel"), HasSubstr("\"outcome\":\"no_query\""));
  EXPECT_EQ(run(b, "SELECT 1"), "");
  PQfinish(a);
  PQfinish(b);
}

TEST_F(PoolTest, ABackendKilledMidTransactionFailsOnlyItsOwnClient) {
  auto proxy = proxy_with(3);
  ASSERT_NE(proxy, nullptr);
  const std::string token = token_for(proxy->port());
  PGconn* a = open(proxy->port(), token);
  PGconn* b = open(proxy->port(), token);
  ASSERT_EQ(run(a, "BEGIN; INSERT INTO foo.test_table (column1) VALUES ('victim')"), "");
  ASSERT_EQ(run(b, "BEGIN; INSERT INTO foo.test_table (column1) VALUES ('bystander')"), "");
  // The backend of A's transaction, found by what it last ran.
  EXPECT_EQ(admin_count("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                        "usename = 'lambda_writer' AND query LIKE '%''victim''%'"),
            1);
  EXPECT_NE(run(a, "COMMIT"), "");
  EXPECT_EQ(run(b, "COMMIT"), "");
  EXPECT_EQ(rows("column1 = 'victim'"), 0);
  EXPECT_EQ(rows("column1 = 'bystander'"), 1);
  PGconn* c = open(proxy->port(), token);
  EXPECT_EQ(run(c, "INSERT INTO foo.test_table (column1) VALUES ('after')"), "");
  PQfinish(a);
  PQfinish(b);
  PQfinish(c);
}

TEST_F(PoolTest, AClientThatVanishesMidTransactionIsRolledBackBeforeAnyoneElseGetsItsBackend) {
  // One worker: a backend is reused within its worker, and this test checks it is the same one.
  auto proxy = proxy_with(1, 120'000, [](proxy::ProxyConfig& c) { c.workers = 1; });
  ASSERT_NE(proxy, nullptr);
  const std::string token = token_for(proxy->port());
  PGconn* a = open(proxy->port(), token);
  ASSERT_EQ(run(a, "BEGIN; INSERT INTO foo.test_table (column1) VALUES ('ghost')"), "");
  const long backend_pid = admin_count(
      "SELECT pid FROM pg_stat_activity WHERE usename = 'lambda_writer' AND state = 'idle in "
      "transaction'");
  ASSERT_GT(backend_pid, 0);
  const auto logins = proxy->server().metrics().database_connection_requests.load();
  // Gone without a word: no Terminate, no TLS close_notify.
  ::shutdown(PQsocket(a), SHUT_RDWR);
  PGconn* b = open(proxy->port(), token);
  // B gets the only backend, and it is not inside A's transaction.
  EXPECT_EQ(run(b, "INSERT INTO foo.test_table (column1) VALUES ('next')"), "");
  EXPECT_EQ(run(b, "BEGIN"), "");
  EXPECT_EQ(run(b, "ROLLBACK"), "");  // no WARNING-free nesting: a fresh transaction each time
  EXPECT_EQ(rows("column1 = 'ghost'"), 0);
  EXPECT_EQ(rows("column1 = 'next'"), 1);
  EXPECT_EQ(admin_count("SELECT count(*) FROM pg_stat_activity WHERE usename = 'lambda_writer' "
                        "AND state LIKE 'idle in transaction%'"),
            0);
  // The same backend, rolled back and reused, not closed and replaced.
  EXPECT_EQ(proxy->server().metrics().database_connection_requests.load(), logins);
  EXPECT_EQ(admin_count("SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                        std::to_string(backend_pid)),
            1);
  PQfinish(a);
  PQfinish(b);
}

TEST_F(PoolTest, ABackendStillBusyTenSecondsAfterItsClientVanishedIsClosedNotReused) {
  // The client leaves during a 14 s query: its backend owes an answer, so it cannot be rolled
  // back yet; after the cleanup deadline (10 s) the proxy closes it rather than wait on.
  auto proxy = proxy_with(1, 120'000, [](proxy::ProxyConfig& c) { c.workers = 1; });
  ASSERT_NE(proxy, nullptr);
  const std::string token = token_for(proxy->port());
  const auto& m = proxy->server().metrics();
  PGconn* a = open(proxy->port(), token);
  ASSERT_EQ(run(a, "INSERT INTO foo.test_table (column1) VALUES ('before')"), "");
  ASSERT_EQ(m.database_connections.load(), 1);
  ASSERT_EQ(PQsendQuery(a, "SELECT pg_sleep(14)"), 1);
  for (int i = 0; i < 100 && admin_count("SELECT count(*) FROM pg_stat_activity WHERE usename = "
                                         "'lambda_writer' AND query LIKE 'SELECT pg_sleep%' "
                                         "AND state = 'active'") != 1;
       ++i)
    std::this_thread::sleep_for(50ms);
  const auto left = std::chrono::steady_clock::now();
  ::shutdown(PQsocket(a), SHUT_RDWR);  // gone without a word
  while (m.database_connections.load() != 0 &&
         std::chrono::steady_clock::now() - left < std::chrono::seconds(13))
    std::this_thread::sleep_for(50ms);
  const auto waited = std::chrono::steady_clock::now() - left;
  // Closed by the deadline, before the query's answer (14 s) could have let it go back.
  EXPECT_EQ(m.database_connections.load(), 0) << "still open 13 s after its client left";
  EXPECT_GE(waited, std::chrono::seconds(9)) << "closed before the cleanup deadline";
  // The next client gets a new backend and works.
  PGconn* b = open(proxy->port(), token);
  EXPECT_EQ(run(b, "INSERT INTO foo.test_table (column1) VALUES ('after')"), "");
  EXPECT_EQ(rows("column1 = 'after'"), 1);
  PQfinish(a);
  PQfinish(b);
}

TEST_F(PoolTest, APostgresqlRestartUnderLoadIsWaitedOutAndNoClientGetsABrokenBackend) {
  auto proxy = proxy_with(4);
  ASSERT_NE(proxy, nullptr);
  const std::string token = token_for(proxy->port());
  std::vector<PGconn*> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(open(proxy->port(), token));
    ASSERT_EQ(run(idle.back(), "INSERT INTO foo.test_table (column1) VALUES ('warm')"), "");
  }
  // Load during the restart: each error is a transaction cut by the restart itself (the
  // database's own 57P01 / a lost connection), and the client reconnects.
  std::atomic<bool> stop{false};
  std::atomic<int> committed{0};
  std::atomic<int> cut{0};
  std::thread load([&] {
    PGconn* c = open(proxy->port(), token);
    while (!stop) {
      const std::string error = run(c, "INSERT INTO foo.test_table (column1) VALUES ('load')");
      if (error.empty()) {
        ++committed;
        continue;
      }
      ++cut;
      if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        c = PQconnectdb(stack_->dsn_for_port(proxy->port(), token).c_str());
      }
    }
    PQfinish(c);
  });
  std::this_thread::sleep_for(300ms);
  // Down (fast shutdown: sessions are told 57P01 and closed) ...
  ASSERT_TRUE(stack_->pg().stop("fast").ok());
  // ... idle clients ask while it is down: their borrows wait; the backends they held before
  // are never handed out ...
  std::vector<std::string> answers(idle.size());
  std::vector<std::thread> askers;
  for (std::size_t i = 0; i < idle.size(); ++i) {
    askers.emplace_back([&, i] {
      answers[i] = run(idle[i], "INSERT INTO foo.test_table (column1) VALUES ('after-restart')");
    });
  }
  std::this_thread::sleep_for(700ms);
  // ... and once it is back, they succeed.
  ASSERT_TRUE(stack_->pg().start_again().ok());
  for (auto& t : askers)
    t.join();
  for (const auto& answer : answers)
    EXPECT_EQ(answer, "");
  std::this_thread::sleep_for(300ms);
  const int before = committed.load();
  std::this_thread::sleep_for(500ms);
  stop = true;
  load.join();
  EXPECT_GT(committed.load(), before);  // the load carries on after the restart
  EXPECT_LE(cut.load(), 2);             // at most the transaction in flight at the cut
  EXPECT_EQ(rows("column1 = 'after-restart'"), 4);
  EXPECT_EQ(rows("column1 = 'load'"), committed.load());
  for (PGconn* c : idle)
    PQfinish(c);
}

TEST_F(PoolTest, TheInitQueryRunsOnEveryNewBackend) {
  auto proxy = proxy_with(
      2, 120'000, [](proxy::ProxyConfig& c) { c.init_query = "SET statement_timeout = '7s'"; });
  ASSERT_NE(proxy, nullptr);
  const std::string token = token_for(proxy->port());
  PGconn* a = open(proxy->port(), token);
  PGconn* b = open(proxy->port(), token);
  ASSERT_EQ(run(a, "BEGIN"), "");  // the second client needs a second backend
  EXPECT_EQ(show(b, "statement_timeout"), "7s");
  EXPECT_EQ(show(a, "statement_timeout"), "7s");
  ASSERT_EQ(run(a, "COMMIT"), "");
  EXPECT_EQ(proxy->server().metrics().database_connection_requests.load(), 2);  // two backends
  // The InitQuery's SET is the pool's baseline, not a pin.
  EXPECT_EQ(proxy->server().metrics().database_connections_currently_session_pinned.load(), 0);
  PQfinish(a);
  PQfinish(b);
}

TEST_F(PoolTest, IdleBackendsOverMaxIdleConnectionsPercentCloseAfterAWhileNotAtOnce) {
  // A cap of 4 and RDS Proxy's default MaxIdleConnectionsPercent (50): at most 2 stay idle.
  auto proxy = proxy_with(4, 120'000, [](proxy::ProxyConfig& c) {
    c.workers = 1;
    c.max_idle_connections_percent = 50;
    c.pool_idle_timeout_ms = 2'000;
  });
  ASSERT_NE(proxy, nullptr);
  const std::string token = token_for(proxy->port());
  std::vector<PGconn*> conns;
  for (int i = 0; i < 4; ++i) {
    conns.push_back(open(proxy->port(), token));
    ASSERT_EQ(run(conns.back(), "BEGIN"), "");  // four transactions at once: four backends
  }
  for (PGconn* c : conns)
    ASSERT_EQ(run(c, "COMMIT"), "");
  const auto& m = proxy->server().metrics();
  EXPECT_EQ(m.database_connections.load(), 4);  // kept for the next burst ...
  for (int i = 0; i < 200 && m.database_connections.load() > 2; ++i)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(m.database_connections.load(), 2);  // ... and trimmed to the idle cap (after 2 s)
  EXPECT_EQ(writer_backends(), 2);
  for (PGconn* c : conns)
    PQfinish(c);
}

TEST_F(PoolTest, MetricsCountQueriesBorrowsAndResponseLatency) {
  auto proxy = proxy_with(2);
  ASSERT_NE(proxy, nullptr);
  const auto& m = proxy->server().metrics();
  PGconn* c = open(proxy->port(), token_for(proxy->port()));
  const auto borrows_before = m.database_connections_borrow_latency.snapshot().count;
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(run(c, "INSERT INTO foo.test_table (column1) VALUES ('m')"), "");
  EXPECT_EQ(m.query_requests.load(), 5);
  EXPECT_EQ(m.database_connections_borrow_latency.snapshot().count - borrows_before, 5u);
  EXPECT_GE(m.query_database_response_latency.snapshot().count, 5u);
  // All back in the pool (the proxy gives the backend back just after the client has its
  // answer).
  for (int i = 0; i < 100 && m.database_connections_borrowed.load() != 0; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(m.database_connections_borrowed.load(), 0);
  EXPECT_EQ(m.database_connections.load(), 1);
  PQfinish(c);
}

}  // namespace
}  // namespace writegate::testing
