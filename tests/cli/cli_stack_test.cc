// The whole stack as a user runs it: `writegate up` → `invoke` → `psql` → `exec` → `down`, in
// loopback mode and (as root) in network namespaces, with the real aws CLI and psql; a second
// `up` changes nothing; a failing `up` and every `down` leave no process, namespace, link or
// rule behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "common/process.h"

namespace writegate {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

std::string writegate_bin() {
  const char* dir = std::getenv("WRITEGATE_BIN_DIR");
  return std::string(dir ? dir : "bin") + "/writegate";
}

constexpr const char* kDocumentEvent =
    R"({"schema":"foo","table":"test_table","data":{"column1":"value1","column2":"value2"}})";

// Processes whose command line names `text` (the stack's state folder is on the command line of
// writegate-proxy, the endpoint and postgres).
std::vector<std::string> processes_mentioning(const std::string& text) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (pid == std::to_string(::getpid())) continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (char& c : cmdline)
      if (c == '\0') c = ' ';
    if (cmdline.find(text) != std::string::npos) found.push_back(pid + ": " + cmdline);
  }
  return found;
}

class StackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("wg-stack-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    state_ = (dir_ / "state").string();
  }
  void TearDown() override {
    // Whatever happened, nothing may be left running.
    (void)run({"down", "--purge"});
    EXPECT_THAT(processes_mentioning(state_), ::testing::IsEmpty());
    fs::remove_all(dir_);
  }

  ProcessOutput run(const std::vector<std::string>& args, std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {writegate_bin(), "--state", state_};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    // `up` remembers the last stack in $XDG_RUNTIME_DIR/writegate/current: one per test.
    env.push_back("XDG_RUNTIME_DIR=" + (dir_ / "run").string());
    options.extra_env = std::move(env);
    options.timeout = std::chrono::minutes(3);
    auto out = run_process(argv, options);
    EXPECT_TRUE(out.ok()) << out.error().message();
    return out ? *out : ProcessOutput{};
  }
  nlohmann::json status() {
    auto out = run({"status", "--json"});
    return nlohmann::json::parse(out.output, nullptr, false);
  }

  fs::path dir_;
  std::string state_;
};

