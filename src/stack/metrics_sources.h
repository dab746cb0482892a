// What the local AWS endpoint samples for the stack's metrics (observe/metrics_sampler.h), and
// where the metrics are served. Each source re-reads stack.json on every tick (the endpoint
// starts before the database and the proxy, and outlives a restart of either) and samples only
// the parts that run.
//
//   proxy     GET /metrics of writegate-proxy's admin listener (inside the proxy's namespace in
//             netns mode), 2 s deadline, 1 MiB cap; AWS/RDS with dimension ProxyName:
//             gauges as read (ClientConnections, DatabaseConnections,
//             DatabaseConnectionsCurrentlyBorrowed, DatabaseConnectionsCurrentlySessionPinned),
//             counters as the increase since the last tick (ClientConnectionsReceived,
//             ClientConnectionsSetupSucceeded, ClientConnectionsSetupFailedAuth,
//             ClientConnectionsTLS, DatabaseConnectionRequests, QueryRequests,
//             DatabaseConnectionsBorrowTimeouts), and the two latency histograms as the mean
//             of the tick's observations in microseconds (DatabaseConnectionsBorrowLatency,
//             QueryDatabaseResponseLatency), as RDS Proxy reports them.
//   database  one master-user connection (the master secret, TLS verify-full), kept open;
//             AWS/RDS with DBClusterIdentifier: DatabaseConnections (client backends in
//             pg_stat_activity, the sampler's own left out), and per user with the added
//             dimension DbUser (writegate's; CloudWatch has no per-user dimension);
//             CommitLatency = the tick's pg_stat_wal wal_sync_time / wal_sync (milliseconds per
//             WAL flush, track_wal_io_timing on); DMLLatency = the tick's mean execution time of
//             top-level INSERT/UPDATE/DELETE/MERGE statements in pg_stat_statements
//             (milliseconds).
#pragma once

#include <string>
#include <vector>

#include "observe/metrics_sampler.h"
#include "spec/spec.h"

namespace writegate::stack {

// The schema of the postgres database that holds pg_stat_statements (no PUBLIC usage).
inline constexpr const char* kMonitorSchema = "writegate_monitor";
// The endpoint's Prometheus page (the whole stack's metrics, unsigned GET).
inline constexpr const char* kPrometheusPath = "/metrics";
// The endpoint's dashboard (observe/dashboard.h).
inline constexpr const char* kDashboardPath = "/dashboard";

std::vector<observe::MetricSource> stack_metric_sources(const std::string& state_dir,
                                                        const spec::Spec& spec);

// An HTTP/1.0 GET of http://host:port<path> from inside `netns` (empty: here), with a deadline
// for the whole exchange and a cap on the answer. Returns the body of a 200 answer.
Result<std::string> http_get_in_netns(const std::string& netns, const std::string& host, int port,
                                      const std::string& path, std::chrono::milliseconds deadline,
                                      std::size_t max_bytes);

}  // namespace writegate::stack
