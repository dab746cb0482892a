#include "stack/metrics_sources.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "awslocal/secret_store.h"
#include "common/netns.h"
#include "observe/prometheus_text.h"
#include "pgclient/pgclient.h"
#include "stack/state.h"

namespace writegate::stack {

namespace {

using observe::EpochMs;
using observe::MetricId;
using observe::MetricStore;
using Clock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits for `events` on fd until the deadline; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

Result<std::string> http_get_here(const std::string& host, int port, const std::string& path,
                                  Clock::time_point deadline, std::size_t max_bytes) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return Error::invalid_argument(host + " is not an IPv4 address");
  }
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return Error::internal(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
      errno != EINPROGRESS) {
    return Error::unavailable("cannot connect to " + host + ":" + std::to_string(port) + ": " +
                              std::strerror(errno));
  }
  if (!wait_for(fd.get(), POLLOUT, deadline)) {
    return Error::unavailable("no connection to " + host + ":" + std::to_string(port));
  }
  int so_error = 0;
  socklen_t len = sizeof so_error;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    return Error::unavailable("cannot connect to " + host + ":" + std::to_string(port) + ": " +
                              std::strerror(so_error));
  }
  const std::string request =
      "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    if (!wait_for(fd.get(), POLLOUT, deadline)) return Error::unavailable("send timed out");
    const ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return Error::unavailable(std::string("send: ") + std::strerror(errno));
    }
    if (n > 0) sent += static_cast<std::size_t>(n);
  }
  std::string answer;
  char buf[16384];
  while (true) {
    if (!wait_for(fd.get(), POLLIN, deadline)) {
      return Error::unavailable("no full answer from " + host + ":" + std::to_string(port));
    }
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Error::unavailable(std::string("recv: ") + std::strerror(errno));
    }
    answer.append(buf, static_cast<std::size_t>(n));
    if (answer.size() > max_bytes + 4096) {
      return Error::out_of_range("the answer is over " + std::to_string(max_bytes) + " bytes");
    }
  }
  const std::size_t head_end = answer.find("\r\n\r\n");
  if (head_end == std::string::npos || answer.compare(0, 5, "HTTP/") != 0) {
    return Error::unavailable("not an HTTP answer");
  }
  const std::size_t space = answer.find(' ');
  if (space == std::string::npos || answer.compare(space + 1, 3, "200") != 0) {
    return Error::unavailable("HTTP " + answer.substr(space + 1, 3));
  }
  std::string body = answer.substr(head_end + 4);
  if (body.size() > max_bytes) {
    return Error::out_of_range("the answer is over " + std::to_string(max_bytes) + " bytes");
  }
  return body;
}

// Says a source's failure once per distinct message (not every tick).
class Complaints {
 public:
  void say(const std::string& source, const std::string& message) {
    if (last_[source] == message) return;
    last_[source] = message;
    std::cerr << "writegate metrics: " << source << ": " << message << "\n";
  }
  void clear(const std::string& source) { last_.erase(source); }

 private:
  std::map<std::string, std::string> last_;
};

// ---- the proxy ----------------------------------------------------------------------------

struct ProxySource {
  std::string state_dir;
  std::string proxy_name;
  std::map<std::string, double> previous;  // counters and histogram sums/counts by name
  Complaints complaints;

  // The increase of a counter since the last tick (its whole value the first time, or after
  // the proxy restarted and it went down).
  double increase(const std::string& name, double now) {
    auto it = previous.find(name);
    const double before = it == previous.end() ? 0 : it->second;
    previous[name] = now;
    return now >= before ? now - before : now;
  }