TEST_F(StackTest, LoopbackUpInvokePsqlCredentialsDown) {
  auto up = run({"up", "--network", "loopback"});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  EXPECT_THAT(up.output, HasSubstr("[7/7] a writer login through the proxy ... ok"));
  EXPECT_THAT(up.output, HasSubstr("loopback mode"));  // says which guarantees it loses
  const auto s = status();
  ASSERT_FALSE(s.is_discarded());
  EXPECT_EQ(s["status"], "up");
  EXPECT_EQ(s["mode"], "loopback");
  for (const char* name : {"aurora", "proxy", "endpoint"})
    EXPECT_EQ(s["components"][name]["state"], "running") << name;
  EXPECT_TRUE(std::regex_match(
      s["proxy_endpoint"].get<std::string>(),
      std::regex(R"(aurora-write-proxy\.proxy-[a-z0-9]{12}\.us-east-1\.rds\.amazonaws\.com)")));
  EXPECT_TRUE(std::regex_match(
      s["cluster_endpoint"].get<std::string>(),
      std::regex(R"(my-aurora-cluster\.cluster-[a-z0-9]{12}\.us-east-1\.rds\.amazonaws\.com)")));
  EXPECT_TRUE(
      std::regex_match(s["proxy_resource_id"].get<std::string>(), std::regex("prx-[0-9a-f]{17}")));

  // Every security claim, proven live (the network's are not provable without namespaces).
  auto verify = run({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr(" 0 failed, 12 skipped"));

  // Other commands find the stack by themselves: no --state, another working directory.
  ProcessOptions elsewhere;
  elsewhere.extra_env = {"XDG_RUNTIME_DIR=" + (dir_ / "run").string()};
  auto found = run_process({"sh", "-c", "cd / && " + writegate_bin() + " status"}, elsewhere);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->exit_code, 0) << found->output;
  EXPECT_THAT(found->output, HasSubstr("stack " + state_ + ": up"));

  // A second `up` changes nothing: same pids.
  auto again = run({"up"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("is up already; nothing changed"));
  EXPECT_EQ(status()["components"], s["components"]);

  // Test 1 of the document, through the Lambda Invoke API (endpoint, CA and key found by itself).
  auto invoke = run({"invoke", "--payload", kDocumentEvent});
  ASSERT_EQ(invoke.exit_code, 0) << invoke.output;
  EXPECT_THAT(invoke.output, HasSubstr(R"("statusCode":200)"));
  EXPECT_THAT(invoke.output, HasSubstr("Data inserted successfully"));

  // psql as the writer: INSERT works, SELECT is denied.
  auto insert = run({"psql", "--", "-c",
                     "INSERT INTO foo.test_table (column1, column2) VALUES ('test', 'data');"});
  ASSERT_EQ(insert.exit_code, 0) << insert.output;
  EXPECT_THAT(insert.output, HasSubstr("INSERT 0 1"));
  auto select = run({"psql", "--", "-c", "SELECT * FROM foo.test_table"});
  EXPECT_NE(select.exit_code, 0);
  EXPECT_THAT(select.output, HasSubstr("permission denied for table test_table"));

  // The administrator's key works with the real aws CLI against the stack's endpoint.
  auto creds = run({"credentials"});
  ASSERT_EQ(creds.exit_code, 0) << creds.output;
  std::smatch key, secret;
  const std::string text = creds.output;
  ASSERT_TRUE(std::regex_search(text, key, std::regex("AWS_ACCESS_KEY_ID=(AKIA[A-Z2-7]{16})")));
  ASSERT_TRUE(std::regex_search(text, secret, std::regex("AWS_SECRET_ACCESS_KEY=(\\S+)")));
  ProcessOptions as_admin;
  as_admin.extra_env = {"AWS_ACCESS_KEY_ID=" + key[1].str(),
                        "AWS_SECRET_ACCESS_KEY=" + secret[1].str(), "AWS_DEFAULT_REGION=us-east-1",
                        "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"};
  auto aws = run_process({"aws", "--endpoint-url", s["endpoint_url"].get<std::string>(),
                          "--ca-bundle", s["ca_bundle"].get<std::string>(), "sts",
                          "get-caller-identity", "--output", "text", "--query", "Arn"},
                         as_admin);
  ASSERT_TRUE(aws.ok()) << aws.error().message();
  EXPECT_THAT(aws->output, HasSubstr("arn:aws:iam::000000000000:user/writegate-admin"));

  // exec lambda: the function role's credentials in the environment.
  auto who =
      run({"exec", "lambda", "--", "aws", "--endpoint-url", s["endpoint_url"].get<std::string>(),
           "sts", "get-caller-identity", "--output", "text", "--query", "Arn"},
          {"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"});
  EXPECT_EQ(who.exit_code, 0) << who.output;
  EXPECT_THAT(who.output, HasSubstr(":assumed-role/lambda-aurora-writer-role/"));

  auto down = run({"down"});
  ASSERT_EQ(down.exit_code, 0) << down.output;
  EXPECT_THAT(down.output, HasSubstr("nothing is left running."));
  EXPECT_THAT(processes_mentioning(state_), ::testing::IsEmpty());
  EXPECT_TRUE(fs::exists(state_ + "/aurora/data/PG_VERSION"));  // data kept

  // Up again on the kept data: the row written before is still there (as the master user).
  auto up2 = run({"up"});
  ASSERT_EQ(up2.exit_code, 0) << up2.output;
  EXPECT_THAT(up2.output, HasSubstr("loopback"));
  auto purge = run({"down", "--purge"});
  ASSERT_EQ(purge.exit_code, 0) << purge.output;
  EXPECT_FALSE(fs::exists(state_));
}

TEST_F(StackTest, FailedUpNamesTheStepAndLeavesNothingRunning) {
  // The proxy starts, but every new database connection fails its InitQuery, so the last step
  // (a writer login through the proxy) fails after Aurora, the endpoint and the proxy started.
  const std::string spec = (dir_ / "writegate.yaml").string();
  std::ofstream(spec) << "proxy:\n  pool:\n    init_query: SELECT no_such_function()\n";
  auto up = run({"--spec", spec, "up", "--network", "loopback"});
  EXPECT_EQ(up.exit_code, 1) << up.output;
  EXPECT_THAT(up.output, HasSubstr("a writer login through the proxy ... FAILED"));
  EXPECT_THAT(up.output, HasSubstr("nothing is left running."));
  EXPECT_THAT(processes_mentioning(state_), ::testing::IsEmpty());
  auto s = status();
  EXPECT_EQ(s["status"], "down") << s.dump();
}

TEST_F(StackTest, NetnsUpRunsTheDocumentsCommandsFromTheLambdaSubnet) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "network namespaces and nftables need root (CI runs as root)";
  }
  auto up = run({"up", "--network", "netns"});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  EXPECT_THAT(up.output, HasSubstr("[8/8] a writer login through the proxy ... ok"));
  const auto s = status();
  const std::string proxy = s["proxy_endpoint"];
  const std::string cluster = s["cluster_endpoint"];
  const std::string id = s["stack_id"];

  auto verify = run({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr(" 0 failed, 0 skipped"));

  // Test 1 through the Invoke API: the function runs in the lambda namespace.
  auto invoke = run({"invoke", "--payload", kDocumentEvent});
  ASSERT_EQ(invoke.exit_code, 0) << invoke.output;
  EXPECT_THAT(invoke.output, HasSubstr(R"("statusCode":200)"));

  // The document's Test 3, as written, from the Lambda's subnet: the token from the aws CLI
  // with the function role's credentials, psql to the proxy's name.
  const std::string script =
      "TOKEN=$(aws rds generate-db-auth-token --hostname " + proxy +
      " --port 5432 --username lambda_writer --region us-east-1) && PGPASSWORD=$TOKEN psql -h " +
      proxy +
      " -U lambda_writer -d mydb -c \"INSERT INTO foo.test_table (column1, column2) "
      "VALUES ('test', 'data');\"";
  auto test3 = run({"exec", "lambda", "--", "sh", "-c", script},
                   {"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"});
  EXPECT_EQ(test3.exit_code, 0) << test3.output;
  EXPECT_THAT(test3.output, HasSubstr("INSERT 0 1"));

  // Test 5: straight to the database from the lambda namespace: a timeout, not a refusal.
  auto test5 = run({"exec", "lambda", "--", "psql",
                    "host=" + cluster + " dbname=mydb user=lambda_writer connect_timeout=3", "-c",
                    "SELECT 1"});
  EXPECT_NE(test5.exit_code, 0);
  EXPECT_THAT(test5.output, HasSubstr("timeout expired")) << test5.output;

  auto down = run({"down"});
  ASSERT_EQ(down.exit_code, 0) << down.output;
  EXPECT_THAT(processes_mentioning(state_), ::testing::IsEmpty());
  auto netns = run_process({"ip", "netns", "list"});
  ASSERT_TRUE(netns.ok());
  EXPECT_THAT(netns->output, Not(HasSubstr(id + "-"))) << netns->output;
  auto links = run_process({"ip", "-o", "link", "show"});
  ASSERT_TRUE(links.ok());
  EXPECT_THAT(links->output, Not(HasSubstr(id + "-"))) << links->output;
  for (const char* component : {"lambda", "proxy", "aurora"})
    EXPECT_FALSE(fs::exists("/etc/netns/" + id + "-" + component)) << component;
  auto tables = run_process({"nft", "list", "tables"});
  ASSERT_TRUE(tables.ok());
  EXPECT_THAT(tables->output, Not(HasSubstr("writegate")));
}

