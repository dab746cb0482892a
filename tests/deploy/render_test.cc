// `writegate render`: the template, the IAM documents, the SQL and the CLI script, for the
// default spec and a non-default one (tests/deploy/specs/other.yaml). What each must hold is
// written out here; the IAM documents are judged by the policy evaluator and the linter, the SQL
// by a real PostgreSQL and `writegate audit`, the script by bash -n and shellcheck.
#include "deploy/render.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/process.h"
#include "dbadmin/audit.h"
#include "deploy/policies.h"
#include "deploy/template.h"
#include "deploy/yaml_reader.h"
#include "deploy/yaml_writer.h"
#include "iam/evaluator.h"
#include "iam/lint.h"
#include "iam/policy.h"
#include "localpg/cluster.h"
#include "pgclient/pgclient.h"
#include "spec/spec.h"
#include "support/pg_fixture.h"

namespace writegate::deploy {
namespace {

using nlohmann::ordered_json;
using ::testing::HasSubstr;
using ::testing::Not;

const char* kProxyId = "prx-0123456789abcdef0";
const char* kClusterId = "cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ";

spec::Spec default_spec() {
  return spec::Spec{};
}

spec::Spec spec_file(const std::string& name) {
  const char* source = std::getenv("WRITEGATE_SOURCE_DIR");
  if (source == nullptr) {
    ADD_FAILURE() << "WRITEGATE_SOURCE_DIR is not set (run through ctest)";
    return {};
  }
  const std::string path = std::string(source) + "/tests/deploy/specs/" + name;
  auto spec = spec::load_file(path);
  EXPECT_TRUE(spec.ok()) << (spec ? "" : spec.error().message());
  return *spec;
}

spec::Spec other_spec() {
  return spec_file("other.yaml");
}

std::map<std::string, std::string> files_of(const spec::Spec& spec, const RenderOptions& options) {
  auto files = render(spec, "all", options);
  EXPECT_TRUE(files.ok()) << (files ? "" : files.error().message());
  std::map<std::string, std::string> out;
  for (const auto& file : *files)
    out[file.path] = file.content;
  return out;
}

// --- the YAML writer -------------------------------------------------------------------------

TEST(YamlWriterTest, ScalarsThatWouldChangeMeaningAreQuoted) {
  for (const std::string text :
       {"true", "No",   "null",  "~",   "15.10", "5432",        "0.0.0.0/0",
        "",     "a: b", "#x",    "- x", "@x",    "x #y",        "*x",
        "{x}",  "'x'",  "\"x\"", " x",  "x ",    "multi\nline", "yes"}) {
    EXPECT_FALSE(is_plain_yaml_scalar(text)) << "'" << text << "'";
  }
  for (const std::string text :
       {"aurora-postgresql", "AWS::EC2::SecurityGroup", "lambda_writer",
        "arn:${AWS::Partition}:rds-db:${AWS::Region}:x", "/aws/lambda/f", "Disallow all traffic"}) {
    EXPECT_TRUE(is_plain_yaml_scalar(text)) << "'" << text << "'";
  }
}

TEST(YamlWriterTest, TagsAndValuesReadBackAsTheJsonTheyCameFrom) {
  const ordered_json doc = {
      {"A", {{"Ref", "VpcId"}}},
      {"B", {{"Fn::GetAtt", ordered_json::array({"Proxy", "DBProxyArn"})}}},
      {"C",
       {{"Fn::Select",
         ordered_json::array(
             {6,
              {{"Fn::Split",
                ordered_json::array(
                    {":", {{"Fn::GetAtt", ordered_json::array({"Proxy", "DBProxyArn"})}}})}}})}}},
      {"D",
       {{"Fn::Sub", ordered_json::array({"x-${Id}-${AWS::Region}", {{"Id", {{"Ref", "P"}}}}})}}},
      {"E", ordered_json::array({true, false, nullptr, 0, -3, 2.5, "true", "5432", "a, b"})},
      {"F", "line one\nline two\n"},
      {"G", "tabs\tand \"quotes\" and \\ and unicode µs"},
      {"H", ordered_json::array({{{"Key", "Name"}, {"Value", "x"}}, {{"Key", "B"}, {"Value", 1}}})},
      {"I", {{"Fn::Base64", {{"Fn::Sub", "echo ${AWS::StackName}"}}}}},
      {"J", ordered_json::object()},
      {"K", ordered_json::array()},
      {"L",
       {{"Fn::If",
         ordered_json::array({"C", ordered_json::array({"a"}), {{"Ref", "AWS::NoValue"}}})}}},
      {"M", {{"Condition", "IsProd"}}},
      // Found by the fuzzer: 200 control characters escape to 1200, past YAML's 1024-character
      // limit on implicit keys; written as an explicit key it reads back.
      {std::string(200, '\x03'), {{"N", std::string(200, '\x01')}}},
  };
  const std::string yaml = to_cloudformation_yaml(doc);
  EXPECT_THAT(yaml, HasSubstr("A: !Ref VpcId\n"));
  EXPECT_THAT(yaml, HasSubstr("B: !GetAtt Proxy.DBProxyArn\n"));
  auto back = read_cloudformation(yaml);
  ASSERT_TRUE(back.ok()) << back.error().message() << "\n" << yaml;
  EXPECT_EQ(*back, doc) << yaml;
}

TEST(YamlReaderTest, RefusesUnknownTagsAndBadShapes) {
  EXPECT_FALSE(read_cloudformation("A: !Bogus x\n").ok());
  EXPECT_FALSE(read_cloudformation("A: !!python/object x\n").ok());
  EXPECT_FALSE(read_cloudformation("A: !GetAtt NoDot\n").ok());
  EXPECT_FALSE(read_cloudformation("- a\n- b\n").ok());
  EXPECT_FALSE(read_cloudformation("A: [\n").ok());
  EXPECT_FALSE(read_cloudformation("A: 1\nA: 2\n").ok());
  // No CloudFormation name is longer than 255; a key past YAML's implicit-key limit is refused.
  EXPECT_FALSE(read_cloudformation("? " + std::string(1100, 'k') + "\n: 1\n").ok());
  std::string deep;
  for (int i = 0; i < 100; ++i)
    deep += "[";
  EXPECT_FALSE(read_cloudformation("A: " + deep + "\n").ok());
}

// --- the template ----------------------------------------------------------------------------

TEST(TemplateTest, RenderingTwiceGivesTheSameBytes) {
  for (const auto& spec : {default_spec(), other_spec()}) {
    EXPECT_EQ(files_of(spec, {}), files_of(spec, {}));
  }
}

TEST(TemplateTest, TheYamlReadsBackAsTheTemplate) {
  for (const auto& spec : {default_spec(), other_spec()}) {
    const auto files = files_of(spec, {});
    auto back = read_cloudformation(files.at("template.yaml"));
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, cloudformation_template(spec));
  }
}

ordered_json resource(const ordered_json& doc, const std::string& id) {
  EXPECT_TRUE(doc["Resources"].contains(id)) << id;
  return doc["Resources"].value(id, ordered_json::object());
}

TEST(TemplateTest, TheDefaultSpecGivesTheDocumentsResourcesCorrected) {
  const ordered_json doc = cloudformation_template(default_spec());
  // The proxy: PostgreSQL, TLS required, end-to-end IAM, debug logging off.
  const ordered_json proxy = resource(doc, "Proxy")["Properties"];
  EXPECT_EQ(proxy["DBProxyName"], "aurora-write-proxy");
  EXPECT_EQ(proxy["EngineFamily"], "POSTGRESQL");
  EXPECT_EQ(proxy["RequireTLS"], true);
  EXPECT_EQ(proxy["DefaultAuthScheme"], "IAM_AUTH");
  EXPECT_FALSE(proxy.contains("Auth"));
  EXPECT_EQ(proxy["DebugLogging"], false);
  EXPECT_EQ(proxy["IdleClientTimeout"], 1800);
  const ordered_json pool = resource(doc, "ProxyTargetGroup")["Properties"];
  EXPECT_EQ(pool["ConnectionPoolConfigurationInfo"]["MaxConnectionsPercent"], 100);
  EXPECT_EQ(pool["ConnectionPoolConfigurationInfo"]["MaxIdleConnectionsPercent"], 50);
  EXPECT_EQ(pool["ConnectionPoolConfigurationInfo"]["ConnectionBorrowTimeout"], 120);
  EXPECT_EQ(pool["DBClusterIdentifiers"], ordered_json::parse(R"([{"Ref": "Cluster"}])"));

  // The function role's rds-db:connect names the proxy's prx- id taken from its ARN.
  const ordered_json lambda_role = resource(doc, "LambdaRole")["Properties"];
  EXPECT_EQ(lambda_role["RoleName"], "lambda-aurora-writer-role");
  EXPECT_EQ(lambda_role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
            "lambda.amazonaws.com");
  const ordered_json connect = lambda_role["Policies"][0];
  EXPECT_EQ(connect["PolicyName"], "lambda-rds-connect-policy");
  EXPECT_EQ(connect["PolicyDocument"]["Statement"][0]["Resource"],
            ordered_json::parse(R"({"Fn::Sub": [
              "arn:${AWS::Partition}:rds-db:${AWS::Region}:${AWS::AccountId}:dbuser:${ProxyResourceId}/lambda_writer",
              {"ProxyResourceId": {"Fn::Select": [6, {"Fn::Split": [":",
                {"Fn::GetAtt": ["Proxy", "DBProxyArn"]}]}]}}]})"));
  // The proxy role: end-to-end IAM, rds-db:connect to the cluster as the writer, no secret.
  const ordered_json proxy_role = resource(doc, "ProxyRole")["Properties"];
  ASSERT_EQ(proxy_role["Policies"].size(), 1u);
  EXPECT_EQ(proxy_role["Policies"][0]["PolicyDocument"]["Statement"][0]["Resource"],
            ordered_json::parse(R"({"Fn::Sub": [
              "arn:${AWS::Partition}:rds-db:${AWS::Region}:${AWS::AccountId}:dbuser:${ClusterResourceId}/lambda_writer",
              {"ClusterResourceId": {"Fn::GetAtt": ["Cluster", "DBClusterResourceId"]}}]})"));
  EXPECT_FALSE(doc["Resources"].contains("WriterSecret"));

  // The cluster: IAM auth, encrypted, managed master password, deletion protection.
  const ordered_json cluster = resource(doc, "Cluster")["Properties"];
  EXPECT_EQ(cluster["DBClusterIdentifier"], "my-aurora-cluster");
  EXPECT_EQ(cluster["EnableIAMDatabaseAuthentication"], true);
  EXPECT_EQ(cluster["StorageEncrypted"], true);
  EXPECT_EQ(cluster["ManageMasterUserPassword"], true);
  EXPECT_EQ(cluster["DeletionProtection"], true);
  EXPECT_FALSE(cluster.contains("MasterUserPassword"));
  EXPECT_EQ(resource(doc, "ClusterWriter")["Properties"]["PubliclyAccessible"], false);

  // The function: provided.al2023, its security group, verify-full, the zip from parameters.
  const ordered_json fn = resource(doc, "Function")["Properties"];
  EXPECT_EQ(fn["FunctionName"], "aurora-writer-lambda");
  EXPECT_EQ(fn["Runtime"], "provided.al2023");
  EXPECT_EQ(fn["Timeout"], 30);
  EXPECT_EQ(fn["MemorySize"], 256);
  EXPECT_FALSE(fn.contains("ReservedConcurrentExecutions"));
  EXPECT_EQ(fn["Environment"]["Variables"]["PGSSLMODE"], "verify-full");
  EXPECT_EQ(fn["Environment"]["Variables"]["DB_CA_BUNDLE"], "/var/task/rds-ca-bundle.pem");
  EXPECT_EQ(fn["Environment"]["Variables"]["PROXY_ENDPOINT"],
            ordered_json::parse(R"({"Fn::GetAtt": ["Proxy", "Endpoint"]})"));
  EXPECT_EQ(fn["Environment"]["Variables"]["ALLOWED_SCHEMAS"], "foo,bar");
  EXPECT_EQ(fn["VpcConfig"]["SecurityGroupIds"],
            ordered_json::parse(R"([{"Fn::GetAtt": ["LambdaSgSecurityGroup", "GroupId"]}])"));
  EXPECT_EQ(fn["Code"], ordered_json::parse(R"({"S3Bucket": {"Ref": "CodeS3Bucket"},
                                                "S3Key": {"Ref": "CodeS3Key"}})"));

  // Log groups with retention; alarms on the four signals; the dashboard's six charts.
  EXPECT_EQ(resource(doc, "FunctionLogGroup")["Properties"]["LogGroupName"],
            "/aws/lambda/aurora-writer-lambda");
  EXPECT_EQ(resource(doc, "ProxyLogGroup")["Properties"]["RetentionInDays"], 30);
  EXPECT_EQ(resource(doc, "RefusedLoginsAlarm")["Properties"]["MetricName"],
            "ClientConnectionsSetupFailedAuth");
  EXPECT_EQ(resource(doc, "PinnedSessionsAlarm")["Properties"]["MetricName"],
            "DatabaseConnectionsCurrentlySessionPinned");
  EXPECT_EQ(resource(doc, "BorrowTimeoutsAlarm")["Properties"]["Threshold"], 108e6);
  EXPECT_EQ(resource(doc, "FunctionErrorsAlarm")["Properties"]["Namespace"], "AWS/Lambda");
  const auto body = ordered_json::parse(
      resource(doc, "Dashboard")["Properties"]["DashboardBody"]["Fn::Sub"].get<std::string>());
  EXPECT_EQ(body["widgets"].size(), 6u);

  // Only what the spec cannot know is a parameter; the outputs a user needs.
  std::vector<std::string> parameters;
  for (auto it = doc["Parameters"].begin(); it != doc["Parameters"].end(); ++it)
    parameters.push_back(it.key());
  EXPECT_EQ(parameters,
            (std::vector<std::string>{"VpcId", "PrivateSubnetIds", "CodeS3Bucket", "CodeS3Key"}));
  for (const char* output : {"ProxyEndpoint", "FunctionArn", "ProxyResourceId"})
    EXPECT_TRUE(doc["Outputs"].contains(output)) << output;
}

