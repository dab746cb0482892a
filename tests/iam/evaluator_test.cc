// Table-driven policy evaluation cases: each row is policies + request -> decision (+ deciding
// statement). Rows follow the IAM User Guide's evaluation rules.
#include "iam/evaluator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "iam/arn.h"

namespace writegate::iam {
namespace {

constexpr const char* kAccount = "123456789012";
constexpr const char* kDbUser =
    "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/lambda_writer";

struct Case {
  std::string name;
  std::vector<std::pair<std::string, std::string>> policies;  // name, JSON
  std::string action;
  std::string resource;
  std::vector<std::pair<std::string, std::string>> context;
  Decision expected;
  std::string matched;  // "policy#index" of the deciding statement, empty for implicit deny
};

std::string policy1(const std::string& statement) {
  return R"({"Version":"2012-10-17","Statement":[)" + statement + "]}";
}

PrincipalInfo alice() {
  PrincipalInfo p;
  p.type = PrincipalInfo::Type::kUser;
  p.arn = user_arn(kAccount, "alice");
  p.account = kAccount;
  p.name = "alice";
  p.user_id = "AIDAEXAMPLEEXAMPLE12";
  p.tags = {{"team", "db"}};
  return p;
}

EvaluationResult run(const Case& c) {
  std::vector<NamedPolicy> policies;
  for (const auto& [name, text] : c.policies) {
    auto parsed = parse_policy(text);
    EXPECT_TRUE(parsed.ok()) << c.name << ": " << (parsed ? "" : parsed.error().message());
    if (!parsed) return {};
    policies.push_back({name, std::make_shared<const Policy>(std::move(*parsed))});
  }
  RequestContext request;
  request.principal = alice();
  request.action = c.action;
  request.resource = c.resource;
  for (const auto& [key, value] : c.context)
    request.keys.add(key, value);
  // A fixed clock: 2026-01-01T00:00:00Z.
  add_global_keys(request, std::chrono::system_clock::time_point(std::chrono::seconds(1767225600)));
  return evaluate(policies, request);
}

const std::string kAllowConnect = policy1(R"({"Sid":"AllowRDSConnect","Effect":"Allow",
  "Action":"rds-db:connect","Resource":")" +
                                          std::string(kDbUser) + R"("})");

std::vector<Case> cases() {
  const std::string allow_all = policy1(R"({"Effect":"Allow","Action":"*","Resource":"*"})");
  auto with_condition = [](const std::string& condition) {
    return policy1(
        R"({"Sid":"C","Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":)" +
        condition + "}");
  };
  const std::string obj = "arn:aws:s3:::bucket/key";
  return {
      // --- basic decisions ---
      {"no policies: implicit deny",
       {},
       "rds-db:connect",
       kDbUser,
       {},
       Decision::kImplicitDeny,
       ""},
      {"exact allow",
       {{"p", kAllowConnect}},
       "rds-db:connect",
       kDbUser,
       {},
       Decision::kAllowed,
       "p#0"},
      {"other user implicit deny",
       {{"p", kAllowConnect}},
       "rds-db:connect",
       "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/postgres",
       {},
       Decision::kImplicitDeny,
       ""},
      {"deny beats allow (same policy)",
       {{"p", policy1(R"({"Effect":"Allow","Action":"*","Resource":"*"},
                         {"Sid":"NoConnect","Effect":"Deny","Action":"rds-db:connect","Resource":"*"})")}},
       "rds-db:connect",
       kDbUser,
       {},
       Decision::kExplicitDeny,
       "p#1"},
      {"deny beats allow (other policy, later)",
       {{"a", kAllowConnect},
        {"d", policy1(R"({"Effect":"Deny","Action":"rds-db:*","Resource":"*"})")}},
       "rds-db:connect",
       kDbUser,
       {},
       Decision::kExplicitDeny,
       "d#0"},
      {"deny of another action does not block",
       {{"a", kAllowConnect},
        {"d", policy1(R"({"Effect":"Deny","Action":"rds:*","Resource":"*"})")}},
       "rds-db:connect",
       kDbUser,
       {},
       Decision::kAllowed,
       "a#0"},
      {"first allow is reported",
       {{"a", allow_all}, {"b", kAllowConnect}},
       "rds-db:connect",
       kDbUser,
       {},
       Decision::kAllowed,
       "a#0"},
      // --- actions ---
      {"action case-insensitive",
       {{"p", kAllowConnect}},
       "RDS-DB:Connect",
       kDbUser,
       {},
       Decision::kAllowed,
       "p#0"},
      {"action pattern case-insensitive",
       {{"p", policy1(R"({"Effect":"Allow","Action":"S3:Get*","Resource":"*"})")}},
       "s3:getobject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      {"action ? wildcard",
       {{"p", policy1(R"({"Effect":"Allow","Action":"s3:Get?bject","Resource":"*"})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      {"action ? needs one char",
       {{"p", policy1(R"({"Effect":"Allow","Action":"s3:GetObject?","Resource":"*"})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kImplicitDeny,
       ""},
      {"action prefix is not a match",
       {{"p", policy1(R"({"Effect":"Allow","Action":"s3:Get","Resource":"*"})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kImplicitDeny,
       ""},
      {"NotAction allows the rest",
       {{"p", policy1(R"({"Effect":"Allow","NotAction":"iam:*","Resource":"*"})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      {"NotAction excludes listed",
       {{"p", policy1(R"({"Effect":"Allow","NotAction":"iam:*","Resource":"*"})")}},
       "iam:CreateUser",
       "arn:aws:iam::123456789012:user/x",
       {},
       Decision::kImplicitDeny,
       ""},
      {"Deny NotAction denies the rest",
       {{"a", allow_all},
        {"d", policy1(R"({"Effect":"Deny","NotAction":["rds-db:connect"],"Resource":"*"})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kExplicitDeny,
       "d#0"},
      {"Deny NotAction spares listed",
       {{"a", allow_all},
        {"d", policy1(R"({"Effect":"Deny","NotAction":["rds-db:connect"],"Resource":"*"})")}},
       "rds-db:connect",
       kDbUser,
       {},
       Decision::kAllowed,
       "a#0"},
      // --- resources ---
      {"resource case-sensitive",
       {{"p", kAllowConnect}},
       "rds-db:connect",
       "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/LAMBDA_WRITER",
       {},
       Decision::kImplicitDeny,
       ""},
      {"resource trailing * crosses ':' (AWS docs)",
       {{"p",
         policy1(
             R"({"Effect":"Allow","Action":"logs:*","Resource":"arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/*"})")}},
       "logs:PutLogEvents",
       "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/fn:log-stream:2026/01/01",
       {},
       Decision::kAllowed,
       "p#0"},
      {"resource mid-segment * stays in segment",
       {{"p",
         policy1(
             R"({"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-*/lambda_writer"})")}},
       "rds-db:connect",
       "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-a:b/lambda_writer",
       {},
       Decision::kImplicitDeny,
       ""},
      {"resource mid-segment * matches within segment",
       {{"p",
         policy1(
             R"({"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-*/lambda_writer"})")}},
       "rds-db:connect",
       kDbUser,
       {},
       Decision::kAllowed,
       "p#0"},
      {"resource region wildcard",
       {{"p",
         policy1(
             R"({"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:*:123456789012:dbuser:prx-0123456789abcdef0/lambda_writer"})")}},
       "rds-db:connect",
       kDbUser,
       {},
       Decision::kAllowed,
       "p#0"},
      {"resource ? is one char",
       {{"p",
         policy1(R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::bucket/ke?"})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      {"NotResource allows others",
       {{"p",
         policy1(R"({"Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:s3:::secret/*"})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      {"NotResource excludes listed",
       {{"p",
         policy1(R"({"Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:s3:::secret/*"})")}},
       "s3:GetObject",
       "arn:aws:s3:::secret/x",
       {},
       Decision::kImplicitDeny,
       ""},
      // --- policy variables ---
      {"${aws:username} in resource",
       {{"p",
         policy1(
             R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"})")}},
       "s3:GetObject",
       "arn:aws:s3:::home/alice/notes",
       {},
       Decision::kAllowed,
       "p#0"},
      {"${aws:username} other user's folder",
       {{"p",
         policy1(
             R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"})")}},
       "s3:GetObject",
       "arn:aws:s3:::home/bob/notes",
       {},
       Decision::kImplicitDeny,
       ""},
      {"variables are literal in 2008-10-17",
       {{"p",
         R"({"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"}]})"}},
       "s3:GetObject",
       "arn:aws:s3:::home/alice/notes",
       {},
       Decision::kImplicitDeny,
       ""},
      {"variables are literal in 2008-10-17 (matching literal)",
       {{"p",
         R"({"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"}]})"}},
       "s3:GetObject",
       "arn:aws:s3:::home/${aws:username}/notes",
       {},
       Decision::kAllowed,
       "p#0"},
      {"${*} is a literal star",
       {{"p", policy1(R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${*}"})")}},
       "s3:GetObject",
       "arn:aws:s3:::b/anything",
       {},
       Decision::kImplicitDeny,
       ""},
      {"${*} matches a star",
       {{"p", policy1(R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${*}"})")}},
       "s3:GetObject",
       "arn:aws:s3:::b/*",
       {},
       Decision::kAllowed,
       "p#0"},
      {"${?} and ${$} literals",
       {{"p",
         policy1(R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${?}${$}"})")}},
       "s3:GetObject",
       "arn:aws:s3:::b/?$",
       {},
       Decision::kAllowed,
       "p#0"},
      {"${?} does not match any char",
       {{"p", policy1(R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${?}"})")}},
       "s3:GetObject",
       "arn:aws:s3:::b/x",
       {},
       Decision::kImplicitDeny,
       ""},
      {"variable value is literal (no wildcard injection)",
       {{"p",
         policy1(
             R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/dir}"})")}},
       "s3:GetObject",
       "arn:aws:s3:::b/x",
       {{"aws:PrincipalTag/dir", "*"}},
       Decision::kImplicitDeny,
       ""},
      {"${aws:PrincipalTag/team} from principal tags",
       {{"p",
         policy1(
             R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/team}/*"})")}},
       "s3:GetObject",
       "arn:aws:s3:::b/db/x",
       {},
       Decision::kAllowed,
       "p#0"},
      {"missing variable matches nothing",
       {{"p",
         policy1(
             R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/nope}/*"})")}},
       "s3:GetObject",
       "arn:aws:s3:::b//x",
       {},
       Decision::kImplicitDeny,
       ""},
      {"variable default value",
       {{"p",
         policy1(
             R"({"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/nope, 'shared'}/*"})")}},
       "s3:GetObject",
       "arn:aws:s3:::b/shared/x",
       {},
       Decision::kAllowed,
       "p#0"},
      {"${aws:userid} in condition",
       {{"p", with_condition(R"({"StringEquals":{"s3:prefix":"${aws:userid}"}})")}},
       "s3:GetObject",
       obj,
       {{"s3:prefix", "AIDAEXAMPLEEXAMPLE12"}},
       Decision::kAllowed,
       "p#0"},
      // --- String operators ---
      {"StringEquals match",
       {{"p",
         with_condition(
             R"({"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}})")}},
       "s3:GetObject",
       obj,
       {{"kms:ViaService", "secretsmanager.us-east-1.amazonaws.com"}},
       Decision::kAllowed,
       "p#0"},
      {"StringEquals is case-sensitive",
       {{"p",
         with_condition(
             R"({"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}})")}},
       "s3:GetObject",
       obj,
       {{"kms:ViaService", "SecretsManager.us-east-1.amazonaws.com"}},
       Decision::kImplicitDeny,
       ""},
      {"condition key is case-insensitive",
       {{"p", with_condition(R"({"StringEquals":{"KMS:VIASERVICE":"x"}})")}},
       "s3:GetObject",
       obj,
       {{"kms:viaservice", "x"}},
       Decision::kAllowed,
       "p#0"},
      {"StringEquals missing key is false",
       {{"p", with_condition(R"({"StringEquals":{"kms:ViaService":"x"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kImplicitDeny,
       ""},
      {"StringEquals any of the values",
       {{"p", with_condition(R"({"StringEquals":{"k":["a","b"]}})")}},
       "s3:GetObject",
       obj,
       {{"k", "b"}},
       Decision::kAllowed,
       "p#0"},
      {"StringNotEquals different",
       {{"p", with_condition(R"({"StringNotEquals":{"k":["a","b"]}})")}},
       "s3:GetObject",
       obj,
       {{"k", "c"}},
       Decision::kAllowed,
       "p#0"},
      {"StringNotEquals is AND over values",
       {{"p", with_condition(R"({"StringNotEquals":{"k":["a","b"]}})")}},
       "s3:GetObject",
       obj,
       {{"k", "b"}},
       Decision::kImplicitDeny,
       ""},
      {"StringNotEquals missing key is true (AWS docs)",
       {{"p", with_condition(R"({"StringNotEquals":{"k":"a"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      {"StringEqualsIgnoreCase",
       {{"p", with_condition(R"({"StringEqualsIgnoreCase":{"k":"Hello"}})")}},
       "s3:GetObject",
       obj,
       {{"k", "hELLO"}},
       Decision::kAllowed,
       "p#0"},
      {"StringNotEqualsIgnoreCase",
       {{"p", with_condition(R"({"StringNotEqualsIgnoreCase":{"k":"Hello"}})")}},
       "s3:GetObject",
       obj,
       {{"k", "HELLO"}},
       Decision::kImplicitDeny,
       ""},
      {"StringLike wildcard",
       {{"p", with_condition(R"({"StringLike":{"k":"home/*/docs"}})")}},
       "s3:GetObject",
       obj,
       {{"k", "home/alice/docs"}},
       Decision::kAllowed,
       "p#0"},
      {"StringLike no match",
       {{"p", with_condition(R"({"StringLike":{"k":"home/*/docs"}})")}},
       "s3:GetObject",
       obj,
       {{"k", "home/alice/pics"}},
       Decision::kImplicitDeny,
       ""},
      {"StringEquals treats * literally",
       {{"p", with_condition(R"({"StringEquals":{"k":"a*"}})")}},
       "s3:GetObject",
       obj,
       {{"k", "abc"}},
       Decision::kImplicitDeny,
       ""},
      {"StringNotLike",
       {{"p", with_condition(R"({"StringNotLike":{"k":"tmp-*"}})")}},
       "s3:GetObject",
       obj,
       {{"k", "tmp-1"}},
       Decision::kImplicitDeny,
       ""},
      {"StringEqualsIfExists missing key is true",
       {{"p", with_condition(R"({"StringEqualsIfExists":{"k":"a"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      {"StringEqualsIfExists present key is checked",
       {{"p", with_condition(R"({"StringEqualsIfExists":{"k":"a"}})")}},
       "s3:GetObject",
       obj,
       {{"k", "b"}},
       Decision::kImplicitDeny,
       ""},
      {"all keys and operators must hold",
       {{"p", with_condition(R"({"StringEquals":{"a":"1","b":"2"},"StringLike":{"c":"x*"}})")}},
       "s3:GetObject",
       obj,
       {{"a", "1"}, {"b", "2"}, {"c", "y"}},
       Decision::kImplicitDeny,
       ""},
      {"all keys and operators hold",
       {{"p", with_condition(R"({"StringEquals":{"a":"1","b":"2"},"StringLike":{"c":"x*"}})")}},
       "s3:GetObject",
       obj,
       {{"a", "1"}, {"b", "2"}, {"c", "xy"}},
       Decision::kAllowed,
       "p#0"},
      // --- set operators ---
      {"ForAnyValue one matches",
       {{"p", with_condition(R"({"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}})")}},
       "s3:GetObject",
       obj,
       {{"aws:TagKeys", "team"}, {"aws:TagKeys", "other"}},
       Decision::kAllowed,
       "p#0"},
      {"ForAnyValue none matches",
       {{"p", with_condition(R"({"ForAnyValue:StringEquals":{"aws:TagKeys":["env","team"]}})")}},
       "s3:GetObject",
       obj,
       {{"aws:TagKeys", "x"}, {"aws:TagKeys", "y"}},
       Decision::kImplicitDeny,
       ""},
      {"ForAnyValue missing key is false",
       {{"p", with_condition(R"({"ForAnyValue:StringEquals":{"aws:TagKeys":"env"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kImplicitDeny,
       ""},
      {"ForAllValues all match",
       {{"p", with_condition(R"({"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}})")}},
       "s3:GetObject",
       obj,
       {{"aws:TagKeys", "team"}, {"aws:TagKeys", "env"}},
       Decision::kAllowed,
       "p#0"},
      {"ForAllValues one outside",
       {{"p", with_condition(R"({"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}})")}},
       "s3:GetObject",
       obj,
       {{"aws:TagKeys", "team"}, {"aws:TagKeys", "cost"}},
       Decision::kImplicitDeny,
       ""},
      {"ForAllValues missing key is true",
       {{"p", with_condition(R"({"ForAllValues:StringEquals":{"aws:TagKeys":"env"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      {"ForAllValues:StringLike",
       {{"p", with_condition(R"({"ForAllValues:StringLike":{"aws:TagKeys":"app-*"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:TagKeys", "app-a"}, {"aws:TagKeys", "app-b"}},
       Decision::kAllowed,
       "p#0"},
      {"ForAnyValue:StringNotEquals",
       {{"p", with_condition(R"({"ForAnyValue:StringNotEquals":{"aws:TagKeys":"env"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:TagKeys", "env"}, {"aws:TagKeys", "x"}},
       Decision::kAllowed,
       "p#0"},
      {"ForAllValues:StringNotEquals",
       {{"p", with_condition(R"({"ForAllValues:StringNotEquals":{"aws:TagKeys":"env"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:TagKeys", "env"}, {"aws:TagKeys", "x"}},
       Decision::kImplicitDeny,
       ""},
      // --- Arn operators ---
      {"ArnLike",
       {{"p",
         with_condition(
             R"({"ArnLike":{"aws:SourceArn":"arn:aws:lambda:us-east-1:123456789012:function:*"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SourceArn", "arn:aws:lambda:us-east-1:123456789012:function:writer"}},
       Decision::kAllowed,
       "p#0"},
      {"ArnLike other account",
       {{"p",
         with_condition(
             R"({"ArnLike":{"aws:SourceArn":"arn:aws:lambda:us-east-1:123456789012:function:*"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SourceArn", "arn:aws:lambda:us-east-1:999999999999:function:writer"}},
       Decision::kImplicitDeny,
       ""},
      {"ArnEquals per segment wildcard",
       {{"p",
         with_condition(R"({"ArnEquals":{"aws:SourceArn":"arn:aws:sns:*:123456789012:topic"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SourceArn", "arn:aws:sns:eu-west-1:123456789012:topic"}},
       Decision::kAllowed,
       "p#0"},
      {"ArnLike * does not cross segments",
       {{"p", with_condition(R"({"ArnLike":{"aws:SourceArn":"arn:aws:*:123456789012:x"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:x"}},
       Decision::kImplicitDeny,
       ""},
      {"ArnNotLike",
       {{"p", with_condition(
                  R"({"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/a*"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kImplicitDeny,
       ""},
      {"ArnNotEquals other",
       {{"p",
         with_condition(
             R"({"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/bob"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      // --- Bool ---
      {"Bool true",
       {{"p", with_condition(R"({"Bool":{"aws:SecureTransport":"true"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SecureTransport", "true"}},
       Decision::kAllowed,
       "p#0"},
      {"Bool JSON literal",
       {{"p", with_condition(R"({"Bool":{"aws:SecureTransport":true}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SecureTransport", "TRUE"}},
       Decision::kAllowed,
       "p#0"},
      {"Bool false vs true",
       {{"p", with_condition(R"({"Bool":{"aws:SecureTransport":"true"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SecureTransport", "false"}},
       Decision::kImplicitDeny,
       ""},
      {"Deny insecure transport",
       {{"a", allow_all},
        {"d",
         policy1(
             R"({"Sid":"TLS","Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SecureTransport", "false"}},
       Decision::kExplicitDeny,
       "d#0"},
      {"BoolIfExists missing",
       {{"a", allow_all},
        {"d",
         policy1(
             R"({"Effect":"Deny","Action":"*","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kExplicitDeny,
       "d#0"},
      // --- Numeric ---
      {"NumericLessThan true",
       {{"p", with_condition(R"({"NumericLessThan":{"s3:max-keys":"10"}})")}},
       "s3:GetObject",
       obj,
       {{"s3:max-keys", "9"}},
       Decision::kAllowed,
       "p#0"},
      {"NumericLessThan equal is false",
       {{"p", with_condition(R"({"NumericLessThan":{"s3:max-keys":"10"}})")}},
       "s3:GetObject",
       obj,
       {{"s3:max-keys", "10"}},
       Decision::kImplicitDeny,
       ""},
      {"NumericLessThanEquals",
       {{"p", with_condition(R"({"NumericLessThanEquals":{"s3:max-keys":10}})")}},
       "s3:GetObject",
       obj,
       {{"s3:max-keys", "10"}},
       Decision::kAllowed,
       "p#0"},
      {"NumericGreaterThan",
       {{"p", with_condition(R"({"NumericGreaterThan":{"n":"1.5"}})")}},
       "s3:GetObject",
       obj,
       {{"n", "2"}},
       Decision::kAllowed,
       "p#0"},
      {"NumericGreaterThanEquals",
       {{"p", with_condition(R"({"NumericGreaterThanEquals":{"n":"2"}})")}},
       "s3:GetObject",
       obj,
       {{"n", "1.999"}},
       Decision::kImplicitDeny,
       ""},
      {"NumericEquals",
       {{"p", with_condition(R"({"NumericEquals":{"n":"2"}})")}},
       "s3:GetObject",
       obj,
       {{"n", "2.0"}},
       Decision::kAllowed,
       "p#0"},
      {"NumericNotEquals",
       {{"p", with_condition(R"({"NumericNotEquals":{"n":["1","2"]}})")}},
       "s3:GetObject",
       obj,
       {{"n", "3"}},
       Decision::kAllowed,
       "p#0"},
      {"Numeric request not a number",
       {{"p", with_condition(R"({"NumericEquals":{"n":"2"}})")}},
       "s3:GetObject",
       obj,
       {{"n", "two"}},
       Decision::kImplicitDeny,
       ""},
      // --- Date ---
      {"DateLessThan CurrentTime",
       {{"p", with_condition(R"({"DateLessThan":{"aws:CurrentTime":"2026-06-30T00:00:00Z"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      {"DateGreaterThan CurrentTime",
       {{"p", with_condition(R"({"DateGreaterThan":{"aws:CurrentTime":"2026-06-30T00:00:00Z"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kImplicitDeny,
       ""},
      {"DateEquals across formats",
       {{"p", with_condition(R"({"DateEquals":{"aws:EpochTime":"2026-01-01T01:00:00+01:00"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      {"DateNotEquals",
       {{"p", with_condition(R"({"DateNotEquals":{"aws:CurrentTime":"2026-01-01"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kImplicitDeny,
       ""},
      {"DateLessThanEquals epoch",
       {{"p", with_condition(R"({"DateLessThanEquals":{"aws:CurrentTime":"1767225600"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      {"DateGreaterThanEquals",
       {{"p", with_condition(
                  R"({"DateGreaterThanEquals":{"aws:CurrentTime":"2026-01-01T00:00:01Z"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kImplicitDeny,
       ""},
      // --- IP ---
      {"IpAddress v4 in",
       {{"p", with_condition(R"({"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.1"]}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SourceIp", "10.1.2.3"}},
       Decision::kAllowed,
       "p#0"},
      {"IpAddress v4 exact",
       {{"p", with_condition(R"({"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.1"]}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SourceIp", "192.0.2.1"}},
       Decision::kAllowed,
       "p#0"},
      {"IpAddress v4 out",
       {{"p", with_condition(R"({"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SourceIp", "11.0.0.1"}},
       Decision::kImplicitDeny,
       ""},
      {"IpAddress v6 in",
       {{"p", with_condition(R"({"IpAddress":{"aws:SourceIp":"2001:db8::/32"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SourceIp", "2001:db8:1::5"}},
       Decision::kAllowed,
       "p#0"},
      {"IpAddress v6 out",
       {{"p", with_condition(R"({"IpAddress":{"aws:SourceIp":"2001:db8::/32"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SourceIp", "2001:db9::1"}},
       Decision::kImplicitDeny,
       ""},
      {"IpAddress family mismatch",
       {{"p", with_condition(R"({"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SourceIp", "::1"}},
       Decision::kImplicitDeny,
       ""},
      {"NotIpAddress deny outside",
       {{"a", allow_all},
        {"d",
         policy1(
             R"({"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SourceIp", "203.0.113.9"}},
       Decision::kExplicitDeny,
       "d#0"},
      {"NotIpAddress inside",
       {{"a", allow_all},
        {"d",
         policy1(
             R"({"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}})")}},
       "s3:GetObject",
       obj,
       {{"aws:SourceIp", "10.9.9.9"}},
       Decision::kAllowed,
       "a#0"},
      {"IpAddressIfExists missing",
       {{"p", with_condition(R"({"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      // --- Null ---
      {"Null true when absent",
       {{"p", with_condition(R"({"Null":{"aws:TokenIssueTime":"true"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      {"Null true when present",
       {{"p", with_condition(R"({"Null":{"aws:TokenIssueTime":"true"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:TokenIssueTime", "2026-01-01T00:00:00Z"}},
       Decision::kImplicitDeny,
       ""},
      {"Null false when present",
       {{"p", with_condition(R"({"Null":{"aws:TokenIssueTime":"false"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:TokenIssueTime", "x"}},
       Decision::kAllowed,
       "p#0"},
      {"Null false when absent",
       {{"p", with_condition(R"({"Null":{"aws:TokenIssueTime":false}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kImplicitDeny,
       ""},
      // --- global keys from the principal ---
      {"aws:username set for users",
       {{"p", with_condition(R"({"StringEquals":{"aws:username":"alice"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      {"aws:PrincipalAccount",
       {{"p", with_condition(R"({"StringEquals":{"aws:PrincipalAccount":"123456789012"}})")}},
       "s3:GetObject",
       obj,
       {},
       Decision::kAllowed,
       "p#0"},
      {"explicit context wins over defaults",
       {{"p", with_condition(R"({"StringEquals":{"aws:username":"alice"}})")}},
       "s3:GetObject",
       obj,
       {{"aws:username", "mallory"}},
       Decision::kImplicitDeny,
       ""},
      // --- the document's proxy policy ---
      {"kms:Decrypt via Secrets Manager",
       {{"rds-proxy-secrets-policy",
         policy1(
             R"({"Sid":"AllowSecretsManagerAccess","Effect":"Allow","Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"arn:aws:secretsmanager:us-east-1:123456789012:secret:aurora-master-secret-*"},
          {"Sid":"AllowKMSDecrypt","Effect":"Allow","Action":["kms:Decrypt"],"Resource":"arn:aws:kms:us-east-1:123456789012:key/k1","Condition":{"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}})")}},
       "kms:Decrypt",
       "arn:aws:kms:us-east-1:123456789012:key/k1",
       {{"kms:ViaService", "secretsmanager.us-east-1.amazonaws.com"}},
       Decision::kAllowed,
       "rds-proxy-secrets-policy#1"},
      {"kms:Decrypt directly is denied",
       {{"rds-proxy-secrets-policy",
         policy1(
             R"({"Sid":"AllowKMSDecrypt","Effect":"Allow","Action":["kms:Decrypt"],"Resource":"arn:aws:kms:us-east-1:123456789012:key/k1","Condition":{"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}})")}},
       "kms:Decrypt",
       "arn:aws:kms:us-east-1:123456789012:key/k1",
       {},
       Decision::kImplicitDeny,
       ""},
      {"secret with AWS suffix",
       {{"s",
         policy1(
             R"({"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:us-east-1:123456789012:secret:aurora-master-secret-*"})")}},
       "secretsmanager:GetSecretValue",
       "arn:aws:secretsmanager:us-east-1:123456789012:secret:aurora-master-secret-AbCdEf",
       {},
       Decision::kAllowed,
       "s#0"},
      {"another secret",
       {{"s",
         policy1(
             R"({"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:us-east-1:123456789012:secret:aurora-master-secret-*"})")}},
       "secretsmanager:GetSecretValue",
       "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-AbCdEf",
       {},
       Decision::kImplicitDeny,
       ""},
  };
}

class EvaluatorTest : public ::testing::TestWithParam<Case> {};

TEST_P(EvaluatorTest, Decides) {
  const Case& c = GetParam();
  EvaluationResult result = run(c);
  EXPECT_EQ(decision_name(result.decision), decision_name(c.expected)) << c.name;
  if (c.matched.empty()) {
    EXPECT_FALSE(result.matched.has_value()) << c.name;
  } else {
    ASSERT_TRUE(result.matched.has_value()) << c.name;
    EXPECT_EQ(result.matched->policy_name + "#" + std::to_string(result.matched->statement_index),
              c.matched)
        << c.name;
  }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string out;
  for (char c : info.param.name)
    out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return std::to_string(info.index) + "_" + out;
}

INSTANTIATE_TEST_SUITE_P(Table, EvaluatorTest, ::testing::ValuesIn(cases()), case_name);

TEST(EvaluatorDescribe, NamesPolicyAndSid) {
  auto parsed = parse_policy(kAllowConnect);
  ASSERT_TRUE(parsed.ok());
  std::vector<NamedPolicy> policies{
      {"lambda-rds-connect-policy", std::make_shared<const Policy>(std::move(*parsed))}};
  RequestContext request;
  request.principal = alice();
  request.action = "rds-db:connect";
  request.resource = kDbUser;
  auto result = evaluate(policies, request);
  EXPECT_EQ(result.describe(),
            "allowed by policy lambda-rds-connect-policy, statement 0 (Sid \"AllowRDSConnect\")");
  request.resource = "*";
  EXPECT_EQ(evaluate(policies, request).describe(),
            "implicitly denied: no statement allows the request");
}

// --- trust policies / AssumeRole ---

NamedPolicy trust(const std::string& principal_json) {
  auto parsed = parse_policy(
      R"({"Version":"2012-10-17","Statement":[{"Sid":"Trust","Effect":"Allow","Principal":)" +
          principal_json + R"(,"Action":"sts:AssumeRole"}]})",
      PolicyKind::kTrust);
  EXPECT_TRUE(parsed.ok()) << (parsed ? "" : parsed.error().message());
  return {"role trust policy", std::make_shared<const Policy>(std::move(*parsed))};
}

std::vector<NamedPolicy> identity(const std::string& resource) {
  auto parsed = parse_policy(
      policy1(R"({"Effect":"Allow","Action":"sts:AssumeRole","Resource":")" + resource + R"("})"));
  EXPECT_TRUE(parsed.ok());
  return {{"assume", std::make_shared<const Policy>(std::move(*parsed))}};
}

const std::string kRole = "arn:aws:iam::123456789012:role/lambda-aurora-writer-role";

TEST(AssumeRole, ServicePrincipalNeedsOnlyTrust) {
  PrincipalInfo lambda;
  lambda.type = PrincipalInfo::Type::kService;
  lambda.service = "lambda.amazonaws.com";
  auto decision =
      authorize_assume_role({lambda, {}}, kRole, trust(R"({"Service":"lambda.amazonaws.com"})"));
  EXPECT_TRUE(decision.allowed) << decision.reason;
  lambda.service = "ec2.amazonaws.com";
  decision =
      authorize_assume_role({lambda, {}}, kRole, trust(R"({"Service":"lambda.amazonaws.com"})"));
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.reason, "the trust policy of " + kRole + " does not allow ec2.amazonaws.com");
}

TEST(AssumeRole, UserNeedsIdentityAndTrust) {
  auto policies = identity(kRole);
  auto by_account = trust(R"({"AWS":"123456789012"})");
  auto by_arn = trust(R"({"AWS":"arn:aws:iam::123456789012:user/alice"})");
  auto other = trust(R"({"AWS":"arn:aws:iam::123456789012:user/bob"})");
  EXPECT_TRUE(authorize_assume_role({alice(), policies}, kRole, by_account).allowed);
  EXPECT_TRUE(authorize_assume_role({alice(), policies}, kRole, by_arn).allowed);
  auto denied = authorize_assume_role({alice(), policies}, kRole, other);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.reason, "the trust policy of " + kRole +
                               " does not allow arn:aws:iam::123456789012:user/alice");
  auto no_identity = authorize_assume_role({alice(), {}}, kRole, by_arn);
  EXPECT_FALSE(no_identity.allowed);
  EXPECT_EQ(no_identity.reason,
            "no identity policy of arn:aws:iam::123456789012:user/alice allows "
            "sts:AssumeRole on " +
                kRole);
  // Identity allows another role only.
  auto wrong_role = identity("arn:aws:iam::123456789012:role/other");
  EXPECT_FALSE(authorize_assume_role({alice(), wrong_role}, kRole, by_arn).allowed);
  // Another account's root does not match.
  EXPECT_FALSE(authorize_assume_role({alice(), policies}, kRole, trust(R"({"AWS":"999999999999"})"))
                   .allowed);
  EXPECT_TRUE(authorize_assume_role({alice(), policies}, kRole, trust(R"({"AWS":"*"})")).allowed);
  EXPECT_TRUE(authorize_assume_role({alice(), policies}, kRole, trust(R"("*")")).allowed);
}

TEST(AssumeRole, SessionMatchesItsRoleArn) {
  PrincipalInfo session;
  session.type = PrincipalInfo::Type::kAssumedRole;
  session.account = kAccount;
  session.name = "deployer";
  session.arn = assumed_role_arn(kAccount, "deployer", "s1");
  session.user_id = "AROAEXAMPLEEXAMPLE12:s1";
  auto policies = identity(kRole);
  EXPECT_TRUE(authorize_assume_role({session, policies}, kRole,
                                    trust(R"({"AWS":"arn:aws:iam::123456789012:role/deployer"})"))
                  .allowed);
  EXPECT_FALSE(authorize_assume_role({session, policies}, kRole,
                                     trust(R"({"AWS":"arn:aws:iam::123456789012:role/other"})"))
                   .allowed);
}

TEST(AssumeRole, TrustDenyAndNotPrincipal) {
  auto parsed = parse_policy(R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"sts:AssumeRole"},
    {"Sid":"NotAlice","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"sts:AssumeRole"}]})",
                             PolicyKind::kTrust);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  NamedPolicy policy{"t", std::make_shared<const Policy>(std::move(*parsed))};
  auto decision = authorize_assume_role({alice(), identity(kRole)}, kRole, policy);
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.trust.decision, Decision::kExplicitDeny);
  EXPECT_EQ(decision.reason,
            "the trust policy of " + kRole +
                " denies arn:aws:iam::123456789012:user/alice (policy t, statement "
                "1 (Sid \"NotAlice\"))");
  auto not_principal = parse_policy(R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:user/bob"},"Action":"sts:AssumeRole"}]})",
                                    PolicyKind::kTrust);
  ASSERT_TRUE(not_principal.ok());
  NamedPolicy np{"np", std::make_shared<const Policy>(std::move(*not_principal))};
  EXPECT_TRUE(authorize_assume_role({alice(), identity(kRole)}, kRole, np).allowed);
}

TEST(AssumeRole, TrustConditions) {
  auto parsed = parse_policy(R"({"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole",
     "Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"}}}]})",
                             PolicyKind::kTrust);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  NamedPolicy policy{"t", std::make_shared<const Policy>(std::move(*parsed))};
  PrincipalInfo lambda;
  lambda.type = PrincipalInfo::Type::kService;
  lambda.service = "lambda.amazonaws.com";
  EXPECT_FALSE(authorize_assume_role({lambda, {}}, kRole, policy).allowed);
  ContextKeys keys;
  keys.add("aws:SourceAccount", "123456789012");
  EXPECT_TRUE(authorize_assume_role({lambda, {}}, kRole, policy, keys).allowed);
}

}  // namespace
}  // namespace writegate::iam
