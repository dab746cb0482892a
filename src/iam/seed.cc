#include "iam/seed.h"

#include <nlohmann/json.hpp>

#include "iam/arn.h"
#include "iam/evaluator.h"
#include "iam/random.h"
#include "iam/store.h"

namespace writegate::iam {
namespace {

using nlohmann::ordered_json;

std::string document(ordered_json statements) {
  ordered_json policy;
  policy["Version"] = "2012-10-17";
  policy["Statement"] = std::move(statements);
  return policy.dump(2) + "\n";
}

}  // namespace

std::string service_trust_policy(std::string_view service) {
  return document(ordered_json::array(
      {ordered_json{{"Effect", "Allow"},
                    {"Principal", ordered_json{{"Service", std::string(service)}}},
                    {"Action", "sts:AssumeRole"}}}));
}

std::string lambda_rds_connect_policy(const SeedParams& p) {
  return document(ordered_json::array({ordered_json{
      {"Sid", "AllowRDSConnect"},
      {"Effect", "Allow"},
      {"Action", ordered_json::array({"rds-db:connect"})},
      {"Resource", rds_db_user_arn(p.region, p.account_id, p.proxy_resource_id, p.db_user)}}}));
}

std::string lambda_basic_execution_policy(const SeedParams& p) {
  return document(ordered_json::array(
      {ordered_json{{"Sid", "BasicLambdaExecution"},
                    {"Effect", "Allow"},
                    {"Action", ordered_json::array({"logs:CreateLogGroup", "logs:CreateLogStream",
                                                    "logs:PutLogEvents"})},
                    {"Resource",
                     "arn:aws:logs:" + p.region + ":" + p.account_id + ":log-group:/aws/lambda/*"}},
       ordered_json{{"Sid", "VPCExecution"},
                    {"Effect", "Allow"},
                    {"Action", ordered_json::array(
                                   {"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
                                    "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                                    "ec2:UnassignPrivateIpAddresses"})},
                    {"Resource", "*"}}}));
}

std::string proxy_secrets_policy(const SeedParams& p) {
  return document(ordered_json::array(
      {ordered_json{{"Sid", "AllowSecretsManagerAccess"},
                    {"Effect", "Allow"},
                    {"Action", ordered_json::array({"secretsmanager:GetSecretValue",
                                                    "secretsmanager:DescribeSecret"})},
                    {"Resource", "arn:aws:secretsmanager:" + p.region + ":" + p.account_id +
                                     ":secret:" + p.backend_secret + "-*"}},
       ordered_json{
           {"Sid", "AllowKMSDecrypt"},
           {"Effect", "Allow"},
           {"Action", ordered_json::array({"kms:Decrypt"})},
           {"Resource", "arn:aws:kms:" + p.region + ":" + p.account_id + ":key/" + p.kms_key_id},
           {"Condition", ordered_json{{"StringEquals", ordered_json{{"kms:ViaService",
                                                                     "secretsmanager." + p.region +
                                                                         ".amazonaws.com"}}}}}}}));
}

std::string proxy_backend_connect_policy(const SeedParams& p) {
  return document(ordered_json::array({ordered_json{
      {"Sid", "AllowBackendIamConnect"},
      {"Effect", "Allow"},
      {"Action", ordered_json::array({"rds-db:connect"})},
      {"Resource", rds_db_user_arn(p.region, p.account_id, p.cluster_resource_id, p.db_user)}}}));
}

Result<SeedResult> seed_store(const spec::Spec& spec, const std::string& state_dir) {
  if (!spec.proxy.resource_id.empty() && !is_proxy_resource_id(spec.proxy.resource_id)) {
    return Error::invalid_argument("proxy.resource_id " + spec.proxy.resource_id +
                                   " is not prx- followed by 17 lowercase hex digits");
  }
  StoreSettings initial;
  initial.account_id = spec.account_id;
  initial.region = spec.region;
  WG_ASSIGN_OR_RETURN(auto store, IamStore::open_or_create(state_dir, initial));
  WG_ASSIGN_OR_RETURN(auto new_proxy_id, new_proxy_resource_id());
  WG_ASSIGN_OR_RETURN(auto new_key_id, new_kms_key_id());
  WG_ASSIGN_OR_RETURN(auto new_cluster_id, new_cluster_resource_id());
  WG_RETURN_IF_ERROR(store->update_settings([&](StoreSettings& settings) -> Status {
    settings.account_id = spec.account_id;
    settings.region = spec.region;
    if (!spec.proxy.resource_id.empty()) {
      settings.proxy_resource_id = spec.proxy.resource_id;
    } else if (settings.proxy_resource_id.empty()) {
      settings.proxy_resource_id = new_proxy_id;
    }
    if (settings.kms_key_id.empty()) settings.kms_key_id = new_key_id;
    if (settings.cluster_resource_id.empty()) settings.cluster_resource_id = new_cluster_id;
    return {};
  }));
  const StoreSettings settings = store->settings();
  SeedParams params{spec.region,
                    spec.account_id,
                    spec.database.user,
                    settings.proxy_resource_id,
                    spec.database.user_secret,
                    settings.kms_key_id,
                    settings.cluster_resource_id};

  const std::string& lambda_role = spec.iam.lambda_role;
  const std::string& proxy_role = spec.iam.proxy_role;
  WG_RETURN_IF_ERROR(store->create_role(lambda_role, service_trust_policy("lambda.amazonaws.com"),
                                        "Lambda writer: rds-db:connect as the writer user only",
                                        kMaxSessionDuration, true));
  WG_RETURN_IF_ERROR(store->put_role_policy(lambda_role, kLambdaRdsConnectPolicyName,
                                            lambda_rds_connect_policy(params)));
  WG_RETURN_IF_ERROR(store->put_role_policy(lambda_role, kLambdaBasicExecutionPolicyName,
                                            lambda_basic_execution_policy(params)));
  WG_RETURN_IF_ERROR(store->attach_role_policy(lambda_role, kVpcAccessPolicyArn));
  WG_RETURN_IF_ERROR(store->create_role(
      proxy_role, service_trust_policy("rds.amazonaws.com"),
      "RDS Proxy: reads the database secret through Secrets Manager", kMaxSessionDuration, true));
  WG_RETURN_IF_ERROR(
      store->put_role_policy(proxy_role, kProxySecretsPolicyName, proxy_secrets_policy(params)));
  // End-to-end IAM: the proxy logs in to the database with a token of its own role. In SECRETS
  // mode the role gets no rds-db:connect (a re-seed after switching back removes it).
  if (spec.proxy.backend_auth == "IAM_AUTH") {
    WG_RETURN_IF_ERROR(store->put_role_policy(proxy_role, kProxyBackendConnectPolicyName,
                                              proxy_backend_connect_policy(params)));
  } else if (auto role = store->role(proxy_role);
             role && role->inline_policies.contains(std::string(kProxyBackendConnectPolicyName))) {
    WG_RETURN_IF_ERROR(store->delete_role_policy(proxy_role, kProxyBackendConnectPolicyName));
  }

  SeedResult result;
  result.lambda_role_arn = role_arn(spec.account_id, lambda_role);
  result.proxy_role_arn = role_arn(spec.account_id, proxy_role);
  result.proxy_resource_id = settings.proxy_resource_id;
  result.kms_key_id = settings.kms_key_id;
  result.cluster_resource_id = settings.cluster_resource_id;
  result.cluster_dbuser_arn = rds_db_user_arn(spec.region, spec.account_id,
                                              settings.cluster_resource_id, spec.database.user);
  result.dbuser_arn =
      rds_db_user_arn(spec.region, spec.account_id, settings.proxy_resource_id, spec.database.user);
  result.secret_arn_pattern = "arn:aws:secretsmanager:" + spec.region + ":" + spec.account_id +
                              ":secret:" + spec.database.user_secret + "-*";
  result.kms_key_arn =
      "arn:aws:kms:" + spec.region + ":" + spec.account_id + ":key/" + settings.kms_key_id;
  return result;
}

Result<ConnectDecision> proxy_cluster_connect(const IamStore& store, const spec::Spec& spec,
                                              const std::string& db_user) {
  WG_ASSIGN_OR_RETURN(auto found, store.find_principal(spec.iam.proxy_role));
  const auto& settings = store.settings();
  if (settings.cluster_resource_id.empty()) {
    return Error::failed_precondition(
        "the IAM store has no cluster resource id: run `writegate iam seed`");
  }
  RequestContext request;
  request.principal = found.principal;
  request.action = "rds-db:connect";
  request.resource =
      rds_db_user_arn(settings.region, settings.account_id, settings.cluster_resource_id, db_user);
  add_global_keys(request, std::chrono::system_clock::now());
  const auto result = evaluate(found.policies, request);
  return ConnectDecision{result.allowed(), request.resource, result.describe()};
}

}  // namespace writegate::iam