TEST(TemplateTest, SecurityGroupsHaveExplicitRulesOnlyAndNoDefaultEgress) {
  const ordered_json doc = cloudformation_template(default_spec());
  const std::string text = doc.dump();
  EXPECT_THAT(text, Not(HasSubstr("0.0.0.0/0")));
  EXPECT_THAT(text, Not(HasSubstr("::/0")));
  for (const char* id :
       {"LambdaSgSecurityGroup", "RdsProxySgSecurityGroup", "AuroraSgSecurityGroup"}) {
    const ordered_json group = resource(doc, id)["Properties"];
    // The one egress entry on the group removes AWS's allow-all and matches nothing.
    ASSERT_EQ(group["SecurityGroupEgress"].size(), 1u) << id;
    EXPECT_EQ(group["SecurityGroupEgress"][0]["CidrIp"], "255.255.255.255/32") << id;
    EXPECT_FALSE(group.contains("SecurityGroupIngress")) << id;
  }
  // Exactly the four rules of the document, between the groups.
  std::vector<std::string> rules;
  for (auto it = doc["Resources"].begin(); it != doc["Resources"].end(); ++it) {
    const std::string type = (*it)["Type"];
    if (type != "AWS::EC2::SecurityGroupIngress" && type != "AWS::EC2::SecurityGroupEgress")
      continue;
    const ordered_json& p = (*it)["Properties"];
    const bool ingress = type == "AWS::EC2::SecurityGroupIngress";
    rules.push_back(
        p["GroupId"]["Fn::GetAtt"][0].get<std::string>() + (ingress ? " <- " : " -> ") +
        p[ingress ? "SourceSecurityGroupId" : "DestinationSecurityGroupId"]["Fn::GetAtt"][0]
            .get<std::string>() +
        " " + p["IpProtocol"].get<std::string>() + "/" + std::to_string(p["FromPort"].get<int>()) +
        "-" + std::to_string(p["ToPort"].get<int>()));
  }
  EXPECT_THAT(rules, ::testing::UnorderedElementsAre(
                         "LambdaSgSecurityGroup -> RdsProxySgSecurityGroup tcp/5432-5432",
                         "RdsProxySgSecurityGroup <- LambdaSgSecurityGroup tcp/5432-5432",
                         "RdsProxySgSecurityGroup -> AuroraSgSecurityGroup tcp/5432-5432",
                         "AuroraSgSecurityGroup <- RdsProxySgSecurityGroup tcp/5432-5432"));
}

