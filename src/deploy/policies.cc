#include "deploy/policies.h"

#include <algorithm>

namespace writegate::deploy {
namespace {

using nlohmann::ordered_json;

ordered_json document(ordered_json statements) {
  return ordered_json{{"Version", "2012-10-17"}, {"Statement", std::move(statements)}};
}

ordered_json service_trust(const std::string& service) {
  return document(ordered_json::array({ordered_json{
      {"Effect", "Allow"}, {"Principal", {{"Service", service}}}, {"Action", "sts:AssumeRole"}}}));
}

std::string dbuser_arn(const std::string& resource_variable, const std::string& user) {
  return "arn:${AWS::Partition}:rds-db:${AWS::Region}:${AWS::AccountId}:dbuser:${" +
         resource_variable + "}/" + user;
}

}  // namespace

std::vector<RoleDocuments> role_documents(const spec::Spec& spec) {
  const std::string& user = spec.database.user;
  RoleDocuments lambda;
  lambda.logical_id = "LambdaRole";
  lambda.role_name = spec.iam.lambda_role;
  lambda.description = "The writer function: rds-db:connect as " + user + " to " + spec.proxy.name +
                       " only, and its own log group";
  lambda.trust = service_trust("lambda.amazonaws.com");
  lambda.inline_policies.push_back(
      {"lambda-rds-connect-policy", document(ordered_json::array({ordered_json{
                                        {"Sid", "AllowRDSConnect"},
                                        {"Effect", "Allow"},
                                        {"Action", "rds-db:connect"},
                                        {"Resource", dbuser_arn("ProxyResourceId", user)}}}))});
  // Its own log group only; the template creates the group, so no logs:CreateLogGroup.
  lambda.inline_policies.push_back(
      {"lambda-basic-execution-policy",
       document(ordered_json::array({ordered_json{
           {"Sid", "WriteOwnLogs"},
           {"Effect", "Allow"},
           {"Action", ordered_json::array({"logs:CreateLogStream", "logs:PutLogEvents"})},
           {"Resource",
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
            "/aws/lambda/" +
                spec.function.name + ":*"}}}))});
  // The network interfaces a function in a VPC needs, inline: the managed
  // AWSLambdaVPCAccessExecutionRole would also grant logs:* on every log group.
  lambda.inline_policies.push_back(
      {"lambda-vpc-access-policy",
       document(ordered_json::array({ordered_json{
           {"Sid", "VpcNetworkInterfaces"},
           {"Effect", "Allow"},
           {"Action", ordered_json::array(
                          {"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
                           "ec2:DescribeSubnets", "ec2:DeleteNetworkInterface",
                           "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"})},
           {"Resource", "*"}}}))});

  RoleDocuments proxy;
  proxy.logical_id = "ProxyRole";
  proxy.role_name = spec.iam.proxy_role;
  proxy.trust = service_trust("rds.amazonaws.com");
  if (spec.proxy.backend_auth == "IAM_AUTH") {
    proxy.description =
        "RDS Proxy, end-to-end IAM: rds-db:connect to the cluster as " + user + " only; no secret";
    proxy.inline_policies.push_back({"rds-proxy-backend-connect-policy",
                                     document(ordered_json::array({ordered_json{
                                         {"Sid", "AllowBackendIamConnect"},
                                         {"Effect", "Allow"},
                                         {"Action", "rds-db:connect"},
                                         {"Resource", dbuser_arn("ClusterResourceId", user)}}}))});
  } else {
    proxy.description = "RDS Proxy, standard mode: reads " + spec.database.user_secret +
                        " (the writer's own secret) through Secrets Manager only";
    proxy.inline_policies.push_back(
        {"rds-proxy-secrets-policy",
         document(ordered_json::array(
             {ordered_json{{"Sid", "AllowSecretsManagerAccess"},
                           {"Effect", "Allow"},
                           {"Action", "secretsmanager:GetSecretValue"},
                           {"Resource", "${WriterSecretArn}"}},
              ordered_json{
                  {"Sid", "AllowKMSDecrypt"},
                  {"Effect", "Allow"},
                  {"Action", "kms:Decrypt"},
                  {"Resource", "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"},
                  {"Condition",
                   {{"StringEquals",
                     {{"kms:ViaService", "secretsmanager.${AWS::Region}.amazonaws.com"}}}}}}}))});
  }
  return {lambda, proxy};
}

std::vector<std::string> sub_variables(const std::string& text) {
  std::vector<std::string> names;
  for (std::size_t at = text.find("${"); at != std::string::npos; at = text.find("${", at + 2)) {
    const std::size_t end = text.find('}', at);
    if (end == std::string::npos) break;
    std::string name = text.substr(at + 2, end - at - 2);
    if (!name.starts_with('!') && std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(std::move(name));
    }
  }
  return names;
}

Result<ordered_json> substitute(const ordered_json& document,
                                const std::map<std::string, std::string>& values) {
  if (document.is_string()) {
    const std::string& text = document.get_ref<const std::string&>();
    std::string out;
    std::size_t from = 0;
    for (std::size_t at = text.find("${"); at != std::string::npos; at = text.find("${", from)) {
      const std::size_t end = text.find('}', at);
      if (end == std::string::npos) break;
      out += text.substr(from, at - from);
      const std::string name = text.substr(at + 2, end - at - 2);
      if (name.starts_with('!')) {
        out += "${" + name.substr(1) + "}";
      } else if (auto found = values.find(name); found != values.end()) {
        out += found->second;
      } else {
        return Error::invalid_argument("no value for ${" + name + "} in '" + text + "'");
      }
      from = end + 1;
    }
    out += text.substr(from);
    return ordered_json(out);
  }
  if (document.is_array()) {
    ordered_json out = ordered_json::array();
    for (const auto& item : document) {
      WG_ASSIGN_OR_RETURN(auto done, substitute(item, values));
      out.push_back(std::move(done));
    }
    return out;
  }
  if (document.is_object()) {
    ordered_json out = ordered_json::object();
    for (auto it = document.begin(); it != document.end(); ++it) {
      WG_ASSIGN_OR_RETURN(auto done, substitute(*it, values));
      out[it.key()] = std::move(done);
    }
    return out;
  }
  return document;
}

ordered_json as_sub(const ordered_json& document,
                    const std::map<std::string, ordered_json>& variables) {
  if (document.is_string()) {
    const std::string& text = document.get_ref<const std::string&>();
    if (text.find("${") == std::string::npos) return document;
    // A string that is one variable and nothing else is that variable's value.
    if (const auto names = sub_variables(text); names.size() == 1 &&
                                                text == "${" + names.front() + "}" &&
                                                variables.contains(names.front())) {
      return variables.at(names.front());
    }
    ordered_json map = ordered_json::object();
    for (const auto& name : sub_variables(text)) {
      if (auto found = variables.find(name); found != variables.end()) map[name] = found->second;
    }
    if (map.empty()) return ordered_json{{"Fn::Sub", text}};
    return ordered_json{{"Fn::Sub", ordered_json::array({text, map})}};
  }
  if (document.is_array()) {
    ordered_json out = ordered_json::array();
    for (const auto& item : document)
      out.push_back(as_sub(item, variables));
    return out;
  }
  if (document.is_object()) {
    ordered_json out = ordered_json::object();
    for (auto it = document.begin(); it != document.end(); ++it)
      out[it.key()] = as_sub(*it, variables);
    return out;
  }
  return document;
}

}  // namespace writegate::deploy
