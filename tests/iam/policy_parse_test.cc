// Policy parsing: what is accepted, and the exact error for each malformed document.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "iam/policy.h"

namespace writegate::iam {
namespace {

std::string stmt(const std::string& body) {
  return R"({"Version":"2012-10-17","Statement":[)" + body + "]}";
}

TEST(PolicyParse, DocumentLambdaPolicy) {
  auto policy = parse_policy(R"({
    "Version": "2012-10-17",
    "Statement": [
      {"Sid": "AllowRDSConnect", "Effect": "Allow", "Action": ["rds-db:connect"],
       "Resource": "arn:aws:rds-db:us-east-1:ACCOUNT_ID:dbuser:prxy-PROXY_RESOURCE_ID/lambda_writer"}
    ]})");
  ASSERT_TRUE(policy.ok()) << policy.error().message();
  ASSERT_EQ(policy->statements.size(), 1u);
  const Statement& s = policy->statements[0];
  EXPECT_EQ(s.sid, "AllowRDSConnect");
  EXPECT_EQ(s.effect, Effect::kAllow);
  EXPECT_EQ(s.actions, std::vector<std::string>{"rds-db:connect"});
  ASSERT_EQ(s.resources.size(), 1u);
  EXPECT_FALSE(s.resources[0].has_variables);
  EXPECT_EQ(s.label(), "statement 0 (Sid \"AllowRDSConnect\")");
}

TEST(PolicyParse, StatementObjectAndDefaultVersion) {
  auto policy =
      parse_policy(R"({"Statement":{"Effect":"Deny","NotAction":"iam:*","NotResource":"*"}})");
  ASSERT_TRUE(policy.ok()) << policy.error().message();
  EXPECT_EQ(policy->version, "2008-10-17");
  EXPECT_TRUE(policy->statements[0].not_action);
  EXPECT_TRUE(policy->statements[0].not_resource);
}

TEST(PolicyParse, ConditionsCompiled) {
  auto policy = parse_policy(
      stmt(R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}/*",
    "Condition":{"ForAnyValue:StringLikeIfExists":{"aws:TagKeys":["a*","b"]},
                 "NumericLessThan":{"s3:max-keys":10},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},
                 "DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}})"));
  ASSERT_TRUE(policy.ok()) << policy.error().message();
  const Statement& s = policy->statements[0];
  EXPECT_TRUE(s.resources[0].has_variables);
  ASSERT_EQ(s.conditions.size(), 4u);
  const Condition* like = nullptr;
  for (const auto& c : s.conditions) {
    if (c.op == ConditionOperator::kStringLike) like = &c;
  }
  ASSERT_NE(like, nullptr);
  EXPECT_EQ(like->qualifier, SetQualifier::kForAnyValue);
  EXPECT_TRUE(like->if_exists);
  EXPECT_EQ(like->key, "aws:tagkeys");
  EXPECT_EQ(like->values.size(), 2u);
}

TEST(PolicyParse, TrustPolicyPrincipals) {
  auto policy = parse_policy(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Principal":{"AWS":["123456789012","arn:aws:iam::123456789012:role/x"],"Service":"lambda.amazonaws.com"},
    "Action":"sts:AssumeRole"}]})",
                             PolicyKind::kTrust);
  ASSERT_TRUE(policy.ok()) << policy.error().message();
  const auto& principal = *policy->statements[0].principal;
  EXPECT_EQ(principal.aws, (std::vector<std::string>{"arn:aws:iam::123456789012:root",
                                                     "arn:aws:iam::123456789012:role/x"}));
  EXPECT_EQ(principal.service, std::vector<std::string>{"lambda.amazonaws.com"});
}

struct ErrorCase {
  std::string name;
  std::string json;
  PolicyKind kind;
  std::string message;
};

class PolicyParseError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(PolicyParseError, ExactMessage) {
  const auto& c = GetParam();
  auto policy = parse_policy(c.json, c.kind);
  ASSERT_FALSE(policy.ok()) << c.name;
  EXPECT_EQ(policy.error().code(), ErrorCode::kInvalidArgument) << c.name;
  EXPECT_EQ(policy.error().message(), c.message) << c.name;
}

const auto kId = PolicyKind::kIdentity;
const auto kTrust = PolicyKind::kTrust;

INSTANTIATE_TEST_SUITE_P(
    Table, PolicyParseError,
    ::testing::Values(
        ErrorCase{"not json", "{", kId,
                  "JSON parse error at line 1, column 2: syntax error while parsing object key - "
                  "unexpected end of input; expected string literal"},
        ErrorCase{"array", "[]", kId, "policy document must be a JSON object, got array"},
        ErrorCase{"unknown top key", R"({"Version":"2012-10-17","Statements":[]})", kId,
                  "unknown top-level key \"Statements\" (allowed: Version, Id, Statement)"},
        ErrorCase{"bad version", R"({"Version":"2012-10-18","Statement":[]})", kId,
                  "Version must be \"2012-10-17\" or \"2008-10-17\", got \"2012-10-18\""},
        ErrorCase{"version type", R"({"Version":2012,"Statement":[]})", kId,
                  "Version must be a string, got number"},
        ErrorCase{"no statement", R"({"Version":"2012-10-17"})", kId, "Statement is missing"},
        ErrorCase{"empty statement", R"({"Version":"2012-10-17","Statement":[]})", kId,
                  "Statement is an empty array"},
        ErrorCase{"statement string", R"({"Version":"2012-10-17","Statement":"x"})", kId,
                  "Statement must be an object or an array of objects, got string"},
        ErrorCase{"statement item", stmt(R"(1)"), kId,
                  "statement 0: must be an object, got number"},
        ErrorCase{"duplicate top key",
                  R"({"Version":"2012-10-17","Version":"2012-10-17","Statement":[]})", kId,
                  "duplicate top-level key \"Version\""},
        ErrorCase{"duplicate statement key",
                  stmt(R"({"Effect":"Allow","Action":"s3:*","Resource":"*"},
                          {"Sid":"Two","Effect":"Allow","Effect":"Deny","Action":"s3:*","Resource":"*"})"),
                  kId, "statement 1 (Sid \"Two\"): duplicate key \"Effect\""},
        ErrorCase{"duplicate condition key",
                  stmt(R"({"Sid":"C","Effect":"Allow","Action":"s3:*","Resource":"*",
                          "Condition":{"StringEquals":{"k":"a","k":"b"}}})"),
                  kId, "statement 0 (Sid \"C\"): Condition.StringEquals: duplicate key \"k\""},
        ErrorCase{
            "unknown statement key",
            stmt(R"({"Sid":"X","Effect":"Allow","Action":"s3:*","Resources":"*"})"), kId,
            "statement 0 (Sid \"X\"): unknown key \"Resources\" (allowed: Sid, Effect, Action, "
            "NotAction, Resource, NotResource, Principal, NotPrincipal, Condition)"},
        ErrorCase{"sid type", stmt(R"({"Sid":1,"Effect":"Allow","Action":"s3:*","Resource":"*"})"),
                  kId, "statement 0: Sid must be a string, got number"},
        ErrorCase{"no effect", stmt(R"({"Action":"s3:*","Resource":"*"})"), kId,
                  "statement 0: Effect is missing"},
        ErrorCase{"lowercase effect", stmt(R"({"Effect":"allow","Action":"s3:*","Resource":"*"})"),
                  kId, "statement 0: Effect must be \"Allow\" or \"Deny\", got \"allow\""},
        ErrorCase{"effect type", stmt(R"({"Effect":true,"Action":"s3:*","Resource":"*"})"), kId,
                  "statement 0: Effect must be a string, got boolean"},
        ErrorCase{"no action", stmt(R"({"Effect":"Allow","Resource":"*"})"), kId,
                  "statement 0: needs Action or NotAction"},
        ErrorCase{"both actions",
                  stmt(R"({"Effect":"Allow","Action":"a:b","NotAction":"c:d","Resource":"*"})"),
                  kId, "statement 0: has both Action and NotAction; use one"},
        ErrorCase{"action type", stmt(R"({"Effect":"Allow","Action":{"a":1},"Resource":"*"})"), kId,
                  "statement 0: Action must be a string or an array of strings, got object"},
        ErrorCase{"action item type",
                  stmt(R"({"Effect":"Allow","Action":["a:b",2],"Resource":"*"})"), kId,
                  "statement 0: Action[1] must be a string, got number"},
        ErrorCase{"empty action array", stmt(R"({"Effect":"Allow","Action":[],"Resource":"*"})"),
                  kId, "statement 0: Action is an empty array"},
        ErrorCase{"action format",
                  stmt(R"({"Effect":"Allow","Action":"rdsconnect","Resource":"*"})"), kId,
                  "statement 0: Action: \"rdsconnect\" is not \"*\" or \"service:action\""},
        ErrorCase{"no resource", stmt(R"({"Effect":"Allow","Action":"s3:*"})"), kId,
                  "statement 0: needs Resource or NotResource"},
        ErrorCase{"both resources",
                  stmt(R"({"Effect":"Allow","Action":"s3:*","Resource":"*","NotResource":"*"})"),
                  kId, "statement 0: has both Resource and NotResource; use one"},
        ErrorCase{"resource format",
                  stmt(R"({"Sid":"R","Effect":"Allow","Action":"s3:*","Resource":"bucket/key"})"),
                  kId,
                  "statement 0 (Sid \"R\"): Resource: \"bucket/key\" is not \"*\" or an ARN "
                  "(arn:partition:service:region:account:resource)"},
        ErrorCase{
            "unterminated variable",
            stmt(
                R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username"})"),
            kId,
            "statement 0: Resource: unterminated policy variable in "
            "\"arn:aws:s3:::b/${aws:username\""},
        ErrorCase{
            "bad variable default",
            stmt(
                R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username, anon}"})"),
            kId,
            "statement 0: Resource: policy variable default must be in single quotes, as in "
            "${aws:username, 'anonymous'}: \"arn:aws:s3:::b/${aws:username, anon}\""},
        ErrorCase{"bad variable name",
                  stmt(R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${a b}"})"),
                  kId,
                  "statement 0: Resource: invalid policy variable \"${a b}\" in "
                  "\"arn:aws:s3:::b/${a b}\""},
        ErrorCase{"principal in identity policy",
                  stmt(R"({"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"})"), kId,
                  "statement 0: Principal is not allowed in an identity policy (only in trust and "
                  "resource policies)"},
        ErrorCase{"trust without principal",
                  stmt(R"({"Effect":"Allow","Action":"sts:AssumeRole"})"), kTrust,
                  "statement 0: a trust policy statement needs Principal"},
        ErrorCase{"unknown principal type",
                  stmt(R"({"Effect":"Allow","Principal":{"Aws":"*"},"Action":"sts:AssumeRole"})"),
                  kTrust,
                  "statement 0: Principal: unknown principal type \"Aws\" (allowed: AWS, Service, "
                  "Federated, CanonicalUser)"},
        ErrorCase{
            "principal string",
            stmt(
                R"({"Effect":"Allow","Principal":"lambda.amazonaws.com","Action":"sts:AssumeRole"})"),
            kTrust,
            "statement 0: Principal must be \"*\" or an object such as {\"AWS\": ...}, got "
            "\"lambda.amazonaws.com\""},
        ErrorCase{
            "bad AWS principal",
            stmt(R"({"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"sts:AssumeRole"})"),
            kTrust, "statement 0: Principal.AWS: \"alice\" is not \"*\", an account id or an ARN"},
        ErrorCase{
            "unknown operator",
            stmt(R"({"Sid":"AllowKMSDecrypt","Effect":"Allow","Action":"kms:Decrypt","Resource":"*",
                          "Condition":{"StringEqualz":{"kms:ViaService":"x"}}})"),
            kId,
            "statement 0 (Sid \"AllowKMSDecrypt\"): Condition: unknown operator \"StringEqualz\""},
        ErrorCase{
            "NullIfExists",
            stmt(
                R"({"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NullIfExists":{"k":"true"}}})"),
            kId, "statement 0: Condition: unknown operator \"NullIfExists\""},
        ErrorCase{
            "lowercase qualifier",
            stmt(
                R"({"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"forAnyValue:StringLike":{"k":"a"}}})"),
            kId, "statement 0: Condition: unknown operator \"forAnyValue:StringLike\""},
        ErrorCase{"condition type",
                  stmt(R"({"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":[]})"), kId,
                  "statement 0: Condition must be an object, got array"},
        ErrorCase{
            "operator block type",
            stmt(
                R"({"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":"x"}})"),
            kId,
            "statement 0: Condition.StringEquals must be an object of condition keys, got string"},
        ErrorCase{
            "condition value type",
            stmt(
                R"({"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"k":{"a":1}}}})"),
            kId,
            "statement 0: Condition.StringEquals.k must be a string, number, boolean or an array "
            "of them, got object"},
        ErrorCase{
            "condition value null",
            stmt(
                R"({"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"k":["a",null]}}})"),
            kId,
            "statement 0: Condition.StringEquals.k[1] must be a string, number or boolean, got "
            "null"},
        ErrorCase{
            "bad number",
            stmt(
                R"({"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NumericLessThan":{"n":"ten"}}})"),
            kId, "statement 0: Condition.NumericLessThan.n: \"ten\" is not a number"},
        ErrorCase{
            "bad date",
            stmt(
                R"({"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2026-02-30"}}})"),
            kId,
            "statement 0: Condition.DateLessThan.aws:CurrentTime: \"2026-02-30\" is not a date "
            "(ISO 8601 or epoch seconds)"},
        ErrorCase{
            "bad cidr",
            stmt(
                R"({"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}})"),
            kId,
            "statement 0: Condition.IpAddress.aws:SourceIp: \"10.0.0.0/33\" is not an IP address "
            "or CIDR block"},
        ErrorCase{
            "bad bool",
            stmt(
                R"({"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}})"),
            kId,
            "statement 0: Condition.Bool.aws:SecureTransport: \"yes\" is not \"true\" or "
            "\"false\""},
        ErrorCase{
            "bad null",
            stmt(
                R"({"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Null":{"k":"maybe"}}})"),
            kId, "statement 0: Condition.Null.k: \"maybe\" is not \"true\" or \"false\""},
        ErrorCase{
            "empty operator block",
            stmt(
                R"({"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{}}})"),
            kId, "statement 0: Condition.StringEquals has no condition keys"}),
    [](const ::testing::TestParamInfo<ErrorCase>& param_info) {
      std::string out;
      for (char c : param_info.param.name)
        out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
      return out;
    });

TEST(PolicyParse, TooLarge) {
  std::string big(kMaxPolicyBytes + 1, ' ');
  auto policy = parse_policy(big);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.error().code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(policy.error().message(), "policy document is 131073 bytes; the limit is 131072");
}

TEST(PolicyParse, DeepNesting) {
  std::string deep = R"({"Version":"2012-10-17","Statement":)" + std::string(100, '[') +
                     std::string(100, ']') + "}";
  auto policy = parse_policy(deep);
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.error().message(), "JSON nesting deeper than 32 levels");
}

TEST(PolicyParse, Dates) {
  EXPECT_EQ(*parse_date("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*parse_date("2026-01-01"), 1767225600000);
  EXPECT_EQ(*parse_date("2026-01-01T00:00:00.250Z"), 1767225600250);
  EXPECT_EQ(*parse_date("2026-01-01T02:00:00+02:00"), 1767225600000);
  EXPECT_EQ(*parse_date("1767225600"), 1767225600000);
  EXPECT_FALSE(parse_date("2026-13-01").ok());
  EXPECT_FALSE(parse_date("2025-02-29").ok());
  EXPECT_TRUE(parse_date("2024-02-29").ok());
  EXPECT_FALSE(parse_date("2026-01-01T00:00:00Q").ok());
}

TEST(PolicyParse, Cidrs) {
  auto block = parse_cidr("10.0.0.0/8");
  ASSERT_TRUE(block.ok());
  EXPECT_TRUE(cidr_contains(*block, *parse_cidr("10.255.0.1")));
  EXPECT_FALSE(cidr_contains(*block, *parse_cidr("11.0.0.1")));
  auto v6 = parse_cidr("2001:db8::/33");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(cidr_contains(*v6, *parse_cidr("2001:db8:7fff::1")));
  EXPECT_FALSE(cidr_contains(*v6, *parse_cidr("2001:db8:8000::1")));
  EXPECT_TRUE(cidr_contains(*parse_cidr("0.0.0.0/0"), *parse_cidr("1.2.3.4")));
  EXPECT_FALSE(parse_cidr("10.0.0/8").ok());
  EXPECT_FALSE(parse_cidr("10.0.0.0/").ok());
  EXPECT_FALSE(parse_cidr("::/129").ok());
}

}  // namespace
}  // namespace writegate::iam
