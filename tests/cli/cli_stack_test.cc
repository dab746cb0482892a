// The whole stack as a user runs it, in loopback mode (no root): `writegate up` → `verify` →
// `invoke` → `psql` → `exec` → `down`, with the real aws CLI and psql; a second `up` changes
// nothing; a failing `up` and every `down` leave no process behind. The netns runs are in
// cli_stack_netns_test (root).
#include "cli/stack_fixture.h"

namespace writegate {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

TEST_F(StackTest, LoopbackUpInvokePsqlCredentialsDown) {
  auto up = run({"--spec", standard_mode_spec(), "up", "--network", "loopback"});
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
  // The function's error answers are not a success: exit code 3, the status on stderr.
  auto refused = run(
      {"invoke", "--payload", R"({"schema":"public","table":"some_table","data":{"col":"x"}})"});
  EXPECT_EQ(refused.exit_code, 3) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr(R"("statusCode":400)"));
  EXPECT_THAT(refused.output, HasSubstr("the function answered statusCode 400"));

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

  // credentials: what the aws CLI needs to reach this stack's endpoint, too.
  EXPECT_THAT(creds.output,
              HasSubstr("\nexport AWS_CA_BUNDLE=" + s["ca_bundle"].get<std::string>() + "\n"));
  EXPECT_THAT(
      creds.output,
      HasSubstr("\nexport AWS_ENDPOINT_URL=" + s["endpoint_url"].get<std::string>() + "\n"));

  // exec lambda: the function role's credentials in the environment.
  auto who =
      run({"exec", "lambda", "--", "aws", "--endpoint-url", s["endpoint_url"].get<std::string>(),
           "sts", "get-caller-identity", "--output", "text", "--query", "Arn"},
          {"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"});
  EXPECT_EQ(who.exit_code, 0) << who.output;
  EXPECT_THAT(who.output, HasSubstr(":assumed-role/lambda-aurora-writer-role/"));
  // logs groups: each group once, its streams under it.
  auto groups = run({"logs", "groups"});
  EXPECT_EQ(groups.exit_code, 0) << groups.output;
  for (const std::string group :
       {"/aws/lambda/aurora-writer-lambda", "/aws/rds/proxy/aurora-write-proxy"}) {
    std::size_t lines = 0;
    for (std::size_t at = groups.output.find(group); at != std::string::npos;
         at = groups.output.find(group, at + 1)) {
      if (at == 0 || groups.output[at - 1] == '\n') ++lines;
    }
    EXPECT_EQ(lines, 1u) << group << "\n" << groups.output;
  }
  // A stream's file under the stream (the group name was repeated on every stream before).
  EXPECT_THAT(groups.output, ::testing::ContainsRegex("\n  stream [^\n]+\n    file [^\n]+\n"));

  // psql's connect timeout: 10 s by default in exec, the caller's own value kept.
  auto timeout = run({"exec", "lambda", "--", "sh", "-c", "echo timeout=$PGCONNECT_TIMEOUT"});
  EXPECT_THAT(timeout.output, HasSubstr("timeout=10"));
  auto own = run({"exec", "lambda", "--", "sh", "-c", "echo timeout=$PGCONNECT_TIMEOUT"},
                 {"PGCONNECT_TIMEOUT=3"});
  EXPECT_THAT(own.output, HasSubstr("timeout=3"));

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

TEST_F(StackTest, UpInAFolderWithoutAStackMakesItsOwnThere) {
  // A stack made elsewhere is the one later commands find by themselves...
  ASSERT_FALSE(up_loopback().is_null());
  const fs::path other = dir_ / "other-folder";
  fs::create_directories(other);
  const std::string other_state = (other / ".writegate" / "state").string();
  ProcessOptions there;
  there.extra_env = {"XDG_RUNTIME_DIR=" + (dir_ / "run").string()};
  there.timeout = std::chrono::minutes(3);
  auto in_other = [&](const std::string& args) {
    auto out = run_process(
        {"sh", "-c",
         "cd '" + other.string() + "' && unset WRITEGATE_STATE && " + writegate_bin() + " " + args},
        there);
    EXPECT_TRUE(out.ok());
    return out ? *out : ProcessOutput{};
  };
  // ...but `up` in a folder without one makes a second stack in ./.writegate/state there.
  auto up = in_other("--spec '" + standard_mode_spec() + "' up --network loopback");
  EXPECT_EQ(up.exit_code, 0) << up.output;
  EXPECT_TRUE(fs::exists(other_state + "/stack.json")) << up.output;
  auto other_status = json_in(in_other("status --json").output);
  ASSERT_TRUE(other_status.is_object());
  EXPECT_EQ(other_status["status"], "up");
  EXPECT_EQ(fs::path(other_status["state_dir"].get<std::string>()).lexically_normal(),
            fs::path(other_state).lexically_normal());
  // The first stack is still up, and still its own.
  auto first = status();
  EXPECT_EQ(first["status"], "up");
  EXPECT_NE(first["proxy_resource_id"], other_status["proxy_resource_id"]);
  auto down = in_other("down --purge");
  EXPECT_EQ(down.exit_code, 0) << down.output;
  EXPECT_THAT(processes_mentioning(other_state), ::testing::IsEmpty());
  EXPECT_EQ(status()["status"], "up");
}

TEST_F(StackTest, FailedUpNamesTheStepAndLeavesNothingRunning) {
  // The proxy starts, but every new database connection fails its InitQuery, so the last step
  // (a writer login through the proxy) fails after Aurora, the endpoint and the proxy started.
  const std::string spec = (dir_ / "writegate.yaml").string();
  std::ofstream(spec) << "proxy:\n  backend_auth: SECRETS\n"
                         "  pool:\n    init_query: SELECT no_such_function()\n";
  auto up = run({"--spec", spec, "up", "--network", "loopback"});
  EXPECT_EQ(up.exit_code, 1) << up.output;
  EXPECT_THAT(up.output, HasSubstr("a writer login through the proxy ... FAILED"));
  EXPECT_THAT(up.output, HasSubstr("nothing is left running."));
  EXPECT_THAT(processes_mentioning(state_), ::testing::IsEmpty());
  auto s = status();
  EXPECT_EQ(s["status"], "down") << s.dump();
}

TEST_F(StackTest, NotRootTheDefaultEndToEndIamIsRefusedWithTheWayOut) {
  // The default spec (end-to-end IAM) needs root for /etc/pam.d. A user without root is told so,
  // and how to choose standard mode, before anything starts. As root (CI) the run drops to
  // nobody with setpriv, so the same non-root process is what is tested.
  fs::permissions(dir_, fs::perms::all);
  std::vector<std::string> argv = {writegate_bin(), "--state", state_, "up",
                                   "--network",     "loopback"};
  if (::geteuid() == 0) {
    argv.insert(argv.begin(),
                {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"});
  }
  ProcessOptions options;
  options.extra_env = {"XDG_RUNTIME_DIR=" + (dir_ / "run").string()};
  auto up = run_process(argv, options);
  ASSERT_TRUE(up.ok()) << up.error().message();
  EXPECT_EQ(up->exit_code, 1) << up->output;
  EXPECT_THAT(up->output, HasSubstr("end-to-end IAM (proxy.backend_auth: IAM_AUTH, the default) "
                                    "needs root"));
  EXPECT_THAT(up->output, HasSubstr("proxy.backend_auth: SECRETS"));
  EXPECT_THAT(processes_mentioning(state_), ::testing::IsEmpty());
}

}  // namespace
}  // namespace writegate
