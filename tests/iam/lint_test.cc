// `iam lint` checks, on the architecture document's own policies and on corrected ones.
#include "iam/lint.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace writegate::iam {
namespace {

std::string data(const std::string& name) {
  const char* root = std::getenv("WRITEGATE_SOURCE_DIR");
  std::ifstream in(std::string(root ? root : ".") + "/tests/iam/data/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "index:check" per finding, in order.
std::vector<std::string> summary(const std::vector<LintFinding>& findings) {
  std::vector<std::string> out;
  for (const auto& f : findings) {
    out.push_back((f.statement_index ? std::to_string(*f.statement_index) : std::string("-")) +
                  ":" + f.check);
  }
  return out;
}

TEST(Lint, DocumentLambdaPolicy) {
  auto findings = lint_policy(data("doc-lambda-rds-connect-policy.json"));
  EXPECT_EQ(summary(findings), (std::vector<std::string>{"0:prxy-typo", "0:placeholder"}));
  ASSERT_EQ(findings.size(), 2u);
  EXPECT_EQ(
      format_finding("lambda.json", findings[0]),
      "lambda.json: statement 0 (Sid \"AllowRDSConnect\"): error [prxy-typo]: Resource "
      "\"arn:aws:rds-db:us-east-1:ACCOUNT_ID:dbuser:prxy-PROXY_RESOURCE_ID/lambda_writer\" "
      "names proxy id \"prxy-PROXY_RESOURCE_ID\": RDS Proxy resource ids start with \"prx-\", "
      "so this ARN matches nothing\n"
      "  fix: use the id from `aws rds describe-db-proxies --query "
      "'DBProxies[0].DBProxyArn'` (prx- followed by 17 hex digits)");
  EXPECT_EQ(findings[1].message,
            "Resource \"arn:aws:rds-db:us-east-1:ACCOUNT_ID:dbuser:prxy-PROXY_RESOURCE_ID/"
            "lambda_writer\" still contains the placeholder ACCOUNT_ID, PROXY_RESOURCE_ID");
}

TEST(Lint, DocumentBasicExecutionPolicy) {
  auto findings = lint_policy(data("doc-lambda-basic-execution-policy.json"));
  EXPECT_EQ(summary(findings), (std::vector<std::string>{"0:placeholder"}));
}

TEST(Lint, DocumentProxyPolicy) {
  auto findings = lint_policy(data("doc-rds-proxy-secrets-policy.json"));
  EXPECT_EQ(summary(findings), (std::vector<std::string>{"0:placeholder", "1:placeholder"}));
  ASSERT_EQ(findings.size(), 2u);
  EXPECT_EQ(findings[1].message,
            "Resource \"arn:aws:kms:us-east-1:ACCOUNT_ID:key/KMS_KEY_ID\" still contains the "
            "placeholder ACCOUNT_ID, KMS_KEY_ID");
  EXPECT_EQ(findings[1].sid, "AllowKMSDecrypt");
}

TEST(Lint, CorrectedPoliciesAreClean) {
  for (const char* name :
       {"fixed-lambda-rds-connect-policy.json", "fixed-lambda-basic-execution-policy.json",
        "fixed-rds-proxy-secrets-policy.json"}) {
    auto findings = lint_policy(data(name));
    EXPECT_TRUE(findings.empty()) << name << ": "
                                  << (findings.empty() ? "" : format_finding(name, findings[0]));
  }
}

TEST(Lint, MistakesSeenInTheWild) {
  auto findings = lint_policy(data("wild-mistakes-policy.json"));
  EXPECT_EQ(summary(findings),
            (std::vector<std::string>{"0:wildcard-action", "0:rds-db-resource-wildcard",
                                      "1:rds-service", "2:db-resource-id", "3:dbuser-wildcard",
                                      "3:wildcard-account-region", "4:proxy-id-format"}));
}

struct LintCase {
  std::string name;
  std::string statement;
  std::vector<std::string> expected;
};

class LintTable : public ::testing::TestWithParam<LintCase> {};

TEST_P(LintTable, Finds) {
  const auto& c = GetParam();
  auto findings = lint_policy(R"({"Version":"2012-10-17","Statement":[)" + c.statement + "]}");
  EXPECT_EQ(summary(findings), c.expected) << c.name;
}

const std::string kGood =
    "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/lambda_writer";

INSTANTIATE_TEST_SUITE_P(
    Checks, LintTable,
    ::testing::Values(
        LintCase{"clean",
                 R"({"Effect":"Allow","Action":"rds-db:connect","Resource":")" + kGood + "\"}",
                 {}},
        LintCase{"star action",
                 R"({"Effect":"Allow","Action":"*","Resource":")" + kGood + "\"}",
                 {"0:wildcard-action"}},
        LintCase{
            "rds star",
            R"({"Effect":"Allow","Action":"rds:*","Resource":"arn:aws:rds:us-east-1:123456789012:db:x"})",
            {"0:wildcard-action"}},
        LintCase{"partial wildcard",
                 R"({"Effect":"Allow","Action":"rds-db:conn*","Resource":")" + kGood + "\"}",
                 {"0:wildcard-action"}},
        LintCase{"deny wildcards are fine", R"({"Effect":"Deny","Action":"*","Resource":"*"})", {}},
        LintCase{"not action",
                 R"({"Effect":"Allow","NotAction":"iam:*","Resource":"arn:aws:s3:::b/*"})",
                 {"0:not-action-allow"}},
        LintCase{"not resource",
                 R"({"Effect":"Allow","Action":"rds-db:connect","NotResource":")" + kGood + "\"}",
                 {"0:rds-db-resource-wildcard"}},
        LintCase{
            "two users in one",
            R"({"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/a/b"})",
            {"0:dbuser-format"}},
        LintCase{
            "no dbuser",
            R"({"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:123456789012:db:prx-0123456789abcdef0/a"})",
            {"0:dbuser-format"}},
        LintCase{
            "db- id",
            R"({"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABCDEFGHIJKL/a"})",
            {"0:db-resource-id"}},
        LintCase{
            "user wildcard",
            R"({"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/lambda_*"})",
            {"0:dbuser-wildcard"}},
        LintCase{
            "region placeholder",
            R"({"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:REGION:123456789012:dbuser:prx-0123456789abcdef0/a"})",
            {"0:placeholder"}},
        LintCase{
            "angle placeholder",
            R"({"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::<bucket>/*"})",
            {"0:placeholder"}},
        LintCase{
            "bad account",
            R"({"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:sqs:us-east-1:1234:q"})",
            {"0:account-format"}},
        LintCase{"secret wildcard",
                 R"({"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"})",
                 {"0:secret-wildcard"}},
        LintCase{"kms unscoped",
                 R"({"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"})",
                 {"0:kms-decrypt-unscoped", "0:kms-decrypt-unscoped"}},
        LintCase{
            "placeholder in condition",
            R"({"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"aws:PrincipalAccount":"ACCOUNT_ID"}}})",
            {"0:placeholder"}},
        LintCase{
            "invalid", R"({"Effect":"Allow","Action":"rds-db:connect"})", {"-:invalid-policy"}}),
    [](const ::testing::TestParamInfo<LintCase>& param_info) {
      std::string out;
      for (char ch : param_info.param.name)
        out.push_back(std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_');
      return out;
    });

TEST(Lint, InvalidPolicyMessage) {
  auto findings = lint_policy(
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds-db:connect"}]})");
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(format_finding("p.json", findings[0]),
            "p.json: error [invalid-policy]: statement 0: needs Resource or NotResource\n"
            "  fix: fix the document so that it parses (see the message), then lint again");
}

}  // namespace
}  // namespace writegate::iam
