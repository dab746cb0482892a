#include "proxy/metrics.h"

#include <fmt/format.h>

#include "common/prometheus.h"

namespace writegate::proxy {

void LatencyHistogram::observe(std::chrono::microseconds latency) {
  const double ms = static_cast<double>(latency.count()) / 1000.0;
  std::size_t bucket = 0;
  while (bucket < kBucketsMs.size() && ms > kBucketsMs[bucket])
    ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency.count())),
                    std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const {
  Snapshot out;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < kBucketsMs.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out.cumulative[i] = running;
  }
  // The total is read last and never below the sum of the finite buckets.
  out.count = std::max(running + buckets_.back().load(std::memory_order_relaxed),
                       count_.load(std::memory_order_relaxed));
  out.sum_ms = static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1000.0;
  return out;
}

std::string render_prometheus(const Metrics& m, const PrometheusLabels& labels) {
  const std::string label = "ProxyName=\"" + prometheus_label_value(labels.proxy) + "\"";
  std::string out;
  auto scalar = [&](std::string_view name, std::string_view type, std::string_view help,
                    std::int64_t value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0}{{{3}}} {4}\n", name, help, type, label,
                       value);
  };
  scalar("ClientConnections", "gauge", "Client connections open now.", m.client_connections.load());
  scalar("ClientConnectionsReceived", "counter", "Client connection requests received.",
         m.client_connections_received.load());
  scalar("ClientConnectionsSetupSucceeded", "counter",
         "Client connections that logged in (TLS, IAM token, backend).",
         m.client_connections_setup_succeeded.load());
  scalar("ClientConnectionsSetupFailedAuth", "counter",
         "Client logins refused: no TLS or an IAM token that did not check out.",
         m.client_connections_setup_failed_auth.load());
  scalar("ClientConnectionsTLS", "counter", "Client connections that negotiated TLS.",
         m.client_connections_tls.load());
  scalar("ClientConnectionsRefusedByCaps", "counter",
         "Client connections refused or evicted by a connection cap (writegate).",
         m.client_connections_refused_by_caps.load());
  scalar("DatabaseConnections", "gauge", "Database connections open now.",
         m.database_connections.load());
  scalar("DatabaseConnectionRequests", "counter", "Requests for a database connection.",
         m.database_connection_requests.load());
  scalar("DatabaseConnectionFailures", "counter",
         "Database logins that failed (down, TLS, authentication, timeout) (writegate).",
         m.database_connection_failures.load());

  scalar("DatabaseConnectionsCurrentlyBorrowed", "gauge",
         "Database connections serving a client now (borrowed from the pool).",
         m.database_connections_borrowed.load());
  scalar("DatabaseConnectionsCurrentlySessionPinned", "gauge",
         "Database connections pinned to one client session now.",
         m.database_connections_currently_session_pinned.load());
  scalar("DatabaseConnectionsBorrowTimeouts", "counter",
         "Borrows that waited ConnectionBorrowTimeout in vain (writegate).",
         m.database_connections_borrow_timeouts.load());
  scalar("QueryRequests", "counter", "Queries received from clients (Query and Execute messages).",
         m.query_requests.load());

  auto histogram = [&](std::string_view name, std::string_view help, const LatencyHistogram& hist) {
    const auto h = hist.snapshot();
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} histogram\n", name, help);
    for (std::size_t i = 0; i < LatencyHistogram::kBucketsMs.size(); ++i) {
      out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, label,
                         LatencyHistogram::kBucketsMs[i], h.cumulative[i]);
    }
    out +=
        fmt::format("{0}_bucket{{{1},le=\"+Inf\"}} {2}\n{0}_sum{{{1}}} {3}\n{0}_count{{{1}}} {2}\n",
                    name, label, h.count, h.sum_ms);
  };
  histogram("DatabaseConnectionsBorrowLatency",
            "Milliseconds from a request for a database connection to one ready.",
            m.database_connections_borrow_latency);
  histogram("QueryDatabaseResponseLatency",
            "Milliseconds from a request sent to the database to the first byte of its answer.",
            m.query_database_response_latency);
  return out;
}

}  // namespace writegate::proxy