TEST(TemplateTest, TheOtherSpecGivesStandardModeAnExistingClusterAndItsNames) {
  const ordered_json doc = cloudformation_template(other_spec());
  EXPECT_FALSE(doc["Resources"].contains("Cluster"));
  EXPECT_FALSE(doc["Resources"].contains("ClusterWriter"));
  EXPECT_TRUE(doc["Parameters"].contains("ExistingClusterResourceId"));
  const ordered_json proxy = resource(doc, "Proxy")["Properties"];
  EXPECT_FALSE(proxy.contains("DefaultAuthScheme"));
  EXPECT_EQ(proxy["Auth"], ordered_json::parse(R"([{"AuthScheme": "SECRETS",
      "SecretArn": {"Ref": "WriterSecret"}, "IAMAuth": "REQUIRED",
      "ClientPasswordAuthType": "POSTGRES_SCRAM_SHA_256", "Description": "The writer's own secret"}])"));
  EXPECT_EQ(resource(doc, "WriterSecret")["Properties"]["Name"], "orders-writer-secret");
  const ordered_json target = resource(doc, "ProxyTargetGroup")["Properties"];
  EXPECT_EQ(target["DBClusterIdentifiers"], ordered_json::parse(R"(["orders-cluster"])"));
  EXPECT_EQ(target["ConnectionPoolConfigurationInfo"]["InitQuery"], "SET lock_timeout = '5s'");
  // The proxy role reads that one secret, and kms:Decrypt only through Secrets Manager.
  const ordered_json statements =
      resource(doc, "ProxyRole")["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
  EXPECT_EQ(statements[0]["Resource"], ordered_json::parse(R"({"Ref": "WriterSecret"})"));
  EXPECT_EQ(statements[1]["Condition"]["StringEquals"]["kms:ViaService"],
            ordered_json::parse(R"({"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"})"));
  const ordered_json fn = resource(doc, "Function")["Properties"];
  EXPECT_EQ(fn["FunctionName"], "orders-writer");
  EXPECT_EQ(fn["ReservedConcurrentExecutions"], 20);
  EXPECT_EQ(fn["Environment"]["Variables"]["ALLOWED_SCHEMAS"], "sales,audit_log");
  EXPECT_EQ(fn["Environment"]["Variables"]["DB_PORT"], "5432");
  EXPECT_EQ(resource(doc, "FunctionLogGroup")["Properties"]["RetentionInDays"], 90);
  EXPECT_EQ(resource(doc, "PoolerSgEgressToDbSg5433")["Properties"]["FromPort"], 5433);
  EXPECT_EQ(resource(doc, "BorrowTimeoutsAlarm")["Properties"]["Threshold"], 27e6);
}

