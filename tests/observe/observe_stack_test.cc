// The architecture document's section 8 queries, as written, through the real aws CLI against a
// running stack: `writegate up --network loopback`, 3 logins with a wrong password through the
// proxy, 2 denied SELECTs, then `aws logs start-query` / `get-query-results` must count exactly
// those. Also filter-log-events, `writegate logs query|tail`, and a role without logs:* refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli/stack_fixture.h"
#include "common/process.h"

namespace writegate {
namespace {

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

// The whole-stack fixture (state folder per test, `run`, nothing left running after).
class ObserveStackTest : public StackTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kAws)) << kAws << " (Debian's awscli) is needed: apt-get install awscli";
    StackTest::SetUp();
  }

  // `aws logs ...` as the local administrator (or the given export lines' identity).
  nlohmann::json aws_logs(const std::vector<std::string>& args, int want_exit = 0) {
    std::vector<std::string> argv = {kAws,       "--endpoint-url", endpoint_url_, "--ca-bundle",
                                     ca_bundle_, "--output",       "json",        "logs"};
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

  std::string endpoint_url_;
  std::string ca_bundle_;
  std::vector<std::string> aws_env_;
  std::string last_output_;
};

TEST_F(ObserveStackTest, TheDocumentsQueriesCountRefusedLoginsAndDeniedSelects) {
  auto status = up_loopback();
  ASSERT_TRUE(status.is_object());
  endpoint_url_ = status["endpoint_url"].get<std::string>();
  ca_bundle_ = status["ca_bundle"].get<std::string>();
  const std::string proxy_endpoint = status["proxy_endpoint"].get<std::string>();
  const int proxy_port = status["components"]["proxy"]["port"].get<int>();
  aws_env_ = credentials_env({"credentials"});

  // Before: `up`'s own check is the one connection so far, and nothing was refused or denied.
  EXPECT_EQ(total_count(query(kProxyGroup, kConnectionPattern)), 1) << last_output_;
  EXPECT_EQ(query(kProxyGroup, kFailedAuthentication).size(), 0u) << last_output_;

  constexpr int kRefused = 3;
  constexpr int kDenied = 2;
  for (int i = 0; i < kRefused; ++i) {
    ProcessOptions options;
    options.extra_env = {"PGPASSWORD=wrong", "PGCONNECT_TIMEOUT=10"};
    auto psql = run_process(
        {"psql",
         "host=" + proxy_endpoint + " hostaddr=127.0.0.1 port=" + std::to_string(proxy_port) +
             " dbname=mydb user=lambda_writer sslmode=verify-full "
             "sslrootcert=" +
             ca_bundle_,
         "-c", "SELECT 1"},
        options);
    ASSERT_TRUE(psql.ok());
    EXPECT_NE(psql->exit_code, 0);
    EXPECT_THAT(psql->output, HasSubstr("IAM authentication failed"));
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
  aws_logs({"start-query", "--log-group-name", kProxyGroup, "--start-time", "0", "--end-time", "1",
            "--query-string",
            std::string("-- Find failed authentication attempts\n") + kFailedAuthentication},
           254);
  EXPECT_THAT(last_output_, HasSubstr("MalformedQueryException"));

  // filter-log-events with a quoted phrase; describe-log-groups names the three groups.
  auto events = aws_logs({"filter-log-events", "--log-group-name", kProxyGroup, "--filter-pattern",
                          "\"authentication failed\""});
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

}  // namespace
}  // namespace writegate
