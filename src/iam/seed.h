// Seeds the local IAM store with the architecture document's two roles, for the names of a spec:
// the Lambda role (trust lambda.amazonaws.com; rds-db:connect on the one dbuser ARN, the basic
// execution policy, AWSLambdaVPCAccessExecutionRole) and the RDS Proxy role (trust
// rds.amazonaws.com; Secrets Manager read of the secret the proxy logs in to the database with —
// spec database.user_secret, the writer's own secret, never the master secret — and kms:Decrypt
// only via Secrets Manager; with the spec's proxy.backend_auth IAM_AUTH also rds-db:connect on the
// cluster's dbuser ARN, arn:aws:rds-db:REGION:ACCOUNT:dbuser:cluster-<id>/USER, for end-to-end
// IAM).
// This is the only part of writegate_iam that depends on writegate_spec.
//
//   auto spec = writegate::spec::load_for_cli(globals.spec_path);
//   auto seeded = writegate::iam::seed_store(*spec, ".writegate/state");
//   if (seeded) std::cout << seeded->dbuser_arn << "\n";
//
// Seeding is idempotent: running it again rewrites the roles' policies from the spec and keeps
// the role ids, the proxy resource id, the cluster resource id and the KMS key id already in the
// store. The store's settings().cluster_resource_id is the one source of the cluster's id: the
// stack and the database's PAM line (src/pam) read it from there.
#pragma once

#include <string>

#include "common/result.h"
#include "spec/spec.h"

namespace writegate::iam {

inline constexpr std::string_view kLambdaRdsConnectPolicyName = "lambda-rds-connect-policy";
inline constexpr std::string_view kLambdaBasicExecutionPolicyName = "lambda-basic-execution-policy";
inline constexpr std::string_view kProxySecretsPolicyName = "rds-proxy-secrets-policy";
inline constexpr std::string_view kProxyBackendConnectPolicyName =
    "rds-proxy-backend-connect-policy";
inline constexpr std::string_view kVpcAccessPolicyArn =
    "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole";

// The values the documents are made from.
struct SeedParams {
  std::string region;
  std::string account_id;
  std::string db_user;
  std::string proxy_resource_id;  // prx-<17 hex>
  std::string backend_secret;     // Secrets Manager secret name the proxy reads
  std::string kms_key_id;
  std::string cluster_resource_id;  // cluster-<26 of [A-Z0-9]>
};

std::string service_trust_policy(std::string_view service);  // "lambda.amazonaws.com"
std::string lambda_rds_connect_policy(const SeedParams& params);
std::string lambda_basic_execution_policy(const SeedParams& params);
std::string proxy_secrets_policy(const SeedParams& params);
// rds-db:connect on the cluster's dbuser ARN (IAM_AUTH only).
std::string proxy_backend_connect_policy(const SeedParams& params);

struct SeedResult {
  std::string lambda_role_arn;
  std::string proxy_role_arn;
  std::string proxy_resource_id;
  std::string kms_key_id;
  std::string cluster_resource_id;
  std::string dbuser_arn;          // arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-.../USER
  std::string cluster_dbuser_arn;  // arn:aws:rds-db:REGION:ACCOUNT:dbuser:cluster-.../USER
  std::string secret_arn_pattern;
  std::string kms_key_arn;
};

Result<SeedResult> seed_store(const spec::Spec& spec, const std::string& state_dir);

class IamStore;

// End-to-end IAM, simulated: may the spec's RDS Proxy role rds-db:connect to the cluster (the
// store's cluster resource id) as db_user? The policy evaluator's answer, with its reason. The
// caller opens the store once for all its questions.
struct ConnectDecision {
  bool allowed = false;
  std::string resource;  // arn:aws:rds-db:REGION:ACCOUNT:dbuser:cluster-.../USER
  std::string describe;  // the evaluator's account of the decision
};
Result<ConnectDecision> proxy_cluster_connect(const IamStore& store, const spec::Spec& spec,
                                              const std::string& db_user);

}  // namespace writegate::iam