TEST(TemplateTest, NothingRenderedHoldsASecretOrTheDocumentsMistakes) {
  for (const auto& spec : {default_spec(), other_spec()}) {
    for (const auto& [path, content] : files_of(spec, {})) {
      for (const char* bad :
           {"prxy-", "sslmode=require", ":ACCOUNT_ID:", "PROXY_RESOURCE_ID/", "KMS_KEY_ID", "xxxxx",
            "sg-proxy123", "subnet-xxx", "BEGIN PRIVATE", "AKIA"}) {
        EXPECT_THAT(content, Not(HasSubstr(bad))) << path;
      }
      // The master password is never in the template (ManageMasterUserPassword is).
      EXPECT_FALSE(std::regex_search(content, std::regex("\\bMasterUserPassword"))) << path;
    }
  }
}

// --- the IAM documents -----------------------------------------------------------------------

struct RoleFiles {
  std::vector<iam::NamedPolicy> policies;
  std::vector<std::string> texts;
};

RoleFiles role_files(const std::map<std::string, std::string>& files, const std::string& role) {
  RoleFiles out;
  for (const auto& [path, content] : files) {
    if (!path.starts_with("iam/" + role + "-") || path.ends_with("-trust.json")) continue;
    auto policy = iam::parse_policy(content);
    EXPECT_TRUE(policy.ok()) << path << ": " << (policy ? "" : policy.error().message());
    if (!policy) continue;
    out.policies.push_back({path, std::make_shared<const iam::Policy>(std::move(*policy))});
    out.texts.push_back(content);
  }
  EXPECT_FALSE(out.policies.empty()) << role;
  return out;
}

