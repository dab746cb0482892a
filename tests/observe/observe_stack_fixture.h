// The fixture of the observe stack tests (observe_stack_test on loopback, observe_stack_netns_test
// in network namespaces): the whole-stack fixture with the real aws CLI against the stack's
// endpoint, and the architecture document's section 8 queries, as written, after a scripted
// run: 3 logins with a wrong password through the proxy and 2 denied SELECTs, then `aws logs
// start-query` / `get-query-results` must count exactly those. Also filter-log-events,
// `writegate logs query|tail`, and a role without logs:* refused.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "cli/stack_fixture.h"
#include "common/process.h"

namespace writegate {
inline namespace observe_stack {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr const char* kAws = "/usr/bin/aws";  // Debian's aws CLI v2

// The document's three queries, exactly as section 8 has them (without the SQL comments).
constexpr const char* kFailedAuthentication =
    "fields @timestamp, @message\n| filter @message like /authentication failed/\n"
    "| sort @timestamp desc\n| limit 100";
constexpr const char* kPermissionDenied =
    "fields @timestamp, @message\n| filter @message like /permission denied/\n"
    "| sort @timestamp desc\n| limit 100";
constexpr const char* kConnectionPattern =
    "fields @timestamp, @message\n| filter @message like /new connection/\n"
    "| stats count() by bin(5m)";
constexpr const char* kProxyGroup = "/aws/rds/proxy/aurora-write-proxy";
constexpr const char* kPostgresGroup = "/aws/rds/cluster/my-aurora-cluster/postgresql";

// The whole-stack fixture (state folder per test, `run`, `json_in`, `credentials_env`, nothing
// left running after).
class ObserveStackTest : public StackTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kAws)) << kAws << " (Debian's awscli) is needed: apt-get install awscli";
    StackTest::SetUp();
  }

  // `aws logs ...` as the local administrator (or the given export lines' identity).
  nlohmann::json aws_logs(std::vector<std::string> args, int want_exit = 0) {
    args.insert(args.begin(), "logs");
    return aws(args, want_exit);
  }
  // `aws SERVICE ...` the same way.
  nlohmann::json aws(const std::vector<std::string>& args, int want_exit = 0) {
    std::vector<std::string> argv = {kAws,       "--endpoint-url", endpoint_url_, "--ca-bundle",
                                     ca_bundle_, "--output",       "json"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.extra_env = aws_env_;
    auto out = run_process(argv, options);
    EXPECT_TRUE(out.ok());
    if (!out) return nlohmann::json();
    last_output_ = out->output;
    EXPECT_EQ(out->exit_code, want_exit) << out->output;
    return json_in(out->output);
  }

  // start-query then get-query-results: the rows.
  nlohmann::json query(const std::string& group, const std::string& text) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    auto started = aws_logs({"start-query", "--log-group-name", group, "--start-time",
                             std::to_string(now - 900), "--end-time", std::to_string(now + 60),
                             "--query-string", text});
    if (!started.is_object() || !started.contains("queryId")) return nlohmann::json::array();
    auto results =
        aws_logs({"get-query-results", "--query-id", started["queryId"].get<std::string>()});
    EXPECT_EQ(results.value("status", ""), "Complete") << last_output_;
    return results.value("results", nlohmann::json::array());
  }

  static int total_count(const nlohmann::json& rows) {
    int total = 0;
    for (const auto& row : rows)
      for (const auto& cell : row)
        if (cell["field"] == "count()") total += std::stoi(cell["value"].get<std::string>());
    return total;
  }

  // The proxy log's lines (JSON objects) from line `from` on.
  std::vector<nlohmann::json> proxy_lines(std::size_t from = 0) {
    std::ifstream in(state_ + "/logs/proxy.log");
    std::vector<nlohmann::json> out;
    std::size_t index = 0;
    for (std::string line; std::getline(in, line); ++index) {
      if (index < from) continue;
      out.push_back(nlohmann::json::parse(line, nullptr, false));
    }
    return out;
  }
  // Waits (10 s at most) for the proxy's line {"event":"debug_logging","enabled":on}; the
  // number of lines up to it, or 0.
  std::size_t wait_debug_logging(bool on, std::size_t from) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      const auto lines = proxy_lines();
      for (std::size_t i = from; i < lines.size(); ++i) {
        if (lines[i].value("event", "") == "debug_logging" &&
            lines[i].value("enabled", !on) == on) {
          return i + 1;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return 0;
  }
  static std::size_t count_events(const std::vector<nlohmann::json>& lines,
                                  const std::string& event) {
    return static_cast<std::size_t>(std::count_if(lines.begin(), lines.end(), [&](const auto& l) {
      return l.is_object() && l.value("event", "") == event;
    }));
  }

  // psql to the proxy as `user` with `password` (from the Lambda's namespace in netns mode,
  // where the proxy is not on the host's loopback).
  ProcessOutput psql_to_proxy(const std::string& network, const std::string& proxy_endpoint,
                              int proxy_port, const std::string& user,
                              const std::string& password) {
    const std::string conninfo =
        "host=" + proxy_endpoint + (network == "netns" ? std::string() : " hostaddr=127.0.0.1") +
        " port=" + std::to_string(proxy_port) + " dbname=mydb user=" + user +
        " sslmode=verify-full sslrootcert=" + ca_bundle_;
    const std::vector<std::string> env = {"PGPASSWORD=" + password, "PGCONNECT_TIMEOUT=10"};
    if (network == "netns")
      return run({"exec", "lambda", "--", "psql", conninfo, "-c", "SELECT 1"}, env);
    ProcessOptions options;
    options.extra_env = env;
    auto psql = run_process({"psql", conninfo, "-c", "SELECT 1"}, options);
    EXPECT_TRUE(psql.ok());
    return psql ? *psql : ProcessOutput{};
  }

  // `up` in `network` mode: its status (whose endpoint and CA the aws CLI then uses), or null.
  // Loopback runs in standard mode (they must work without root); netns in the default,
  // end-to-end IAM.
  nlohmann::json bring_up(const std::string& network) {
    auto up = network == "loopback"
                  ? run({"--spec", standard_mode_spec(), "up", "--network", network})
                  : run({"up", "--network", network});
    EXPECT_EQ(up.exit_code, 0) << up.output;
    if (up.exit_code != 0) return nullptr;
    auto status = json_in(run({"status", "--json"}).output);
    EXPECT_TRUE(status.is_object());
    if (!status.is_object()) return nullptr;
    endpoint_url_ = status["endpoint_url"].get<std::string>();
    ca_bundle_ = status["ca_bundle"].get<std::string>();
    return status;
  }

  // The document's queries after a scripted run, on a stack in `network` mode.
  void documents_queries_count_refused_logins_and_denied_selects(const std::string& network) {
    auto status = bring_up(network);
    ASSERT_TRUE(status.is_object());
    const std::string proxy_endpoint = status["proxy_endpoint"].get<std::string>();
    const int proxy_port = status["components"]["proxy"]["port"].get<int>();
    aws_env_ = credentials_env({"credentials"});

    // Before: `up`'s own check is the one connection so far, and nothing was refused or denied.
    EXPECT_EQ(total_count(query(kProxyGroup, kConnectionPattern)), 1) << last_output_;
    EXPECT_EQ(query(kProxyGroup, kFailedAuthentication).size(), 0u) << last_output_;

    constexpr int kRefused = 3;
    constexpr int kDenied = 2;
    for (int i = 0; i < kRefused; ++i) {
      auto psql = psql_to_proxy(network, proxy_endpoint, proxy_port, "lambda_writer", "wrong");
      EXPECT_NE(psql.exit_code, 0);
      EXPECT_THAT(psql.output, HasSubstr("IAM authentication failed"));
    }
    for (int i = 0; i < kDenied; ++i) {
      auto select = run({"psql", "--", "-c", "SELECT * FROM foo.test_table"});
      EXPECT_NE(select.exit_code, 0);
      EXPECT_THAT(select.output, HasSubstr("permission denied for table test_table"));
    }

    // The document's queries, as written, on the groups where AWS has those lines: refused IAM
    // logins in the proxy's log; a denied statement only in the database's log (RDS Proxy does
    // not log query errors).
    auto failed = query(kProxyGroup, kFailedAuthentication);
    ASSERT_EQ(failed.size(), static_cast<std::size_t>(kRefused)) << last_output_;
    for (const auto& row : failed) {
      ASSERT_EQ(row.size(), 2u);
      EXPECT_EQ(row[0]["field"], "@timestamp");
      EXPECT_EQ(row[1]["field"], "@message");
      EXPECT_THAT(row[1]["value"].get<std::string>(), HasSubstr("IAM authentication failed"));
    }
    EXPECT_GE(failed[0][0]["value"].get<std::string>(), failed[2][0]["value"].get<std::string>());
    auto denied = query(kPostgresGroup, kPermissionDenied);
    ASSERT_EQ(denied.size(), static_cast<std::size_t>(kDenied)) << last_output_;
    EXPECT_THAT(denied[0][1]["value"].get<std::string>(),
                HasSubstr("ERROR:  permission denied for table test_table"));
    EXPECT_EQ(query(kProxyGroup, kPermissionDenied).size(), 0u);
    auto connections = query(kProxyGroup, kConnectionPattern);
    EXPECT_EQ(total_count(connections), 1 + kRefused + kDenied) << last_output_;
    EXPECT_LE(connections.size(), 2u);  // one 5-minute bin, or two across a boundary
    ASSERT_FALSE(connections.empty());
    EXPECT_EQ(connections[0][0]["field"], "bin(5m)");

    // The document's block pasted with its SQL comments is refused as Insights refuses it.
    aws_logs({"start-query", "--log-group-name", kProxyGroup, "--start-time", "0", "--end-time",
              "1", "--query-string",
              std::string("-- Find failed authentication attempts\n") + kFailedAuthentication},
             254);
    EXPECT_THAT(last_output_, HasSubstr("MalformedQueryException"));

    // filter-log-events with a quoted phrase; describe-log-groups names the three groups.
    auto events = aws_logs({"filter-log-events", "--log-group-name", kProxyGroup,
                            "--filter-pattern", "\"authentication failed\""});
    EXPECT_EQ(events["events"].size(), static_cast<std::size_t>(kRefused)) << last_output_;
    auto groups = aws_logs({"describe-log-groups"});
    ASSERT_EQ(groups["logGroups"].size(), 3u) << last_output_;
    EXPECT_EQ(groups["logGroups"][0]["logGroupName"], "/aws/lambda/aurora-writer-lambda");

    // The same from the CLI without the aws CLI.
    auto local = run({"logs", "query", kFailedAuthentication, "--group", "proxy", "--json"});
    ASSERT_EQ(local.exit_code, 0) << local.output;
    EXPECT_EQ(json_in(local.output)["results"].size(), static_cast<std::size_t>(kRefused));
    auto tail = run({"logs", "tail", "postgresql", "--filter", "\"permission denied\""});
    ASSERT_EQ(tail.exit_code, 0) << tail.output;
    EXPECT_EQ(std::count(tail.output.begin(), tail.output.end(), '\n'), kDenied) << tail.output;

    // The function's role has no logs:* permission: refused by policy.
    aws_env_ = credentials_env({"credentials", "--role", "lambda-aurora-writer-role"});
    aws_logs({"describe-log-groups"}, 254);
    EXPECT_THAT(last_output_, HasSubstr("AccessDeniedException"));
    EXPECT_THAT(last_output_, HasSubstr("logs:DescribeLogGroups"));
  }

  std::string endpoint_url_;
  std::string ca_bundle_;
  std::vector<std::string> aws_env_;
  std::string last_output_;
};

}  // namespace observe_stack
}  // namespace writegate
