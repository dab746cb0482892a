// `writegate iam ...` run as a user would, from build/bin (WRITEGATE_BIN_DIR).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace {

struct CommandRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

class IamCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/wg-iam-cli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const char* bin = std::getenv("WRITEGATE_BIN_DIR");
    ASSERT_NE(bin, nullptr);
    writegate_ = std::string(bin) + "/writegate";
    const char* src = std::getenv("WRITEGATE_SOURCE_DIR");
    ASSERT_NE(src, nullptr);
    data_ = std::string(src) + "/tests/iam/data/";
    std::ofstream(dir_ + "/writegate.yaml") << "account_id: \"123456789012\"\n"
                                            << "proxy:\n  resource_id: prx-0123456789abcdef0\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs `writegate --spec <dir>/writegate.yaml ARGS` in dir_.
  CommandRun run(const std::string& args) {
    std::string command = "cd " + dir_ + " && " + writegate_ + " --spec " + dir_ +
                          "/writegate.yaml " + args + " 2>&1";
    CommandRun result;
    FILE* pipe = popen(command.c_str(), "r");
    EXPECT_NE(pipe, nullptr);
    if (!pipe) return result;
    std::array<char, 4096> buffer;
    size_t n;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
      result.output.append(buffer.data(), n);
    int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
  }

  std::string state() const { return dir_ + "/state"; }

  std::string dir_, writegate_, data_;
};

const std::string kDbUser =
    "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/lambda_writer";

TEST_F(IamCliTest, SimulateWithoutStoreSaysHowToCreateIt) {
  auto r = run("iam simulate --principal x --action a:b --resource '*' --state " + state());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, "writegate: no IAM store in " + state() + " (" + state() +
                          "/iam/iam.json is missing); create it with `writegate iam seed --state " +
                          state() + "` or start the stack with `writegate up`\n");
}

TEST_F(IamCliTest, SeedThenSimulate) {
  auto seed = run("iam seed --state " + state());
  ASSERT_EQ(seed.exit_code, 0) << seed.output;
  EXPECT_NE(seed.output.find("rds-db:connect on " + kDbUser), std::string::npos) << seed.output;

  auto allowed =
      run("iam simulate --principal lambda-aurora-writer-role --action rds-db:connect "
          "--resource " +
          kDbUser + " --state " + state());
  EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
  EXPECT_EQ(
      allowed.output,
      "EvalDecision: allowed\n"
      "MatchedStatement: policy lambda-rds-connect-policy, statement 0 (Sid \"AllowRDSConnect\")\n"
      "Principal: arn:aws:iam::123456789012:role/lambda-aurora-writer-role\n"
      "Action: rds-db:connect\n"
      "Resource: " +
          kDbUser + "\n");

  auto other_user =
      run("iam simulate --principal arn:aws:iam::123456789012:role/lambda-aurora-writer-role "
          "--action rds-db:connect --resource "
          "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/postgres --state " +
          state());
  EXPECT_EQ(other_user.exit_code, 1) << other_user.output;
  EXPECT_EQ(other_user.output.substr(0, other_user.output.find('\n')),
            "EvalDecision: implicitDeny");
  EXPECT_NE(other_user.output.find("MatchedStatement: none (no statement of the 3 policies allows "
                                   "rds-db:connect on"),
            std::string::npos)
      << other_user.output;

  auto kms =
      run("iam simulate --principal rds-proxy-role --action kms:Decrypt --resource "
          "'arn:aws:kms:us-east-1:123456789012:key/*' --context "
          "kms:ViaService=secretsmanager.us-east-1.amazonaws.com --state " +
          state());
  EXPECT_EQ(kms.exit_code, 1) << kms.output;  // the resource names the seeded key, not "*"

  auto bad_context =
      run("iam simulate --principal rds-proxy-role --action kms:Decrypt --resource '*' "
          "--context novalue --state " +
          state());
  EXPECT_EQ(bad_context.exit_code, 2);
  EXPECT_EQ(bad_context.output, "writegate: --context novalue: expected KEY=VALUE\n");

  auto unknown =
      run("iam simulate --principal nobody --action a:b --resource '*' --state " + state());
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.output,
            "writegate: no user or role named \"nobody\" in " + state() + "/iam/iam.json\n");
}