bool allowed(const RoleFiles& role, const std::string& action, const std::string& resource,
             const std::vector<std::pair<std::string, std::string>>& keys = {}) {
  iam::RequestContext request;
  request.principal.type = iam::PrincipalInfo::Type::kAssumedRole;
  request.principal.account = "000000000000";
  request.action = action;
  request.resource = resource;
  for (const auto& [k, v] : keys)
    request.keys.add(k, v);
  return iam::evaluate(role.policies, request).allowed();
}

TEST(IamDocumentsTest, TheFunctionRoleMayConnectAsTheWriterToThisProxyOnly) {
  const auto files = files_of(default_spec(), {kProxyId, kClusterId});
  const RoleFiles fn = role_files(files, "lambda-aurora-writer-role");
  for (const auto& text : fn.texts) {
    for (const auto& finding : iam::lint_policy(text))
      ADD_FAILURE() << iam::format_finding("policy", finding);
  }
  const std::string arn = "arn:aws:rds-db:us-east-1:000000000000:dbuser:";
  EXPECT_TRUE(allowed(fn, "rds-db:connect", arn + kProxyId + "/lambda_writer"));
  // Section 9: no other user, no other proxy, not the cluster, no rds:* or rds-db:*.
  EXPECT_FALSE(allowed(fn, "rds-db:connect", arn + kProxyId + "/postgres"));
  EXPECT_FALSE(allowed(fn, "rds-db:connect", arn + "prx-00000000000000000/lambda_writer"));
  EXPECT_FALSE(allowed(fn, "rds-db:connect", arn + kClusterId + "/lambda_writer"));
  EXPECT_FALSE(allowed(
      fn, "rds-db:connect",
      "arn:aws:rds-db:us-west-2:000000000000:dbuser:" + std::string(kProxyId) + "/lambda_writer"));
  EXPECT_FALSE(allowed(fn, "rds:DescribeDBProxies", "*"));
  EXPECT_FALSE(allowed(fn, "rds:ModifyDBCluster",
                       "arn:aws:rds:us-east-1:000000000000:cluster:my-aurora-cluster"));
  EXPECT_FALSE(
      allowed(fn, "secretsmanager:GetSecretValue",
              "arn:aws:secretsmanager:us-east-1:000000000000:secret:aurora-master-secret-AbCdEf"));
  EXPECT_FALSE(allowed(fn, "iam:PassRole", "*"));
  // Its own log group only.
  EXPECT_TRUE(allowed(fn, "logs:PutLogEvents",
                      "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/"
                      "aurora-writer-lambda:log-stream:2026/12/08/x"));
  EXPECT_FALSE(
      allowed(fn, "logs:PutLogEvents",
              "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/other:log-stream:x"));
  // The network interfaces of a function in a VPC.
  EXPECT_TRUE(allowed(fn, "ec2:CreateNetworkInterface", "*"));
  EXPECT_FALSE(allowed(fn, "ec2:RunInstances", "*"));
  // Those files are the role's whole permissions: no managed policy (AWS's
  // AWSLambdaVPCAccessExecutionRole would add logs:* on every log group).
  const ordered_json role = cloudformation_template(default_spec())["Resources"]["LambdaRole"];
  EXPECT_FALSE(role["Properties"].contains("ManagedPolicyArns"));
  EXPECT_EQ(role["Properties"]["Policies"].size(), fn.policies.size());
}