  void operator()(EpochMs now, MetricStore& store) {
    auto state = StackState::load(state_dir);
    if (!state) return;
    const ComponentState* proxy = state->find("proxy");
    if (proxy == nullptr || proxy->admin_port == 0 || !proxy->running()) return;
    auto text = http_get_in_netns(proxy->netns, "127.0.0.1", proxy->admin_port, "/metrics",
                                  std::chrono::seconds(2), 1024 * 1024);
    if (!text) return complaints.say("proxy", text.error().message());
    auto samples = observe::parse_prometheus_text(*text);
    if (!samples) return complaints.say("proxy", samples.error().message());
    complaints.clear("proxy");
    const std::vector<observe::Dimension> dims = {{"ProxyName", proxy_name}};
    auto id = [&](const std::string& name) { return MetricId{"AWS/RDS", name, dims}; };
    static const std::set<std::string> kGauges = {"ClientConnections", "DatabaseConnections",
                                                  "DatabaseConnectionsCurrentlyBorrowed",
                                                  "DatabaseConnectionsCurrentlySessionPinned"};
    static const std::set<std::string> kCounters = {
        "ClientConnectionsReceived",        "ClientConnectionsSetupSucceeded",
        "ClientConnectionsSetupFailedAuth", "ClientConnectionsTLS",
        "DatabaseConnectionRequests",       "QueryRequests",
        "DatabaseConnectionsBorrowTimeouts"};
    std::map<std::string, double> sums, counts;
    for (const auto& s : *samples) {
      if (kGauges.count(s.name)) {
        store.record(id(s.name), now, s.value, "Count");
      } else if (kCounters.count(s.name)) {
        store.record(id(s.name), now, increase(s.name, s.value), "Count");
      } else if (s.name.ends_with("_sum")) {
        sums[s.name.substr(0, s.name.size() - 4)] = s.value;
      } else if (s.name.ends_with("_count")) {
        counts[s.name.substr(0, s.name.size() - 6)] = s.value;
      }
    }
    for (const std::string name :
         {"DatabaseConnectionsBorrowLatency", "QueryDatabaseResponseLatency"}) {
      if (!sums.count(name) || !counts.count(name)) continue;
      const double sum_ms = increase(name + "_sum", sums[name]);
      const double count = increase(name + "_count", counts[name]);
      if (count > 0) store.record(id(name), now, sum_ms / count * 1000.0, "Microseconds");
    }
  }
};

// ---- the database -------------------------------------------------------------------------

struct DatabaseSource {
  std::string state_dir;
  spec::Spec spec;
  std::optional<pgclient::Connection> conn;
  pid_t conn_for_pid = 0;  // the postmaster the connection belongs to
  std::set<std::string> users_seen;
  std::optional<std::pair<double, double>> wal;  // wal_sync, wal_sync_time
  std::optional<std::pair<double, double>> dml;  // calls, total_exec_time
  Complaints complaints;

  Result<pgclient::Connection> connect(const StackState& state, const ComponentState& aurora) {
    WG_ASSIGN_OR_RETURN(auto secrets, awslocal::SecretStore::open(state_dir));
    WG_ASSIGN_OR_RETURN(auto master, secrets->get_value(spec.database.master_secret));
    if (!master.secret_string) return Error::failed_precondition("the master secret is binary");
    std::string password;
    try {
      password = nlohmann::json::parse(std::string(master.secret_string->reveal()))
                     .at("password")
                     .get<std::string>();
    } catch (const nlohmann::json::exception&) {
      return Error::failed_precondition("the master secret holds no password");
    }
    const std::string conninfo =
        "host=" + pgclient::quote_conninfo_value(state.cluster_endpoint) +
        " hostaddr=127.0.0.1 port=" + std::to_string(aurora.port) +
        " dbname=postgres user=" + pgclient::quote_conninfo_value(spec.database.master_user) +
        " password=" + pgclient::quote_conninfo_value(password) +
        " sslmode=verify-full sslrootcert=" + pgclient::quote_conninfo_value(state.ca_file) +
        " connect_timeout=3 application_name=writegate-metrics" +
        " options=" + pgclient::quote_conninfo_value("-c statement_timeout=2000");
    std::optional<Result<pgclient::Connection>> out;
    WG_RETURN_IF_ERROR(
        run_in_netns(aurora.netns, [&] { out.emplace(pgclient::Connection::open(conninfo)); }));
    return std::move(*out);
  }

  static double number(const pgclient::QueryResult& r, std::size_t row, std::string_view col) {
    const std::string text = r.get(row, col);
    return text.empty() ? 0 : std::strtod(text.c_str(), nullptr);
  }

  void operator()(EpochMs now, MetricStore& store) {
    auto state = StackState::load(state_dir);
    if (!state) return;
    const ComponentState* aurora = state->find("aurora");
    if (aurora == nullptr || !aurora->running()) {
      conn.reset();
      return;
    }
    if (conn && conn_for_pid != aurora->pid) conn.reset();
    if (!conn) {
      auto opened = connect(*state, *aurora);
      if (!opened) return complaints.say("database", opened.error().message());
      conn.emplace(std::move(*opened));
      conn_for_pid = aurora->pid;
      wal.reset();
      dml.reset();
    }
    if (auto e = sample(now, store); !e.ok()) {
      complaints.say("database", e.error().message());
      conn.reset();
      return;
    }
    complaints.clear("database");
  }

