// Seeds the local IAM store with the architecture document's two roles, for the names of a spec:
// the Lambda role (trust lambda.amazonaws.com; rds-db:connect on the one dbuser ARN, the basic
// execution policy, AWSLambdaVPCAccessExecutionRole) and the RDS Proxy role (trust
// rds.amazonaws.com; Secrets Manager read of the secret the proxy logs in to the database with —
// spec database.user_secret, the writer's own secret, never the master secret — and kms:Decrypt
// only via Secrets Manager).
// This is the only part of writegate_iam that depends on writegate_spec.
//
//   auto spec = writegate::spec::load_for_cli(globals.spec_path);
//   auto seeded = writegate::iam::seed_store(*spec, ".writegate/state");
//   if (seeded) std::cout << seeded->dbuser_arn << "\n";
//
// Seeding is idempotent: running it again rewrites the roles' policies from the spec and keeps
// the role ids, the proxy resource id and the KMS key id already in the store.
#pragma once

#include <string>

#include "common/result.h"
#include "spec/spec.h"

namespace writegate::iam {

inline constexpr std::string_view kLambdaRdsConnectPolicyName = "lambda-rds-connect-policy";
inline constexpr std::string_view kLambdaBasicExecutionPolicyName = "lambda-basic-execution-policy";
inline constexpr std::string_view kProxySecretsPolicyName = "rds-proxy-secrets-policy";
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
};

std::string service_trust_policy(std::string_view service);  // "lambda.amazonaws.com"
std::string lambda_rds_connect_policy(const SeedParams& params);
std::string lambda_basic_execution_policy(const SeedParams& params);
std::string proxy_secrets_policy(const SeedParams& params);

struct SeedResult {
  std::string lambda_role_arn;
  std::string proxy_role_arn;
  std::string proxy_resource_id;
  std::string kms_key_id;
  std::string dbuser_arn;  // arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-.../USER
  std::string secret_arn_pattern;
  std::string kms_key_arn;
};

Result<SeedResult> seed_store(const spec::Spec& spec, const std::string& state_dir);

}  // namespace writegate::iam
