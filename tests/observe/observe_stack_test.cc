// The observe stack tests on loopback: the document's queries (observe_stack_fixture.h), debug
// logging through `aws rds modify-db-proxy`, and no secret in any log after a full run.
#include <chrono>
#include <thread>

#include "observe/observe_stack_fixture.h"

namespace writegate {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST_F(ObserveStackTest, TheDocumentsQueriesCountRefusedLoginsAndDeniedSelects) {
  documents_queries_count_refused_logins_and_denied_selects("loopback");
}

// `aws rds modify-db-proxy --[no-]debug-logging` on the running stack: the same proxy process
// (no restart) starts and stops writing its debug lines (borrow, parse/query digests, release),
// which never hold a value; `status` shows the setting; the function's role may not change it;
// an unknown proxy is DBProxyNotFoundFault.
TEST_F(ObserveStackTest, DebugLoggingTurnsOnAndOffWithoutARestart) {
  auto status = bring_up("loopback");
  ASSERT_TRUE(status.is_object());
  const int proxy_pid = status["components"]["proxy"]["pid"].get<int>();
  const std::string arn = "arn:aws:rds:us-east-1:" + status["account_id"].get<std::string>() +
                          ":db-proxy:" + status["proxy_resource_id"].get<std::string>();
  EXPECT_EQ(status["proxy_debug_logging"], false);
  aws_env_ = credentials_env({"credentials"});

  auto described = aws({"rds", "describe-db-proxies", "--db-proxy-name", "aurora-write-proxy"});
  ASSERT_EQ(described["DBProxies"].size(), 1u) << last_output_;
  EXPECT_EQ(described["DBProxies"][0]["DBProxyArn"], arn);
  EXPECT_EQ(described["DBProxies"][0]["Status"], "available");
  EXPECT_EQ(described["DBProxies"][0]["DebugLogging"], false);
  EXPECT_EQ(described["DBProxies"][0]["RequireTLS"], true);
  EXPECT_EQ(described["DBProxies"][0]["Endpoint"], status["proxy_endpoint"]);

  // Off: a write through the proxy adds no debug line.
  auto invoke = run({"invoke", "--payload", kDocumentEvent});
  ASSERT_EQ(invoke.exit_code, 0) << invoke.output;
  EXPECT_EQ(count_events(proxy_lines(), "parse") + count_events(proxy_lines(), "query"), 0u);

  auto modified =
      aws({"rds", "modify-db-proxy", "--db-proxy-name", "aurora-write-proxy", "--debug-logging"});
  EXPECT_EQ(modified["DBProxy"]["DebugLogging"], true) << last_output_;
  EXPECT_EQ(modified["DBProxy"]["DBProxyName"], "aurora-write-proxy");
  const std::size_t on_at = wait_debug_logging(true, 0);
  ASSERT_NE(on_at, 0u) << "the proxy never logged debug_logging on";
  status = json_in(run({"status", "--json"}).output);
  EXPECT_EQ(status["proxy_debug_logging"], true);
  EXPECT_EQ(status["components"]["proxy"]["pid"], proxy_pid);  // the same process
  EXPECT_EQ(status["components"]["proxy"]["state"], "running");
  EXPECT_THAT(run({"status"}).output, HasSubstr("proxy debug log    on"));

  // On: the function's write gives a borrow, its statement as a digest, and a release.
  invoke = run(
      {"invoke", "--payload",
       R"({"schema":"foo","table":"test_table","data":{"column1":"s3cr3t-value","column2":"v"}})"});
  ASSERT_EQ(invoke.exit_code, 0) << invoke.output;
  // The release is logged just after the backend's ReadyForQuery goes to the function, which
  // may answer the invoke first: wait for it (up to 5 s), do not race it.
  auto lines = proxy_lines(on_at);
  for (int i = 0; i < 50 && count_events(lines, "release") == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    lines = proxy_lines(on_at);
  }
  EXPECT_GE(count_events(lines, "borrow"), 1u);
  EXPECT_GE(count_events(lines, "release"), 1u);
  bool insert_seen = false;
  for (const auto& l : lines) {
    if (!l.is_object()) continue;
    const std::string event = l.value("event", "");
    if (event == "parse" || event == "query") {
      const std::string digest = l.value("digest", "");
      if (digest.find("insert into") != std::string::npos) insert_seen = true;
      EXPECT_EQ(l.value("user", ""), "lambda_writer");
    }
    EXPECT_EQ(l.dump().find("s3cr3t-value"), std::string::npos) << l.dump();
  }
  EXPECT_TRUE(insert_seen) << "no digest of the INSERT among the debug lines";

  // Off again: no more debug lines.
  modified = aws(
      {"rds", "modify-db-proxy", "--db-proxy-name", "aurora-write-proxy", "--no-debug-logging"});
  EXPECT_EQ(modified["DBProxy"]["DebugLogging"], false) << last_output_;
  const std::size_t off_at = wait_debug_logging(false, on_at);
  ASSERT_NE(off_at, 0u) << "the proxy never logged debug_logging off";
  invoke = run({"invoke", "--payload", kDocumentEvent});
  ASSERT_EQ(invoke.exit_code, 0) << invoke.output;
  lines = proxy_lines(off_at);
  EXPECT_EQ(
      count_events(lines, "parse") + count_events(lines, "query") + count_events(lines, "release"),
      0u);
  EXPECT_EQ(json_in(run({"status", "--json"}).output)["proxy_debug_logging"], false);

  // An unknown proxy, as RDS answers it.
  aws({"rds", "modify-db-proxy", "--db-proxy-name", "no-such-proxy", "--debug-logging"}, 254);
  EXPECT_THAT(last_output_, HasSubstr("DBProxyNotFoundFault"));
  EXPECT_THAT(last_output_, HasSubstr("DBProxy no-such-proxy not found."));
  // The function's role may not change the proxy.
  aws_env_ = credentials_env({"credentials", "--role", "lambda-aurora-writer-role"});
  aws({"rds", "modify-db-proxy", "--db-proxy-name", "aurora-write-proxy", "--debug-logging"}, 254);
  EXPECT_THAT(last_output_, HasSubstr("AccessDenied"));
  EXPECT_THAT(last_output_, HasSubstr("rds:ModifyDBProxy"));
  EXPECT_THAT(last_output_, HasSubstr(arn));
  EXPECT_EQ(json_in(run({"status", "--json"}).output)["proxy_debug_logging"], false);
}

// Every file under `root` (recursively), or `root` itself.
std::vector<fs::path> files_under(const fs::path& root) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (fs::is_regular_file(root, ec)) return {root};
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file()) out.push_back(it->path());
  return out;
}