TEST_F(StackTest, NetnsEndToEndIamLeavesTheWriterNoPassword) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "network namespaces, nftables and /etc/pam.d need root (CI runs as root)";
  }
  const std::string spec = (dir_ / "writegate.yaml").string();
  std::ofstream(spec) << "proxy:\n  backend_auth: IAM_AUTH\n";
  auto up = run({"--spec", spec, "up", "--network", "netns"});
  ASSERT_EQ(up.exit_code, 0) << up.output;
  const std::string id = status()["stack_id"];
  EXPECT_TRUE(fs::exists("/etc/pam.d/writegate-" + id));
  // The proxy logs in to the database with its own token; nothing holds a writer password.
  auto verify = run({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output,
              HasSubstr("PASS  database  a password login as lambda_writer is refused"));
  EXPECT_THAT(verify.output, HasSubstr("PAM authentication failed for user \"lambda_writer\""));
  EXPECT_THAT(verify.output,
              HasSubstr("PASS  iam  proxy may connect to the cluster as lambda_writer"));
  auto secrets = run({"secrets", "list"});
  EXPECT_EQ(secrets.exit_code, 0) << secrets.output;
  EXPECT_THAT(secrets.output, Not(HasSubstr("lambda-writer-secret")));
  auto invoke = run({"invoke", "--payload", kDocumentEvent});
  EXPECT_EQ(invoke.exit_code, 0) << invoke.output;
  EXPECT_THAT(invoke.output, HasSubstr(R"("statusCode":200)"));
  auto down = run({"down"});
  ASSERT_EQ(down.exit_code, 0) << down.output;
  EXPECT_FALSE(fs::exists("/etc/pam.d/writegate-" + id));
}

}  // namespace
}  // namespace writegate
