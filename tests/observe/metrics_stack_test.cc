// The stack's metrics, live: `writegate up --network loopback`, one function invocation and a
// pgbench run of INSERTs through the proxy (IAM token from `aws rds generate-db-auth-token`), then
// Debian's aws CLI reads them back with get-metric-statistics and get-metric-data (AWS/RDS by
// ProxyName, DBClusterIdentifier and DbUser; AWS/Lambda by FunctionName), the Prometheus page
// shows the same, the function's role is refused, and bad requests get CloudWatch's errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "cli/stack_fixture.h"
#include "common/process.h"

namespace writegate {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kAws = "/usr/bin/aws";  // Debian's aws CLI v2 (cloudwatch: query protocol)
// Its botocore's model of CloudWatch (made to say JSON 1.0 below).
constexpr const char* kCliCloudWatchModel =
    "/usr/lib/python3/dist-packages/awscli/botocore/data/cloudwatch/2010-08-01/service-2.json";
constexpr int kClients = 4;
constexpr int kTransactions = 25;  // per client

class MetricsStackTest : public StackTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kAws)) << kAws << " (Debian's awscli) is needed";
    ASSERT_TRUE(fs::exists("/usr/bin/pgbench")) << "pgbench (postgresql-client) is needed";
    StackTest::SetUp();
  }

  // `aws ARGS...` against the stack's endpoint with `env`'s identity; the JSON it printed.
  json aws(const std::vector<std::string>& args, const std::vector<std::string>& env,
           int want_exit = 0) {
    std::vector<std::string> argv = {kAws,       "--endpoint-url", endpoint_url_, "--ca-bundle",
                                     ca_bundle_, "--output",       "json"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.extra_env = env;
    options.timeout = std::chrono::seconds(60);
    auto out = run_process(argv, options);
    EXPECT_TRUE(out.ok());
    if (!out) return json();
    last_output_ = out->output;
    EXPECT_EQ(out->exit_code, want_exit) << out->output;
    return json_in(out->output);
  }

  // One hour-long period around now: a single datapoint with the whole run in it.
  std::vector<std::string> window() const {
    return {"--start-time", start_, "--end-time", end_, "--period", "3600"};
  }

  // get-metric-statistics of one metric; the single datapoint (or null when there is none).
  json statistics(const std::string& ns, const std::string& metric,
                  const std::vector<std::string>& dimensions) {
    std::vector<std::string> args = {
        "cloudwatch",   "get-metric-statistics", "--namespace", ns,    "--metric-name", metric,
        "--statistics", "SampleCount",           "Average",     "Sum", "Minimum",       "Maximum"};
    auto w = window();
    args.insert(args.end(), w.begin(), w.end());
    if (!dimensions.empty()) {
      args.push_back("--dimensions");
      args.insert(args.end(), dimensions.begin(), dimensions.end());
    }
    auto out = aws(args, admin_env_);
    if (!out.is_object() || out["Datapoints"].empty()) return json();
    EXPECT_EQ(out["Datapoints"].size(), 1u) << last_output_;
    EXPECT_EQ(out["Label"], metric);
    return out["Datapoints"][0];
  }

  // Polls `statistics` until `ready` holds (the sampler ticks every 5 s), 60 s at most.
  json wait_for(const std::string& ns, const std::string& metric,
                const std::vector<std::string>& dimensions,
                const std::function<bool(const json&)>& ready) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    json point;
    while (std::chrono::steady_clock::now() < deadline) {
      point = statistics(ns, metric, dimensions);
      if (point.is_object() && ready(point)) return point;
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
    ADD_FAILURE() << ns << " " << metric << " never got there; last: " << last_output_;
    return point;
  }

  // The dashboard in headless Chromium: its headers, a screenshot whose charts have coloured
  // lines (pixels counted), the drawn DOM, and Chromium's net log: every request went to the
  // endpoint. Chromium trusts exactly the endpoint's key (its SPKI hash), and a dead proxy
  // (127.0.0.1:9) stands for any address but loopback, so nothing could leave the machine.
  void check_dashboard(const std::string& url) {
    ASSERT_EQ(url, endpoint_url_ + "/dashboard");
    auto headers = run_process({"curl", "-sS", "-o", "/dev/null", "-D", "-", "--max-time", "10",
                                "--cacert", ca_bundle_, url});
    ASSERT_TRUE(headers.ok());
    EXPECT_THAT(headers->output, HasSubstr("Content-Security-Policy: default-src 'self'"));
    auto spki = run_process({"sh", "-c",
                             "openssl x509 -in '" + state_ +
                                 "/pki/endpoint.crt' -pubkey -noout | openssl pkey "
                                 "-pubin -outform der | openssl dgst -sha256 -binary | base64"});
    ASSERT_TRUE(spki.ok());
    std::string hash = spki->output;
    while (!hash.empty() && (hash.back() == '\n' || hash.back() == '\r'))
      hash.pop_back();
    ASSERT_EQ(hash.size(), 44u) << spki->output;
    const std::string png = (dir_ / "dashboard.png").string();
    const std::string netlog = (dir_ / "netlog.json").string();
    auto chromium = [&](std::vector<std::string> extra) {
      std::vector<std::string> argv = {"/usr/bin/chromium",
                                       "--headless=new",
                                       "--no-sandbox",
                                       "--disable-gpu",
                                       "--hide-scrollbars",
                                       "--window-size=1300,1100",
                                       "--virtual-time-budget=12000",
                                       "--disable-background-networking",
                                       "--disable-component-update",
                                       "--no-first-run",
                                       "--disable-sync",
                                       "--disable-default-apps",
                                       "--proxy-server=http://127.0.0.1:9",
                                       "--user-data-dir=" + (dir_ / "chromium").string(),
                                       "--ignore-certificate-errors-spki-list=" + hash};
      argv.insert(argv.end(), extra.begin(), extra.end());
      argv.push_back(url);
      ProcessOptions options;
      options.timeout = std::chrono::seconds(90);
      return run_process(argv, options);
    };
    auto shot = chromium({"--screenshot=" + png, "--log-net-log=" + netlog});
    ASSERT_TRUE(shot.ok());
    ASSERT_EQ(shot->exit_code, 0) << shot->output;
    // Kept beside the build for a person to look at.
    const fs::path kept = fs::path(writegate_bin()).parent_path().parent_path() / "test-artifacts";
    fs::create_directories(kept);
    fs::copy_file(png, kept / "dashboard.png", fs::copy_options::overwrite_existing);
    fs::copy_file(netlog, kept / "dashboard-netlog.json", fs::copy_options::overwrite_existing);
    auto colours = run_process(
        {"python3",
         std::string(std::getenv("WRITEGATE_SOURCE_DIR")) + "/tests/observe/png_colors.py", png,
         "1f77b4", "d62728", "2ca02c"});
    ASSERT_TRUE(colours.ok());
    auto counts = json_in(colours->output);
    ASSERT_TRUE(counts.is_object()) << colours->output;
    std::cout << "dashboard screenshot " << png << ": " << counts.dump() << "\n";
    EXPECT_EQ(counts["width"], 1300);
    // Lines and points only (the legend's swatches are paler, so a page without data has none of
    // these colours): at least a point (about 25 pixels) in each of the six charts' first series,
    // and in the second series of three of them. How long the lines are depends on how many
    // samples the run left, so no more is asked; the DOM check below says every series has data.
    EXPECT_GT(counts["1f77b4"].get<int>(), 6 * 25) << counts.dump();
    EXPECT_GT(counts["d62728"].get<int>(), 25) << counts.dump();
    auto dom = chromium({"--dump-dom"});
    ASSERT_TRUE(dom.ok());
    const std::string& html = dom->output;
    std::size_t paths = 0;
    for (std::size_t at = html.find("<path"); at != std::string::npos;
         at = html.find("<path", at + 1))
      ++paths;
    EXPECT_GE(paths, 6u) << html.substr(0, 4000);
    // Every series of every chart has data after the run.
    EXPECT_THAT(html, Not(HasSubstr(": no data"))) << html.substr(0, 4000);
    EXPECT_THAT(html, HasSubstr("data-loaded=\"true\""));
    EXPECT_THAT(html, HasSubstr("IAM authentication failed"));
    // Every request the page made (its initiator is an origin; Chromium's own background
    // requests have none and went to the dead proxy) is the endpoint's.
    std::ifstream in(netlog);
    const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(log.empty());
    // One event per line; a request's start names its initiator, then its URL.
    auto member = [](const std::string& line, std::size_t from, const std::string& key) {
      const std::size_t at = line.find("\"" + key + "\":\"", from);
      if (at == std::string::npos) return std::make_pair(std::string(), at);
      const std::size_t begin = at + key.size() + 4;
      const std::size_t close = line.find('"', begin);
      return std::make_pair(line.substr(begin, close - begin), close);
    };
    std::set<std::string> urls;
    std::size_t by_page = 0;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
      const auto [initiator, after] = member(line, 0, "initiator");
      if (after == std::string::npos) continue;
      const std::string u = member(line, after, "url").first;
      urls.insert(u);
      if (initiator == "not an origin") continue;  // the navigation, or the browser's own
      ++by_page;
      EXPECT_EQ(initiator, endpoint_url_);
      EXPECT_EQ(u.rfind(endpoint_url_ + "/", 0), 0u) << "the page loaded " << u;
    }
    EXPECT_GE(by_page, 3u);
    for (const char* path :
         {"/dashboard", "/dashboard/app.js", "/dashboard/app.css", "/dashboard/data"}) {
      EXPECT_TRUE(urls.count(endpoint_url_ + path)) << path << " not requested";
    }
  }

  std::string endpoint_url_;
  std::string ca_bundle_;
  std::string start_;
  std::string end_;
  std::vector<std::string> admin_env_;
  std::string last_output_;
};

