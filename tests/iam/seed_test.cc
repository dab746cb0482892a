// Seeding the store from a spec, then deciding the architecture's requests with it.
#include "iam/seed.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "iam/arn.h"
#include "iam/evaluator.h"
#include "iam/lint.h"
#include "iam/store.h"

namespace writegate::iam {
namespace {

class SeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/wg-iam-seed-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    spec_.account_id = "123456789012";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  Decision decide(IamStore& store, const std::string& principal, const std::string& action,
                  const std::string& resource,
                  std::vector<std::pair<std::string, std::string>> keys = {}) {
    auto found = store.find_principal(principal);
    EXPECT_TRUE(found.ok());
    RequestContext request;
    request.principal = found->principal;
    request.action = action;
    request.resource = resource;
    for (auto& [k, v] : keys)
      request.keys.add(k, v);
    return evaluate(found->policies, request).decision;
  }

  std::string root_;
  spec::Spec spec_;
};

TEST_F(SeedTest, SeedsTheDocumentRoles) {
  auto seeded = seed_store(spec_, root_ + "/state");
  ASSERT_TRUE(seeded.ok()) << seeded.error().message();
  EXPECT_TRUE(is_proxy_resource_id(seeded->proxy_resource_id));
  EXPECT_EQ(seeded->dbuser_arn, "arn:aws:rds-db:us-east-1:123456789012:dbuser:" +
                                    seeded->proxy_resource_id + "/lambda_writer");
  EXPECT_EQ(seeded->lambda_role_arn, "arn:aws:iam::123456789012:role/lambda-aurora-writer-role");
  auto store = IamStore::open(root_ + "/state");
  ASSERT_TRUE(store.ok());
  auto& s = **store;
  EXPECT_EQ(s.settings().proxy_resource_id, seeded->proxy_resource_id);

  const std::string lambda = "lambda-aurora-writer-role";
  EXPECT_EQ(decide(s, lambda, "rds-db:connect", seeded->dbuser_arn), Decision::kAllowed);
  EXPECT_EQ(decide(s, lambda, "rds-db:connect",
                   "arn:aws:rds-db:us-east-1:123456789012:dbuser:" + seeded->proxy_resource_id +
                       "/postgres"),
            Decision::kImplicitDeny);
  EXPECT_EQ(decide(s, lambda, "ec2:DescribeSubnets", "*"), Decision::kAllowed);  // managed policy
  EXPECT_EQ(
      decide(s, lambda, "secretsmanager:GetSecretValue",
             "arn:aws:secretsmanager:us-east-1:123456789012:secret:aurora-master-secret-AbCdEf"),
      Decision::kImplicitDeny);
  const std::string proxy = "rds-proxy-role";
  EXPECT_EQ(
      decide(s, proxy, "secretsmanager:GetSecretValue",
             "arn:aws:secretsmanager:us-east-1:123456789012:secret:lambda-writer-secret-AbCdEf"),
      Decision::kAllowed);
  // The proxy logs in as the writer (spec database.user_secret): the master secret is out of reach.
  EXPECT_EQ(
      decide(s, proxy, "secretsmanager:GetSecretValue",
             "arn:aws:secretsmanager:us-east-1:123456789012:secret:aurora-master-secret-AbCdEf"),
      Decision::kImplicitDeny);
  EXPECT_EQ(decide(s, proxy, "kms:Decrypt", seeded->kms_key_arn,
                   {{"kms:ViaService", "secretsmanager.us-east-1.amazonaws.com"}}),
            Decision::kAllowed);
  EXPECT_EQ(decide(s, proxy, "kms:Decrypt", seeded->kms_key_arn), Decision::kImplicitDeny);
  EXPECT_EQ(decide(s, proxy, "rds-db:connect", seeded->dbuser_arn), Decision::kImplicitDeny);

  // Lambda may assume its role; the proxy service may not.
  auto trust = s.trust_policy(lambda);
  ASSERT_TRUE(trust.ok());
  PrincipalInfo service;
  service.type = PrincipalInfo::Type::kService;
  service.service = "lambda.amazonaws.com";
  EXPECT_TRUE(authorize_assume_role({service, {}}, seeded->lambda_role_arn, *trust).allowed);
  service.service = "rds.amazonaws.com";
  EXPECT_FALSE(authorize_assume_role({service, {}}, seeded->lambda_role_arn, *trust).allowed);

  // What the seed wrote passes the linter.
  auto role = s.role(lambda);
  ASSERT_TRUE(role.has_value());
  for (const auto& [name, document] : role->inline_policies) {
    EXPECT_TRUE(lint_policy(document).empty()) << name;
  }
  auto proxy_role = s.role(proxy);
  ASSERT_TRUE(proxy_role.has_value());
  // End-to-end IAM (the default): the proxy role's connect names the cluster, on purpose.
  for (const auto& [name, document] : proxy_role->inline_policies) {
    EXPECT_TRUE(
        lint_policy(document, {.backend_cluster_resource_id = seeded->cluster_resource_id}).empty())
        << name;
  }
}

TEST_F(SeedTest, IdempotentAndStable) {
  auto first = seed_store(spec_, root_ + "/state");
  ASSERT_TRUE(first.ok());
  auto role_id = (*IamStore::open(root_ + "/state"))->role("rds-proxy-role")->role_id;
  auto second = seed_store(spec_, root_ + "/state");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->proxy_resource_id, second->proxy_resource_id);
  EXPECT_EQ(first->kms_key_id, second->kms_key_id);
  EXPECT_EQ((*IamStore::open(root_ + "/state"))->role("rds-proxy-role")->role_id, role_id);
}