  Status sample(EpochMs now, MetricStore& store) {
    const std::vector<observe::Dimension> cluster = {
        {"DBClusterIdentifier", spec.database.cluster}};
    WG_ASSIGN_OR_RETURN(auto users,
                        conn->exec("SELECT usename, count(*) AS n FROM pg_stat_activity "
                                   "WHERE backend_type = 'client backend' AND usename IS NOT NULL "
                                   "AND pid <> pg_backend_pid() GROUP BY usename"));
    double total = 0;
    std::set<std::string> now_seen;
    for (std::size_t i = 0; i < users.rows.size(); ++i) {
      const std::string user = users.get(i, "usename");
      const double n = number(users, i, "n");
      total += n;
      now_seen.insert(user);
      if (users_seen.size() < 100) users_seen.insert(user);
      if (users_seen.count(user)) {
        auto dims = cluster;
        dims.push_back({"DbUser", user});
        store.record({"AWS/RDS", "DatabaseConnections", dims}, now, n, "Count");
      }
    }
    for (const auto& user : users_seen) {
      if (now_seen.count(user)) continue;
      auto dims = cluster;
      dims.push_back({"DbUser", user});
      store.record({"AWS/RDS", "DatabaseConnections", dims}, now, 0, "Count");
    }
    store.record({"AWS/RDS", "DatabaseConnections", cluster}, now, total, "Count");

    WG_ASSIGN_OR_RETURN(auto w, conn->exec("SELECT wal_sync::float8 AS n, wal_sync_time::float8 "
                                           "AS ms FROM pg_stat_wal"));
    if (!w.rows.empty()) {
      const std::pair<double, double> current = {number(w, 0, "n"), number(w, 0, "ms")};
      if (wal && current.first > wal->first && current.second >= wal->second) {
        store.record({"AWS/RDS", "CommitLatency", cluster}, now,
                     (current.second - wal->second) / (current.first - wal->first), "Milliseconds");
      }
      wal = current;
    }
    auto d = conn->exec(
        "SELECT coalesce(sum(calls), 0)::float8 AS n, coalesce(sum(total_exec_time), 0)::float8 "
        "AS ms FROM " +
        std::string(kMonitorSchema) +
        ".pg_stat_statements WHERE toplevel AND "
        "ltrim(lower(query)) ~ '^(insert|update|delete|merge)\\M'");
    if (!d) {
      complaints.say("database DMLLatency", d.error().message());
    } else if (!d->rows.empty()) {
      const std::pair<double, double> current = {number(*d, 0, "n"), number(*d, 0, "ms")};
      if (dml && current.first > dml->first && current.second >= dml->second) {
        store.record({"AWS/RDS", "DMLLatency", cluster}, now,
                     (current.second - dml->second) / (current.first - dml->first), "Milliseconds");
      }
      dml = current;
    }
    return {};
  }
};

}  // namespace

Result<std::string> http_get_in_netns(const std::string& netns, const std::string& host, int port,
                                      const std::string& path, std::chrono::milliseconds deadline,
                                      std::size_t max_bytes) {
  const auto until = Clock::now() + deadline;
  std::optional<Result<std::string>> out;
  WG_RETURN_IF_ERROR(
      run_in_netns(netns, [&] { out.emplace(http_get_here(host, port, path, until, max_bytes)); }));
  return std::move(*out);
}

std::vector<observe::MetricSource> stack_metric_sources(const std::string& state_dir,
                                                        const spec::Spec& spec) {
  auto proxy = std::make_shared<ProxySource>();
  proxy->state_dir = state_dir;
  proxy->proxy_name = spec.proxy.name;
  auto database = std::make_shared<DatabaseSource>();
  database->state_dir = state_dir;
  database->spec = spec;
  return {[proxy](EpochMs now, MetricStore& store) { (*proxy)(now, store); },
          [database](EpochMs now, MetricStore& store) { (*database)(now, store); }};
}

}  // namespace writegate::stack