TEST(IamDocumentsTest, TheProxyRoleConnectsAsTheWriterOnlyUnderEndToEndIam) {
  const auto files = files_of(default_spec(), {kProxyId, kClusterId});
  const RoleFiles proxy = role_files(files, "rds-proxy-role");
  iam::LintOptions options;
  options.backend_cluster_resource_id = kClusterId;
  for (const auto& text : proxy.texts) {
    for (const auto& finding : iam::lint_policy(text, options))
      ADD_FAILURE() << iam::format_finding("policy", finding);
  }
  const std::string arn = "arn:aws:rds-db:us-east-1:000000000000:dbuser:";
  EXPECT_TRUE(allowed(proxy, "rds-db:connect", arn + kClusterId + "/lambda_writer"));
  EXPECT_FALSE(allowed(proxy, "rds-db:connect", arn + kClusterId + "/postgres"));
  EXPECT_FALSE(
      allowed(proxy, "secretsmanager:GetSecretValue",
              "arn:aws:secretsmanager:us-east-1:000000000000:secret:aurora-master-secret-AbCdEf"));
  EXPECT_FALSE(allowed(proxy, "kms:Decrypt", "arn:aws:kms:us-east-1:000000000000:key/k",
                       {{"kms:ViaService", "secretsmanager.us-east-1.amazonaws.com"}}));
}

TEST(IamDocumentsTest, InStandardModeTheProxyRoleReadsOnlyTheWritersSecret) {
  const auto files = files_of(other_spec(), {kProxyId, ""});
  const RoleFiles proxy = role_files(files, "orders-proxy-role");
  for (const auto& text : proxy.texts) {
    for (const auto& finding : iam::lint_policy(text))
      ADD_FAILURE() << iam::format_finding("policy", finding);
  }
  const std::string secrets = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:";
  EXPECT_TRUE(
      allowed(proxy, "secretsmanager:GetSecretValue", secrets + "orders-writer-secret-AbC123"));
  EXPECT_FALSE(
      allowed(proxy, "secretsmanager:GetSecretValue", secrets + "aurora-master-secret-AbC123"));
  EXPECT_FALSE(allowed(proxy, "secretsmanager:GetSecretValue", secrets + "orders-writer-secret-x"));
  EXPECT_FALSE(
      allowed(proxy, "secretsmanager:PutSecretValue", secrets + "orders-writer-secret-AbC123"));
  const std::string key =
      "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
  EXPECT_TRUE(allowed(proxy, "kms:Decrypt", key,
                      {{"kms:ViaService", "secretsmanager.eu-west-1.amazonaws.com"}}));
  EXPECT_FALSE(allowed(proxy, "kms:Decrypt", key));
  EXPECT_FALSE(
      allowed(proxy, "kms:Decrypt", key, {{"kms:ViaService", "s3.eu-west-1.amazonaws.com"}}));
  EXPECT_FALSE(allowed(proxy, "rds-db:connect",
                       "arn:aws:rds-db:eu-west-1:123456789012:dbuser:" + std::string(kClusterId) +
                           "/orders_writer"));
  const RoleFiles fn = role_files(files, "orders-writer-role");
  EXPECT_TRUE(allowed(
      fn, "rds-db:connect",
      "arn:aws:rds-db:eu-west-1:123456789012:dbuser:" + std::string(kProxyId) + "/orders_writer"));
  EXPECT_FALSE(allowed(
      fn, "rds-db:connect",
      "arn:aws:rds-db:eu-west-1:123456789012:dbuser:" + std::string(kProxyId) + "/lambda_writer"));
}

TEST(IamDocumentsTest, EveryPairingOfBackendAuthAndClusterLintsClean) {
  for (const char* name : {"other.yaml", "iam-existing.yaml", "secrets-create.yaml"}) {
    const spec::Spec spec = spec_file(name);
    const auto files = files_of(spec, {kProxyId, kClusterId});
    iam::LintOptions options;
    options.backend_cluster_resource_id = kClusterId;
    int documents = 0;
    for (const auto& [path, content] : files) {
      if (!path.starts_with("iam/") || path.ends_with("-trust.json")) continue;
      ++documents;
      for (const auto& finding : iam::lint_policy(content, options))
        ADD_FAILURE() << name << ": " << iam::format_finding(path, finding);
    }
    EXPECT_EQ(documents, 4) << name;  // 3 for the function's role, 1 for the proxy's
  }
}

TEST(IamDocumentsTest, WithoutTheIdsTheFilesKeepTheirVariablesForTheScript) {
  const auto files = files_of(default_spec(), {});
  EXPECT_THAT(files.at("iam/lambda-aurora-writer-role-lambda-rds-connect-policy.json"),
              HasSubstr("dbuser:${ProxyResourceId}/lambda_writer"));
  EXPECT_FALSE(render(default_spec(), "iam", {"prxy-abc", ""}).ok());
  EXPECT_FALSE(render(default_spec(), "iam", {"", "cluster-lower"}).ok());
  EXPECT_FALSE(render(default_spec(), "bogus", {}).ok());
}

// --- the SQL ---------------------------------------------------------------------------------

Result<ProcessOutput> psql(const std::string& dsn, const std::string& file,
                           const std::vector<std::string>& extra = {}) {
  auto program = find_program("psql");
  if (!program) return Error::not_found("psql is not installed");
  std::vector<std::string> argv = {*program, dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", file};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run_process(argv);
}

std::string write_temp(const std::string& name, const std::string& content) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << content;
  return path;
}