std::string format_utc(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

TEST_F(MetricsStackTest, PgbenchThroughTheProxyMovesTheMetricsTheAwsCliReads) {
  std::string up_output;
  auto status = up_loopback(&up_output);
  ASSERT_TRUE(status.is_object());
  endpoint_url_ = status["endpoint_url"].get<std::string>();
  ca_bundle_ = status["ca_bundle"].get<std::string>();
  EXPECT_EQ(status["prometheus_url"], endpoint_url_ + "/metrics");
  EXPECT_THAT(up_output, HasSubstr("Prometheus         " + endpoint_url_ + "/metrics"));
  const std::string proxy_endpoint = status["proxy_endpoint"].get<std::string>();
  const int proxy_port = status["components"]["proxy"]["port"].get<int>();
  const auto now = std::chrono::system_clock::now();
  start_ = format_utc(now - std::chrono::minutes(30));
  end_ = format_utc(now + std::chrono::minutes(30));
  admin_env_ = credentials_env({"credentials"});
  const auto lambda_env = credentials_env({"credentials", "--role", "lambda-aurora-writer-role"});

  // One invocation of the function.
  auto invoked = run({"invoke", "--payload", kDocumentEvent});
  ASSERT_EQ(invoked.exit_code, 0) << invoked.output;

  // pgbench: kClients clients, kTransactions INSERTs each, through the proxy with an IAM token
  // of the function's role.
  auto token =
      aws({"rds", "generate-db-auth-token", "--hostname", proxy_endpoint, "--port",
           std::to_string(proxy_port), "--username", "lambda_writer", "--region", "us-east-1"},
          lambda_env);
  std::string token_text = last_output_;
  while (!token_text.empty() && (token_text.back() == '\n' || token_text.back() == '"'))
    token_text.pop_back();
  if (!token_text.empty() && token_text.front() == '"') token_text.erase(0, 1);
  ASSERT_THAT(token_text, HasSubstr("X-Amz-Signature="));
  const std::string script = (dir_ / "insert.sql").string();
  std::ofstream(script) << "INSERT INTO foo.test_table (column1, column2) VALUES ('pgbench', "
                           "'metrics');\n";
  ProcessOptions pg;
  pg.extra_env = {"PGPASSWORD=" + token_text, "PGSSLMODE=verify-full",
                  "PGSSLROOTCERT=" + ca_bundle_, "PGHOSTADDR=127.0.0.1", "PGCONNECT_TIMEOUT=10"};
  pg.timeout = std::chrono::minutes(2);
  auto bench = run_process({"/usr/bin/pgbench", "-n", "-f", script, "-c", std::to_string(kClients),
                            "-j", "2", "-t", std::to_string(kTransactions), "-h", proxy_endpoint,
                            "-p", std::to_string(proxy_port), "-U", "lambda_writer", "mydb"},
                           pg);
  ASSERT_TRUE(bench.ok());
  ASSERT_EQ(bench->exit_code, 0) << bench->output;
  EXPECT_THAT(bench->output, HasSubstr("number of transactions actually processed: " +
                                       std::to_string(kClients * kTransactions)));

  const std::vector<std::string> proxy = {"Name=ProxyName,Value=aurora-write-proxy"};
  const std::vector<std::string> cluster = {"Name=DBClusterIdentifier,Value=my-aurora-cluster"};
  const std::vector<std::string> writer = {"Name=DBClusterIdentifier,Value=my-aurora-cluster",
                                           "Name=DbUser,Value=lambda_writer"};
  const std::vector<std::string> function = {"Name=FunctionName,Value=aurora-writer-lambda"};

  // The proxy: every INSERT is a query request; pgbench's clients were received and logged in.
  auto queries = wait_for("AWS/RDS", "QueryRequests", proxy, [](const json& p) {
    return p["Sum"].get<double>() >= kClients * kTransactions;
  });
  EXPECT_GE(queries["Sum"].get<double>(), kClients * kTransactions);
  EXPECT_EQ(queries["Unit"], "Count");
  auto received = statistics("AWS/RDS", "ClientConnectionsSetupSucceeded", proxy);
  ASSERT_TRUE(received.is_object()) << last_output_;
  // up's check, the function's connection, and pgbench's (one per client, one for its set-up).
  EXPECT_GE(received["Sum"].get<double>(), 2 + kClients);
  EXPECT_LE(received["Sum"].get<double>(), 2 + kClients + 1);
  EXPECT_EQ(statistics("AWS/RDS", "ClientConnectionsSetupFailedAuth", proxy)["Sum"], 0);
  auto latency = statistics("AWS/RDS", "QueryDatabaseResponseLatency", proxy);
  ASSERT_TRUE(latency.is_object());
  EXPECT_GT(latency["Average"].get<double>(), 0);
  EXPECT_EQ(latency["Unit"], "Microseconds");
  auto proxy_db = statistics("AWS/RDS", "DatabaseConnections", proxy);
  ASSERT_TRUE(proxy_db.is_object());
  EXPECT_GE(proxy_db["Maximum"].get<double>(), 1);

  // The database: the writer's connections are the proxy's backends; INSERTs were timed.
  auto writer_connections = statistics("AWS/RDS", "DatabaseConnections", writer);
  ASSERT_TRUE(writer_connections.is_object()) << last_output_;
  EXPECT_GE(writer_connections["Maximum"].get<double>(), 1);
  EXPECT_LE(writer_connections["Maximum"].get<double>(), proxy_db["Maximum"].get<double>());
  auto all_connections = statistics("AWS/RDS", "DatabaseConnections", cluster);
  ASSERT_TRUE(all_connections.is_object());
  EXPECT_GE(all_connections["Maximum"].get<double>(), writer_connections["Maximum"].get<double>());
  auto dml = wait_for("AWS/RDS", "DMLLatency", cluster,
                      [](const json& p) { return p["SampleCount"].get<double>() >= 1; });
  EXPECT_GT(dml["Average"].get<double>(), 0);
  EXPECT_EQ(dml["Unit"], "Milliseconds");
  auto commit = wait_for("AWS/RDS", "CommitLatency", cluster,
                         [](const json& p) { return p["SampleCount"].get<double>() >= 1; });
  EXPECT_GT(commit["Maximum"].get<double>(), 0);

  // The function: exactly the one invocation.
  auto invocations = wait_for("AWS/Lambda", "Invocations", function,
                              [](const json& p) { return p["Sum"].get<double>() >= 1; });
  EXPECT_EQ(invocations["Sum"], 1);
  EXPECT_EQ(statistics("AWS/Lambda", "Errors", function)["Sum"], 0);
  auto duration = statistics("AWS/Lambda", "Duration", function);
  EXPECT_EQ(duration["SampleCount"], 1);
  EXPECT_GT(duration["Maximum"].get<double>(), 0);
  EXPECT_EQ(duration["Unit"], "Milliseconds");
  EXPECT_EQ(statistics("AWS/Lambda", "ConcurrentExecutions", function)["Maximum"], 1);

  // get-metric-data: the same numbers.
  const std::string queries_json =
      R"([{"Id":"q","MetricStat":{"Metric":{"Namespace":"AWS/RDS","MetricName":"QueryRequests",)"
      R"("Dimensions":[{"Name":"ProxyName","Value":"aurora-write-proxy"}]},"Period":3600,)"
      R"("Stat":"Sum"}},{"Id":"inv","Label":"calls","MetricStat":{"Metric":{"Namespace":)"
      R"("AWS/Lambda","MetricName":"Invocations","Dimensions":[{"Name":"FunctionName",)"
      R"("Value":"aurora-writer-lambda"}]},"Period":3600,"Stat":"Sum"}}])";
  const double query_sum = statistics("AWS/RDS", "QueryRequests", proxy)["Sum"].get<double>();
  auto data = aws({"cloudwatch", "get-metric-data", "--metric-data-queries", queries_json,
                   "--start-time", start_, "--end-time", end_},
                  admin_env_);
  ASSERT_EQ(data["MetricDataResults"].size(), 2u) << last_output_;
  EXPECT_EQ(data["MetricDataResults"][0]["Id"], "q");
  EXPECT_EQ(data["MetricDataResults"][0]["StatusCode"], "Complete");
  ASSERT_EQ(data["MetricDataResults"][0]["Values"].size(), 1u);
  // The sampler may have added an idle tick's zero in between: the sum stays.
  EXPECT_EQ(data["MetricDataResults"][0]["Values"][0].get<double>(), query_sum);
  EXPECT_EQ(data["MetricDataResults"][1]["Label"], "calls");
  EXPECT_EQ(data["MetricDataResults"][1]["Values"][0], 1);

  // get-metric-data in pages: with MaxDatapoints 3 (--page-size) the CLI follows the
  // NextTokens and every datapoint arrives once, in the order of one unpaged answer. The window
  // ends 5 s ago: a tick still recording cannot add a datapoint between the two calls. Paging
  // needs more than 3 datapoints, so wait (up to a minute) until the sampler has made them: a
  // slow machine (or a sanitizer build) may not have ticked often enough yet.
  const std::string five_second_queries =
      R"([{"Id":"c","MetricStat":{"Metric":{"Namespace":"AWS/RDS","MetricName":)"
      R"("DatabaseConnections","Dimensions":[{"Name":"ProxyName","Value":"aurora-write-proxy"}]},)"
      R"("Period":5,"Stat":"Maximum"}},{"Id":"d","MetricStat":{"Metric":{"Namespace":"AWS/RDS",)"
      R"("MetricName":"DatabaseConnections","Dimensions":[{"Name":"DBClusterIdentifier",)"
      R"("Value":"my-aurora-cluster"}]},"Period":5,"Stat":"Maximum"}}])";
  auto with = [](std::vector<std::string> args, std::vector<std::string> more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  std::vector<std::string> five_seconds;
  json whole;
  std::map<std::string, std::pair<json, json>> unpaged;  // Id -> timestamps, values
  std::size_t datapoints = 0;
  const auto ticks_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    const std::string until =
        format_utc(std::chrono::system_clock::now() - std::chrono::seconds(5));
    five_seconds = {"cloudwatch",
                    "get-metric-data",
                    "--metric-data-queries",
                    five_second_queries,
                    "--start-time",
                    start_,
                    "--end-time",
                    until};
    whole = aws(with(five_seconds, {"--no-paginate"}), admin_env_);
    ASSERT_EQ(whole["MetricDataResults"].size(), 2u) << last_output_;
    unpaged.clear();
    datapoints = 0;
    for (const auto& r : whole["MetricDataResults"]) {
      unpaged[r["Id"].get<std::string>()] = {r["Timestamps"], r["Values"]};
      datapoints += r["Values"].size();
    }
    if (datapoints > 3 || std::chrono::steady_clock::now() > ticks_deadline) break;
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  EXPECT_FALSE(whole.contains("NextToken"));
  for (const auto& r : whole["MetricDataResults"])
    EXPECT_EQ(r["StatusCode"], "Complete");
  ASSERT_GT(datapoints, 3u) << "too few ticks to page after a minute: " << last_output_;
  auto paged = aws(with(five_seconds, {"--page-size", "3"}), admin_env_);
  std::map<std::string, std::pair<json, json>> joined;
  std::map<std::string, int> entries;
  int partial = 0;
  for (const auto& r : paged["MetricDataResults"]) {
    auto& [timestamps, values] = joined[r["Id"].get<std::string>()];
    if (timestamps.is_null()) timestamps = values = json::array();
    for (const auto& t : r["Timestamps"])
      timestamps.push_back(t);
    for (const auto& v : r["Values"])
      values.push_back(v);
    entries[r["Id"].get<std::string>()]++;
    partial += r["StatusCode"] == "PartialData" ? 1 : 0;
  }
  EXPECT_EQ(joined, unpaged) << last_output_;
  EXPECT_GE(entries["c"], static_cast<int>((datapoints + 2) / 3)) << "one entry per page";
  EXPECT_GT(partial, 0) << last_output_;
  // A token it did not hand out: CloudWatch's error.
  aws(with(five_seconds, {"--starting-token", "0.-.0123456789abcdef0123456789abcdef"}), admin_env_,
      254);
  EXPECT_THAT(last_output_, HasSubstr("(InvalidNextToken)"));
  EXPECT_THAT(last_output_, HasSubstr("The next token specified is invalid."));

  // The same through CloudWatch's JSON 1.0 protocol, which current SDKs speak (botocore 1.43
  // picks it): the same aws CLI given the model newer SDKs ship, whose metadata says "json"
  // (jsonVersion 1.0, targetPrefix GraniteServiceVersion20100801, awsQueryCompatible), through
  // ~/.aws/models, which botocore reads before its own.
  const fs::path json_home = dir_ / "json10-home";
  {
    std::ifstream in(kCliCloudWatchModel);
    ASSERT_TRUE(in) << kCliCloudWatchModel << " (Debian's awscli) is needed";
    json model = json::parse(in);
    ASSERT_EQ(model["metadata"]["protocol"], "query");
    model["metadata"]["protocol"] = "json";
    model["metadata"]["jsonVersion"] = "1.0";
    model["metadata"]["targetPrefix"] = "GraniteServiceVersion20100801";
    model["metadata"]["awsQueryCompatible"] = json::object();
    const fs::path dir = json_home / ".aws/models/cloudwatch/2010-08-01";
    fs::create_directories(dir);
    std::ofstream(dir / "service-2.json") << model.dump();
  }
  auto json10_env = admin_env_;
  json10_env.push_back("HOME=" + json_home.string());
  // It really is JSON 1.0 on the wire: the CLI's debug log shows the request it sent.
  aws(with(five_seconds, {"--no-paginate", "--debug"}), json10_env);
  ASSERT_THAT(last_output_,
              HasSubstr("'X-Amz-Target': 'GraniteServiceVersion20100801.GetMetricData'"));
  ASSERT_THAT(last_output_, HasSubstr("'Content-Type': 'application/x-amz-json-1.0'"));
  auto whole10 = aws(with(five_seconds, {"--no-paginate"}), json10_env);
  EXPECT_EQ(whole10["MetricDataResults"], whole["MetricDataResults"]) << last_output_;
  auto paged10 = aws(with(five_seconds, {"--page-size", "3"}), json10_env);
  EXPECT_EQ(paged10["MetricDataResults"], paged["MetricDataResults"]) << last_output_;
  EXPECT_EQ(aws({"cloudwatch", "get-metric-statistics", "--namespace", "AWS/Lambda",
                 "--metric-name", "Invocations", "--dimensions", function[0], "--statistics", "Sum",
                 "--start-time", start_, "--end-time", end_, "--period", "3600"},
                json10_env)["Datapoints"][0]["Sum"],
            1)
      << last_output_;
  aws({"cloudwatch", "get-metric-statistics", "--namespace", "AWS/RDS", "--metric-name", "X",
       "--statistics", "Sum", "--start-time", start_, "--end-time", end_, "--period", "61"},
      json10_env, 254);
  EXPECT_THAT(last_output_, HasSubstr("(InvalidParameterValue)"));
  auto lambda10_env = lambda_env;
  lambda10_env.push_back("HOME=" + json_home.string());
  aws({"cloudwatch", "get-metric-data", "--metric-data-queries", queries_json, "--start-time",
       start_, "--end-time", end_},
      lambda10_env, 254);
  EXPECT_THAT(last_output_, HasSubstr("(AccessDenied)"));
  EXPECT_THAT(last_output_, HasSubstr("cloudwatch:GetMetricData"));

  // The Prometheus page: the whole stack's newest samples, no signature needed.
  auto page = run_process(
      {"curl", "-sS", "--max-time", "10", "--cacert", ca_bundle_, endpoint_url_ + "/metrics"});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->exit_code, 0) << page->output;
  EXPECT_THAT(page->output, HasSubstr("aws_rds_QueryRequests{ProxyName=\"aurora-write-proxy\"} "));
  EXPECT_THAT(page->output,
              HasSubstr("aws_rds_DatabaseConnections{DBClusterIdentifier=\"my-aurora-cluster\","
                        "DbUser=\"lambda_writer\"} "));
  EXPECT_THAT(page->output,
              HasSubstr("aws_lambda_Invocations{FunctionName=\"aurora-writer-lambda\"} 1 "));

  // The function's role may not read metrics.
  aws({"cloudwatch", "get-metric-statistics", "--namespace", "AWS/RDS", "--metric-name",
       "DatabaseConnections", "--statistics", "Maximum", "--start-time", start_, "--end-time", end_,
       "--period", "60"},
      lambda_env, 254);
  EXPECT_THAT(last_output_, HasSubstr("(AccessDenied)"));
  EXPECT_THAT(last_output_, HasSubstr("cloudwatch:GetMetricStatistics"));
  aws({"cloudwatch", "get-metric-data", "--metric-data-queries", queries_json, "--start-time",
       start_, "--end-time", end_},
      lambda_env, 254);
  EXPECT_THAT(last_output_, HasSubstr("cloudwatch:GetMetricData"));

  // Bad requests: CloudWatch's errors.
  aws({"cloudwatch", "get-metric-statistics", "--namespace", "AWS/RDS", "--metric-name", "X",
       "--statistics", "Sum", "--start-time", start_, "--end-time", end_, "--period", "61"},
      admin_env_, 254);
  EXPECT_THAT(last_output_, HasSubstr("(InvalidParameterValue)"));
  EXPECT_THAT(last_output_, HasSubstr("Period must be 1, 5, 10, 30, or a multiple of 60"));
  aws({"cloudwatch", "get-metric-statistics", "--namespace", "AWS/RDS", "--metric-name", "X",
       "--statistics", "Sum", "--start-time", end_, "--end-time", start_, "--period", "60"},
      admin_env_, 254);
  EXPECT_THAT(last_output_,
              HasSubstr("The parameter StartTime must be less than the parameter EndTime."));
  aws({"cloudwatch", "get-metric-statistics", "--namespace", "AWS/RDS", "--metric-name", "X",
       "--statistics", "Sum", "--start-time", start_, "--end-time", end_, "--period", "1"},
      admin_env_, 254);
  EXPECT_THAT(last_output_, HasSubstr("(InvalidParameterCombination)"));
  EXPECT_THAT(last_output_, HasSubstr("exceeds the limit of 1,440"));

  // One refused login, for the dashboard's table.
  ProcessOptions wrong;
  wrong.extra_env = {"PGPASSWORD=wrong", "PGCONNECT_TIMEOUT=10"};
  auto refused = run_process(
      {"psql",
       "host=" + proxy_endpoint + " hostaddr=127.0.0.1 port=" + std::to_string(proxy_port) +
           " dbname=mydb user=lambda_writer sslmode=verify-full sslrootcert=" + ca_bundle_,
       "-c", "SELECT 1"},
      wrong);
  ASSERT_TRUE(refused.ok());
  EXPECT_THAT(refused->output, HasSubstr("IAM authentication failed"));
  check_dashboard(status["dashboard_url"].get<std::string>());
}

}  // namespace
}  // namespace writegate
