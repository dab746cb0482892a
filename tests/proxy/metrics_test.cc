// The Prometheus text of the proxy's metrics, line by line.
#include "proxy/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace writegate::proxy {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, EveryCounterHasHelpTypeAndItsValue) {
  Metrics m;
  m.client_connections = 3;
  m.client_connections_received = 10;
  m.client_connections_setup_succeeded = 7;
  m.client_connections_setup_failed_auth = 2;
  m.client_connections_tls = 9;
  m.database_connections = 3;
  m.database_connection_requests = 7;
  const std::string text = render_prometheus(m, {.proxy = "aurora-write-proxy"});
  const std::string l = "{ProxyName=\"aurora-write-proxy\"}";
  const std::vector<std::string> lines = {"# TYPE ClientConnections gauge",
                                          "ClientConnections" + l + " 3",
                                          "# TYPE ClientConnectionsReceived counter",
                                          "ClientConnectionsReceived" + l + " 10",
                                          "ClientConnectionsSetupSucceeded" + l + " 7",
                                          "ClientConnectionsSetupFailedAuth" + l + " 2",
                                          "ClientConnectionsTLS" + l + " 9",
                                          "# TYPE DatabaseConnections gauge",
                                          "DatabaseConnections" + l + " 3",
                                          "DatabaseConnectionRequests" + l + " 7",
                                          "# TYPE DatabaseConnectionsBorrowLatency histogram"};
  for (const std::string& line : lines) {
    EXPECT_THAT(text, HasSubstr("\n" + line + "\n")) << line;
  }
}

TEST(MetricsTest, TheHistogramIsCumulativeWithSumAndCount) {
  Metrics m;
  auto& h = m.database_connections_borrow_latency;
  h.observe(std::chrono::microseconds(300));       // <= 0.5 ms
  h.observe(std::chrono::microseconds(1500));      // <= 2 ms
  h.observe(std::chrono::microseconds(1500));      // <= 2 ms
  h.observe(std::chrono::microseconds(20000000));  // over 10 s: only +Inf
  const std::string text = render_prometheus(m, {.proxy = "p"});
  const std::string b = "DatabaseConnectionsBorrowLatency_bucket{ProxyName=\"p\",le=";
  EXPECT_THAT(text, HasSubstr(b + "\"0.5\"} 1\n"));
  EXPECT_THAT(text, HasSubstr(b + "\"1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr(b + "\"2\"} 3\n"));
  EXPECT_THAT(text, HasSubstr(b + "\"10000\"} 3\n"));
  EXPECT_THAT(text, HasSubstr(b + "\"+Inf\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("DatabaseConnectionsBorrowLatency_count{ProxyName=\"p\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("DatabaseConnectionsBorrowLatency_sum{ProxyName=\"p\"} 20003.3\n"));
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  Metrics m;
  const std::string text = render_prometheus(m, {.proxy = "a\"b\\c\nd"});
  EXPECT_THAT(text, HasSubstr("ClientConnections{ProxyName=\"a\\\"b\\\\c\\nd\"} 0\n"));
}

}  // namespace
}  // namespace writegate::proxy
