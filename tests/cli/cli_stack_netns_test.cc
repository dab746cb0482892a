// The whole stack in network namespaces (root only): the document's commands from the Lambda's
// subnet, Test 5 as a timeout, end-to-end IAM with the database's PAM module, and `down` leaving
// no process, namespace, link, /etc/netns folder, PAM service or nftables table behind.
#include "cli/stack_fixture.h"
#include "support/root_only.h"

namespace writegate {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

TEST_F(StackTest, NetnsUpRunsTheDocumentsCommandsFromTheLambdaSubnet) {
  WG_REQUIRE_ROOT();
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
  // verify's Test 5 is a real token login of the function's role, which times out too.
  EXPECT_THAT(verify.output, HasSubstr("PASS  Test 5  no direct path to the database"));
  EXPECT_THAT(verify.output,
              ::testing::ContainsRegex("token login as lambda_writer from wg[0-9a-f]+-"
                                       "lambda to .*no answer within [0-9]+ s "
                                       "\\(security groups drop it\\)"));

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
  WG_REQUIRE_ROOT();  // also /etc/pam.d
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

TEST_F(StackTest, AStateFolderThePostgresAccountCannotReachStillLogsTheWriterIn) {
  // As a clone under /root (0700): postgres can walk neither to Aurora's data, nor to the IAM
  // store its PAM module reads, nor to the module in the build folder.
  WG_REQUIRE_ROOT();
  const fs::path closed = dir_ / "home-0700";
  fs::create_directories(closed);
  fs::permissions(closed, fs::perms::owner_all);
  state_ = (closed / "state").string();
  auto up = run({"up", "--network", "netns"});  // the spec's default: end-to-end IAM
  ASSERT_EQ(up.exit_code, 0) << up.output;
  const auto s = status();
  const std::string id = s["stack_id"];
  const std::string share = "/var/lib/writegate/" + id + "-share";
  EXPECT_TRUE(fs::is_symlink(state_ + "/iam"));
  EXPECT_TRUE(fs::exists(share + "/iam/iam.json"));
  EXPECT_TRUE(fs::exists(share + "/pam_writegate.so"));
  std::ifstream pam("/etc/pam.d/writegate-" + id);
  const std::string service((std::istreambuf_iterator<char>(pam)),
                            std::istreambuf_iterator<char>());
  EXPECT_THAT(service, HasSubstr(share + "/pam_writegate.so"));
  EXPECT_THAT(service, HasSubstr("state=" + share + " "));
  // The proxy's token login through PAM is what the writer's every write needs.
  auto invoke = run({"invoke", "--payload", kDocumentEvent});
  EXPECT_EQ(invoke.exit_code, 0) << invoke.output;
  EXPECT_THAT(invoke.output, HasSubstr(R"("statusCode":200)"));
  auto verify = run({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr(" 0 failed, 0 skipped"));
  auto down = run({"down", "--purge"});
  ASSERT_EQ(down.exit_code, 0) << down.output;
  EXPECT_FALSE(fs::exists(share));
  EXPECT_FALSE(fs::exists("/var/lib/writegate/" + id));
}

}  // namespace
}  // namespace writegate