std::vector<std::string> audit_findings(const std::string& dsn, const spec::Spec& spec) {
  auto admin = testing::must_connect(dsn);
  auto report = dbadmin::audit(admin, spec);
  EXPECT_TRUE(report.ok()) << (report ? "" : report.error().message());
  std::vector<std::string> out;
  for (const auto& f : report->findings)
    out.push_back(f.check + " " + f.object);
  return out;
}

std::vector<std::string> audit_sql_rows(const std::string& dsn, const std::string& file) {
  auto result = psql(dsn, file, {"-A", "-t", "-F", " "});
  EXPECT_TRUE(result.ok() && result->exit_code == 0) << (result ? result->output : "");
  std::vector<std::string> rows;
  std::istringstream in(result ? result->output : "");
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line != "BEGIN" && line != "COMMIT") rows.push_back(line);
  return rows;
}

void sql_applies_cleanly_twice(spec::Spec spec, const std::string& setup) {
  const std::string db = testing::fresh_database("render");
  spec.database.name = db;
  auto& cluster = testing::shared_cluster();
  const std::string dsn = cluster.admin_dsn(db);
  {
    auto admin = testing::must_connect(dsn);
    testing::must_exec(admin, setup);
  }
  const auto files = files_of(spec, {});
  const std::string provision = write_temp(db + "-provision.sql", files.at("sql/provision.sql"));
  const std::string audit = write_temp(db + "-audit.sql", files.at("sql/audit.sql"));
  for (int run = 1; run <= 2; ++run) {
    auto applied = psql(dsn, provision, {"-v", "harden_public=on"});
    ASSERT_TRUE(applied.ok()) << applied.error().message();
    ASSERT_EQ(applied->exit_code, 0) << "run " << run << ":\n" << applied->output;
    EXPECT_THAT(audit_findings(dsn, spec), ::testing::IsEmpty()) << "run " << run;
    EXPECT_THAT(audit_sql_rows(dsn, audit), ::testing::IsEmpty()) << "run " << run;
  }
  // The audit file sees what the audit sees: a SELECT grant, TEMPORARY, in keyed mode a non-key
  // column made readable; then a membership (which reads everything, so it comes last).
  const bool keyed = spec.database.write_mode == spec::WriteMode::kKeyed;
  auto admin = testing::must_connect(dsn);
  testing::must_exec(admin, "GRANT SELECT ON " + spec.database.schemas[0] + ".t1 TO " +
                                spec.database.user + "; GRANT TEMPORARY ON DATABASE " + db +
                                " TO " + spec.database.user);
  std::vector<std::string> expected = {"select-on-relation", "database-temp"};
  if (keyed) {
    testing::must_exec(
        admin, "GRANT SELECT (v) ON " + spec.database.schemas[1] + ".t2 TO " + spec.database.user);
    expected.push_back("select-on-column");
  }
  for (int phase = 1; phase <= 2; ++phase) {
    if (phase == 2) {
      testing::must_exec(admin, "GRANT pg_read_all_data TO " + spec.database.user);
      expected = {"role-membership"};
    }
    const auto rows = audit_sql_rows(dsn, audit);
    const auto findings = audit_findings(dsn, spec);
    for (const auto& check : expected) {
      EXPECT_THAT(rows, ::testing::Contains(::testing::StartsWith(check + " "))) << check;
      EXPECT_THAT(findings, ::testing::Contains(::testing::StartsWith(check + " "))) << check;
    }
  }
}

TEST(SqlTest, TheDefaultSpecsScriptLeavesNoAuditFindingEvenAppliedTwice) {
  sql_applies_cleanly_twice(
      default_spec(),
      "CREATE SCHEMA foo; CREATE TABLE foo.t1 (id serial PRIMARY KEY, v text);"
      "CREATE SCHEMA bar; CREATE TABLE bar.t2 (id int PRIMARY KEY, v text);");
}

TEST(SqlTest, TheOtherSpecsScriptLeavesNoAuditFindingEvenAppliedTwice) {
  spec::Spec spec = other_spec();
  spec.database.master_user = "postgres";
  sql_applies_cleanly_twice(
      spec,
      "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orders_writer') THEN "
      "CREATE ROLE orders_writer LOGIN PASSWORD 'before'; END IF; END$$;"
      "CREATE SCHEMA sales; CREATE TABLE sales.t1 (id serial PRIMARY KEY, v text);"
      "CREATE SCHEMA audit_log; CREATE TABLE audit_log.t2 (id int PRIMARY KEY, v text);");
}