TEST_F(IamCliTest, UserPoliciesAndExplicitDeny) {
  ASSERT_EQ(run("iam create-user alice --state " + state()).exit_code, 0);
  std::ofstream(dir_ + "/allow.json") << R"({"Version":"2012-10-17","Statement":[
    {"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"},
    {"Sid":"NoPlainText","Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]})";
  auto put =
      run("iam put-user-policy --user-name alice --policy-name admin --policy-document file://" +
          dir_ + "/allow.json --state " + state());
  ASSERT_EQ(put.exit_code, 0) << put.output;
  auto deny =
      run("iam simulate --principal alice --action s3:GetObject --resource arn:aws:s3:::b/k "
          "--context aws:SecureTransport=false --state " +
          state());
  EXPECT_EQ(deny.exit_code, 1) << deny.output;
  EXPECT_EQ(deny.output.substr(0, deny.output.find("Principal:")),
            "EvalDecision: explicitDeny\n"
            "MatchedStatement: policy admin, statement 1 (Sid \"NoPlainText\")\n");
  auto allow =
      run("iam simulate --principal alice --action s3:GetObject --resource arn:aws:s3:::b/k "
          "--context aws:SecureTransport=true --state " +
          state());
  EXPECT_EQ(allow.exit_code, 0) << allow.output;

  std::ofstream(dir_ + "/bad.json")
      << R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*"}]})";
  auto bad = run("iam put-user-policy --user-name alice --name bad --policy-document file://" +
                 dir_ + "/bad.json --state " + state());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.output, "writegate: policy bad: statement 0: needs Resource or NotResource\n");
}

TEST_F(IamCliTest, AccessKeysCreateListDelete) {
  ASSERT_EQ(run("iam create-user bob --state " + state()).exit_code, 0);
  auto created = run("iam create-access-key bob --state " + state());
  ASSERT_EQ(created.exit_code, 0) << created.output;
  auto json = nlohmann::json::parse(created.output);
  std::string id = json["AccessKey"]["AccessKeyId"];
  std::string secret = json["AccessKey"]["SecretAccessKey"];
  EXPECT_EQ(id.substr(0, 4), "AKIA");
  EXPECT_EQ(secret.size(), 40u);
  auto list = run("iam list --state " + state());
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.output.find("  key " + id + " Active"), std::string::npos) << list.output;
  EXPECT_EQ(list.output.find(secret), std::string::npos) << "list must not print secrets";
  auto deleted = run("iam delete-access-key " + id + " --state " + state());
  EXPECT_EQ(deleted.exit_code, 0) << deleted.output;
  auto again = run("iam delete-access-key " + id + " --state " + state());
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_EQ(again.output, "writegate: unknown access key id " + id + "\n");
}

TEST_F(IamCliTest, LintDocumentAndFixedPolicies) {
  auto doc = run("iam lint " + data_ + "doc-lambda-rds-connect-policy.json " + data_ +
                 "doc-rds-proxy-secrets-policy.json");
  EXPECT_EQ(doc.exit_code, 1) << doc.output;
  EXPECT_NE(doc.output.find("error [prxy-typo]"), std::string::npos) << doc.output;
  EXPECT_NE(doc.output.find("placeholder ACCOUNT_ID, KMS_KEY_ID"), std::string::npos) << doc.output;
  EXPECT_TRUE(doc.output.ends_with("\n4 findings\n")) << doc.output;

  auto fixed = run("iam lint " + data_ + "fixed-lambda-rds-connect-policy.json " + data_ +
                   "fixed-rds-proxy-secrets-policy.json " + data_ +
                   "fixed-lambda-basic-execution-policy.json");
  EXPECT_EQ(fixed.exit_code, 0) << fixed.output;
  EXPECT_EQ(fixed.output, data_ + "fixed-lambda-rds-connect-policy.json: clean\n" + data_ +
                              "fixed-rds-proxy-secrets-policy.json: clean\n" + data_ +
                              "fixed-lambda-basic-execution-policy.json: clean\n");

  auto missing = run("iam lint " + dir_ + "/missing.json");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.output, "writegate: cannot read " + dir_ + "/missing.json\n");
}

}  // namespace