TEST_F(SeedTest, EndToEndIamGivesTheProxyRoleTheClusterDbUserOnly) {
  spec_.proxy.backend_auth = "SECRETS";
  auto secrets = seed_store(spec_, root_ + "/state");
  ASSERT_TRUE(secrets.ok()) << secrets.error().message();
  EXPECT_TRUE(is_cluster_resource_id(secrets->cluster_resource_id));
  EXPECT_EQ(secrets->cluster_dbuser_arn, "arn:aws:rds-db:us-east-1:123456789012:dbuser:" +
                                             secrets->cluster_resource_id + "/lambda_writer");
  const std::string proxy = "rds-proxy-role";
  {
    auto store = IamStore::open(root_ + "/state");
    ASSERT_TRUE(store.ok());
    EXPECT_EQ((*store)->settings().cluster_resource_id, secrets->cluster_resource_id);
    EXPECT_EQ(decide(**store, proxy, "rds-db:connect", secrets->cluster_dbuser_arn),
              Decision::kImplicitDeny);
  }
  spec_.proxy.backend_auth = "IAM_AUTH";
  auto iam_auth = seed_store(spec_, root_ + "/state");
  ASSERT_TRUE(iam_auth.ok()) << iam_auth.error().message();
  EXPECT_EQ(iam_auth->cluster_resource_id, secrets->cluster_resource_id);  // made once, kept
  {
    auto store = IamStore::open(root_ + "/state");
    ASSERT_TRUE(store.ok());
    auto& s = **store;
    EXPECT_EQ(decide(s, proxy, "rds-db:connect", iam_auth->cluster_dbuser_arn), Decision::kAllowed);
    EXPECT_EQ(decide(s, proxy, "rds-db:connect",
                     "arn:aws:rds-db:us-east-1:123456789012:dbuser:" +
                         iam_auth->cluster_resource_id + "/postgres"),
              Decision::kImplicitDeny);
    // Through the proxy stays the function's: the proxy role cannot log in at the proxy.
    EXPECT_EQ(decide(s, proxy, "rds-db:connect", iam_auth->dbuser_arn), Decision::kImplicitDeny);
    EXPECT_EQ(
        decide(s, "lambda-aurora-writer-role", "rds-db:connect", iam_auth->cluster_dbuser_arn),
        Decision::kImplicitDeny);
    // Linted as the function's policy it is db-resource-id (that one must name the proxy); linted
    // as the proxy role's under end-to-end IAM (its cluster's id allowed) it is clean, and the id
    // of another cluster is still a finding.
    const std::string document =
        s.role(proxy)->inline_policies.at(std::string(kProxyBackendConnectPolicyName));
    const auto findings = lint_policy(document);
    ASSERT_EQ(findings.size(), 1u);
    EXPECT_EQ(findings[0].check, "db-resource-id");
    EXPECT_TRUE(
        lint_policy(document, {.backend_cluster_resource_id = iam_auth->cluster_resource_id})
            .empty());
    const auto other = lint_policy(document, {.backend_cluster_resource_id = "cluster-OTHER"});
    ASSERT_EQ(other.size(), 1u);
    EXPECT_EQ(other[0].check, "db-resource-id");
  }
  // The audit's question, answered by the evaluator over the store.
  auto opened = IamStore::open(root_ + "/state");
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  auto writer = proxy_cluster_connect(**opened, spec_, "lambda_writer");
  ASSERT_TRUE(writer.ok()) << writer.error().message();
  EXPECT_TRUE(writer->allowed) << writer->describe;
  EXPECT_EQ(writer->resource, iam_auth->cluster_dbuser_arn);
  auto master = proxy_cluster_connect(**opened, spec_, "postgres");
  ASSERT_TRUE(master.ok()) << master.error().message();
  EXPECT_FALSE(master->allowed);
  EXPECT_THAT(master->describe, ::testing::HasSubstr("implicitly denied"));
  // Back to SECRETS: the grant goes away.
  spec_.proxy.backend_auth = "SECRETS";
  ASSERT_TRUE(seed_store(spec_, root_ + "/state").ok());
  auto store = IamStore::open(root_ + "/state");
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(decide(**store, proxy, "rds-db:connect", iam_auth->cluster_dbuser_arn),
            Decision::kImplicitDeny);
}

TEST_F(SeedTest, SpecValuesWin) {
  spec_.proxy.resource_id = "prx-00000000000000abc";
  spec_.database.user = "app_writer";
  spec_.region = "eu-west-1";
  auto seeded = seed_store(spec_, root_ + "/state");
  ASSERT_TRUE(seeded.ok()) << seeded.error().message();
  EXPECT_EQ(seeded->dbuser_arn,
            "arn:aws:rds-db:eu-west-1:123456789012:dbuser:prx-00000000000000abc/app_writer");
  spec_.proxy.resource_id = "prxy-abc";
  auto bad = seed_store(spec_, root_ + "/state");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(),
            "proxy.resource_id prxy-abc is not prx- followed by 17 lowercase hex digits");
}

}  // namespace
}  // namespace writegate::iam