TEST(SqlTest, InStandardModeTheScriptsVerifierOfTheSecretLogsTheWriterIn) {
  // cli/deploy.sh's SCRAM_VERIFIER program makes the verifier; provision.sql sets it; the
  // writer then logs in with the password itself, which never reached the server.
  spec::Spec spec = other_spec();
  spec.database.master_user = "postgres";
  const std::string db = testing::fresh_database("renderpw");
  spec.database.name = db;
  auto& cluster = testing::shared_cluster();
  {
    auto admin = testing::must_connect(cluster.admin_dsn(db));
    testing::must_exec(admin, "CREATE SCHEMA sales; CREATE SCHEMA audit_log;");
  }
  const auto files = files_of(spec, {});
  const std::string script = files.at("cli/deploy.sh");
  const std::size_t from = script.find("SCRAM_VERIFIER='\n");
  ASSERT_NE(from, std::string::npos);
  const std::size_t body = from + std::string("SCRAM_VERIFIER='\n").size();
  const std::string program = script.substr(body, script.find("\n'\n", body) - body + 1);
  const std::string password = "Wr1terPassw0rdFromTheSecret";
  ProcessOptions stdin_password;
  stdin_password.stdin_data = password + "\n";
  auto made = run_process({"python3", "-c", program}, stdin_password);
  ASSERT_TRUE(made.ok());
  ASSERT_EQ(made->exit_code, 0) << made->output;
  std::string verifier = made->output;
  while (!verifier.empty() && verifier.back() == '\n')
    verifier.pop_back();
  EXPECT_TRUE(std::regex_match(
      verifier,
      std::regex(R"(SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+)")))
      << verifier;
  ProcessOptions through_stdin;
  through_stdin.stdin_data =
      "\\set writer_password '" + verifier + "'\n" + files.at("sql/provision.sql");
  auto applied = run_process({*find_program("psql"), cluster.admin_dsn(db), "-X", "-q", "-v",
                              "ON_ERROR_STOP=1", "-v", "harden_public=on", "-f", "-"},
                             through_stdin);
  ASSERT_TRUE(applied.ok());
  ASSERT_EQ(applied->exit_code, 0) << applied->output;
  {
    auto admin = testing::must_connect(cluster.admin_dsn(db));
    EXPECT_EQ(testing::must_exec(admin, "SELECT rolpassword = '" + verifier +
                                            "' AS same FROM pg_authid WHERE rolname = "
                                            "'orders_writer'")
                  .get(0, "same"),
              "t");
  }
  EXPECT_TRUE(pgclient::Connection::open(cluster.dsn_for("orders_writer", password, db)).ok());
  EXPECT_FALSE(pgclient::Connection::open(cluster.dsn_for("orders_writer", "wrong", db)).ok());
}

TEST(SqlTest, TheScriptStopsAndChangesNothingOnTheWrongDatabase) {
  const std::string db = testing::fresh_database("renderwrong");
  auto& cluster = testing::shared_cluster();
  const auto files = files_of(default_spec(), {});  // names database mydb
  const std::string provision = write_temp(db + "-provision.sql", files.at("sql/provision.sql"));
  auto applied = psql(cluster.admin_dsn(db), provision);
  ASSERT_TRUE(applied.ok());
  EXPECT_NE(applied->exit_code, 0);
  EXPECT_THAT(applied->output, HasSubstr("the spec names mydb"));
  auto admin = testing::must_connect(cluster.admin_dsn(db));
  EXPECT_EQ(
      testing::must_exec(admin, "SELECT count(*) FROM pg_namespace WHERE nspname IN ('foo', 'bar')")
          .get(0, "count"),
      "0");
}

// --- the CLI script --------------------------------------------------------------------------

TEST(CliScriptTest, PassesBashAndShellcheckAndNamesNoPlaceholder) {
  for (const auto& spec : {default_spec(), other_spec()}) {
    const auto files = files_of(spec, {});
    const std::string script = files.at("cli/deploy.sh");
    const std::string path = write_temp(spec.function.name + "-deploy.sh", script);
    auto bash = run_process({"bash", "-n", path});
    ASSERT_TRUE(bash.ok());
    EXPECT_EQ(bash->exit_code, 0) << bash->output;
    auto shellcheck = find_program("shellcheck");
    ASSERT_TRUE(shellcheck.has_value()) << "shellcheck is not installed (scripts/install-packages)";
    auto checked = run_process({*shellcheck, "-s", "bash", path});
    ASSERT_TRUE(checked.ok());
    EXPECT_EQ(checked->exit_code, 0) << checked->output;
    // The document's placeholders, filled in or looked up.
    for (const std::regex& placeholder :
         {std::regex(":ACCOUNT_ID:"), std::regex("<[a-z_-]+>"), std::regex("prxy-"),
          std::regex("sg-[a-z]+123"), std::regex("xxx"), std::regex("sslmode=require")}) {
      EXPECT_FALSE(std::regex_search(script, placeholder)) << spec.function.name;
    }
    // What the document forgot: egress revoked, IAM auth on, the prx- id looked up, verify-full.
    EXPECT_THAT(script, HasSubstr("revoke-security-group-egress"));
    EXPECT_THAT(script, HasSubstr("--enable-iam-database-authentication"));
    EXPECT_THAT(script, HasSubstr("PROXY_RESOURCE_ID=${PROXY_ARN##*:}"));
    EXPECT_THAT(script, HasSubstr("\"PGSSLMODE\":\"verify-full\""));
    EXPECT_THAT(script, HasSubstr("--require-tls"));
    EXPECT_THAT(script, HasSubstr("REGION='" + spec.region + "'"));
  }
}

}  // namespace
}  // namespace writegate::deploy
