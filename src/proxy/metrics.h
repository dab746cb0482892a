// The proxy's metrics, named after RDS Proxy's CloudWatch metrics, and their Prometheus text
// form (served on the admin listener's /metrics).
//
//   Metrics metrics;
//   ++metrics.client_connections_received;
//   metrics.database_connections_borrow_latency.observe(std::chrono::microseconds(850));
//   std::string text = render_prometheus(metrics, {.proxy = "aurora-write-proxy"});
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace writegate::proxy {

// A latency histogram with fixed buckets (milliseconds), safe to update from any thread.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 14> kBucketsMs = {0.5, 1,   2,   5,    10,   25,   50,
                                                        100, 250, 500, 1000, 2500, 5000, 10000};
  void observe(std::chrono::microseconds latency);
  struct Snapshot {
    std::array<std::uint64_t, kBucketsMs.size()> cumulative{};  // count <= each bucket
    std::uint64_t count = 0;
    double sum_ms = 0;
  };
  Snapshot snapshot() const;

 private:
  std::array<std::atomic<std::uint64_t>, kBucketsMs.size() + 1> buckets_{};  // last: +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_us_{0};
};

struct Metrics {
  std::atomic<std::int64_t> client_connections{0};  // current
  std::atomic<std::int64_t> client_connections_received{0};
  std::atomic<std::int64_t> client_connections_setup_succeeded{0};
  std::atomic<std::int64_t> client_connections_setup_failed_auth{0};
  std::atomic<std::int64_t> client_connections_tls{0};
  std::atomic<std::int64_t> client_connections_refused_by_caps{0};  // writegate's own
  std::atomic<std::int64_t> database_connections{0};                // current
  std::atomic<std::int64_t> database_connection_requests{0};
  std::atomic<std::int64_t> database_connection_failures{0};   // writegate's own
  std::atomic<std::int64_t> database_connections_borrowed{0};  // current
  std::atomic<std::int64_t> database_connections_currently_session_pinned{0};
  std::atomic<std::int64_t> database_connections_borrow_timeouts{0};  // writegate's own
  std::atomic<std::int64_t> query_requests{0};                        // Query and Execute messages
  // From the borrow request to a backend ready for the client (from the pool, or a new login).
  LatencyHistogram database_connections_borrow_latency;
  // From a request (Query, Sync) sent to the database to the first byte of its answer.
  LatencyHistogram query_database_response_latency;
};

struct PrometheusLabels {
  std::string proxy;  // the spec's proxy name: label ProxyName, as CloudWatch's dimension
};

// Prometheus text exposition (version 0.0.4) of every metric, with HELP and TYPE lines.
std::string render_prometheus(const Metrics& metrics, const PrometheusLabels& labels);

}  // namespace writegate::proxy