std::string read_whole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The secrets (by what they are) found in `text`.
std::vector<std::string> secrets_in(const std::string& text,
                                    const std::map<std::string, std::string>& secrets) {
  std::vector<std::string> found;
  for (const auto& [what, value] : secrets)
    if (!value.empty() && text.find(value) != std::string::npos) found.push_back(what);
  return found;
}

// A full run — up, verify, load (300 invocations from 4 threads and a pgbench of 200
// transactions through the proxy, debug logging on), down — leaves no secret in any log group
// (read through the aws CLI's filter-log-events before down) nor in any log file (after down).
// The search first finds a planted value (a refused login's user name, which the proxy logs),
// so it cannot pass by reading nothing. Every log file is 0600 (no group or other access), the
// stack's owned by us and PostgreSQL's by its server account.
TEST_F(ObserveStackTest, NoSecretInAnyLogAfterAFullRun) {
  auto status = bring_up("loopback");
  ASSERT_TRUE(status.is_object());
  const std::string proxy_endpoint = status["proxy_endpoint"].get<std::string>();
  const int proxy_port = status["components"]["proxy"]["port"].get<int>();
  auto verify = run({"verify"});
  ASSERT_EQ(verify.exit_code, 0) << verify.output;

  std::map<std::string, std::string> secrets;
  auto env_value = [](const std::vector<std::string>& env, const std::string& key) {
    for (const auto& e : env)
      if (e.rfind(key + "=", 0) == 0) return e.substr(key.size() + 1);
    return std::string();
  };
  aws_env_ = credentials_env({"credentials"});
  secrets["the admin's secret key"] = env_value(aws_env_, "AWS_SECRET_ACCESS_KEY");
  for (const auto& [what, id] :
       std::map<std::string, std::string>{{"the master password", "aurora-master-secret"},
                                          {"the writer's password", "lambda-writer-secret"}}) {
    auto value = aws({"secretsmanager", "get-secret-value", "--secret-id", id});
    auto secret = nlohmann::json::parse(value.value("SecretString", ""), nullptr, false);
    ASSERT_TRUE(secret.is_object()) << last_output_;
    secrets[what] = secret.value("password", "");
    ASSERT_GE(secrets[what].size(), 8u) << what;
  }
  auto function_env = credentials_env({"credentials", "--role", "lambda-aurora-writer-role"});
  secrets["a session token"] = env_value(function_env, "AWS_SESSION_TOKEN");
  secrets["a session's secret key"] = env_value(function_env, "AWS_SECRET_ACCESS_KEY");
  ASSERT_FALSE(secrets["a session token"].empty());
  secrets["a presigned URL's signature"] = "X-Amz-Signature=";
  secrets["a presigned URL's session token"] = "X-Amz-Security-Token=";

  // The load, with debug logging on (the proxy logs the most then).
  aws({"rds", "modify-db-proxy", "--db-proxy-name", "aurora-write-proxy", "--debug-logging"});
  constexpr int kThreads = 4;
  constexpr int kInvokesEach = 75;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kInvokesEach; ++i) {
        const std::string event = R"({"schema":"foo","table":"test_table","data":{"column1":"t)" +
                                  std::to_string(t) + "-" + std::to_string(i) +
                                  R"(","column2":"x"}})";
        auto out = run({"invoke", "--payload", event});
        if (out.exit_code == 0 && out.output.find("\"statusCode\":200") != std::string::npos) ++ok;
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(ok.load(), kThreads * kInvokesEach);
  {
    aws_env_.swap(function_env);
    aws({"rds", "generate-db-auth-token", "--hostname", proxy_endpoint, "--port",
         std::to_string(proxy_port), "--region", "us-east-1", "--username", "lambda_writer",
         "--output", "text"});
    aws_env_.swap(function_env);
    std::string rds_token = last_output_;
    while (!rds_token.empty() && (rds_token.back() == '\n' || rds_token.back() == '\r'))
      rds_token.pop_back();
    ASSERT_NE(rds_token.find("X-Amz-Signature="), std::string::npos) << rds_token;
    secrets["the pgbench RDS token"] = rds_token;
    const fs::path script = dir_ / "insert.sql";
    std::ofstream(script) << "INSERT INTO foo.test_table (column1, column2) VALUES ('pgbench', "
                             "'row');\n";
    ProcessOptions options;
    options.extra_env = {"PGPASSWORD=" + rds_token};
    options.timeout = std::chrono::minutes(2);
    auto bench = run_process(
        {"pgbench", "-n", "-c", "4", "-j", "2", "-t", "50", "-f", script.string(),
         "host=" + proxy_endpoint + " hostaddr=127.0.0.1 port=" + std::to_string(proxy_port) +
             " dbname=mydb user=lambda_writer sslmode=verify-full "
             "sslrootcert=" +
             ca_bundle_},
        options);
    ASSERT_TRUE(bench.ok());
    EXPECT_EQ(bench->exit_code, 0) << bench->output;
    EXPECT_THAT(bench->output, HasSubstr("number of transactions actually processed: 200/200"));
  }
  // The plant: a refused login whose user name is a value the search looks for.
  const std::string planted = "wg-planted-" + std::to_string(::getpid());
  {
    ProcessOptions options;
    options.extra_env = {"PGPASSWORD=wrong", "PGCONNECT_TIMEOUT=10"};
    auto psql = run_process(
        {"psql",
         "host=" + proxy_endpoint + " hostaddr=127.0.0.1 port=" + std::to_string(proxy_port) +
             " dbname=mydb user=" + planted + " sslmode=verify-full sslrootcert=" + ca_bundle_,
         "-c", "SELECT 1"},
        options);
    ASSERT_TRUE(psql.ok());
    EXPECT_NE(psql->exit_code, 0);
  }

  // Every group through the aws CLI (filter-log-events pages through all events).
  std::string through_cli;
  std::size_t events = 0;
  auto groups = aws_logs({"describe-log-groups"});
  ASSERT_EQ(groups["logGroups"].size(), 3u) << last_output_;
  for (const auto& g : groups["logGroups"]) {
    auto all = aws_logs({"filter-log-events", "--log-group-name", g["logGroupName"]});
    ASSERT_TRUE(all.contains("events")) << last_output_.substr(0, 2000);
    for (const auto& e : all["events"]) {
      through_cli += e["message"].get<std::string>() + "\n";
      ++events;
    }
  }
  // Streams of the function: one per execution environment (4 threads: several).
  auto streams =
      aws_logs({"describe-log-streams", "--log-group-name", "/aws/lambda/aurora-writer-lambda"});
  EXPECT_GE(streams["logStreams"].size(), 2u) << last_output_;
  EXPECT_GT(events, 1000u);  // 300 invocations are START/END/REPORT and the function's lines
  EXPECT_EQ(secrets_in(through_cli, {{"planted", planted}}), std::vector<std::string>{"planted"});
  EXPECT_THAT(secrets_in(through_cli, secrets), ::testing::IsEmpty());

  // Modes and owners of every log file.
  const fs::path aurora_log = fs::path(status["components"]["aurora"]["log"].get<std::string>());
  struct stat aurora_dir {};
  ASSERT_EQ(::stat(aurora_log.parent_path().c_str(), &aurora_dir), 0);
  std::vector<fs::path> logs = files_under(fs::path(state_) / "logs");
  // PostgreSQL's: pg_ctl's output and its collector's files (postgresql-<time>.log).
  std::vector<fs::path> server_logs = files_under(aurora_log.parent_path() / "log");
  EXPECT_GE(server_logs.size(), 1u);
  server_logs.push_back(aurora_log);
  logs.insert(logs.end(), server_logs.begin(), server_logs.end());
  EXPECT_GE(logs.size(), 7u);  // proxy.log/.out, endpoint.out, function streams, PostgreSQL's
  for (const auto& path : logs) {
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << path;
    const bool server =
        std::find(server_logs.begin(), server_logs.end(), path) != server_logs.end();
    EXPECT_EQ(st.st_uid, server ? aurora_dir.st_uid : ::geteuid()) << path;
  }

  // After down: the files themselves (rotated ones and the processes' own output included).
  auto down = run({"down"});
  ASSERT_EQ(down.exit_code, 0) << down.output;
  std::string files;
  for (const auto& path : files_under(fs::path(state_) / "logs"))
    files += read_whole(path);
  for (const auto& path : files_under(aurora_log.parent_path() / "log"))
    files += read_whole(path);
  files += read_whole(aurora_log);
  EXPECT_EQ(secrets_in(files, {{"planted", planted}}), std::vector<std::string>{"planted"});
  EXPECT_THAT(secrets_in(files, secrets), ::testing::IsEmpty());
  std::cout << "searched " << events << " events of 3 groups (" << streams["logStreams"].size()
            << " function streams) through the aws CLI and " << files.size() << " bytes of "
            << logs.size() << " log files for " << secrets.size() << " secrets" << std::endl;
}

}  // namespace
}  // namespace writegate
