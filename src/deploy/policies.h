// The IAM documents of the deployment, one source for the CloudFormation template and for the
// JSON files of `writegate render iam`.
//
// Documents are written with CloudFormation's `${...}` variables where a value is known only in
// AWS: `${AWS::Partition}`, `${AWS::Region}`, `${AWS::AccountId}`, `${ProxyResourceId}` (the
// proxy's prx- id), `${ClusterResourceId}` (the cluster's cluster- id) and `${WriterSecretArn}`.
// The template wraps each such string in Fn::Sub (`as_sub`); the JSON files get the values
// (`substitute`).
//
//   for (const auto& role : deploy::role_documents(spec)) {
//     auto trust = deploy::substitute(role.trust, values);      // Result<ordered_json>
//     for (const auto& policy : role.inline_policies) ...
//   }
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "spec/spec.h"

namespace writegate::deploy {

struct NamedPolicy {
  std::string name;  // the inline policy's name: lambda-rds-connect-policy, ...
  nlohmann::ordered_json document;
};

struct RoleDocuments {
  std::string logical_id;  // LambdaRole, ProxyRole
  std::string role_name;   // the spec's
  std::string description;
  nlohmann::ordered_json trust;
  std::vector<NamedPolicy> inline_policies;
  std::vector<std::string> managed_policy_arns;  // with ${AWS::Partition}
};

// The function's role and the proxy's, as the spec says. The proxy role reads the writer's
// secret (SECRETS) or may rds-db:connect to the cluster as the writer (IAM_AUTH), never both.
std::vector<RoleDocuments> role_documents(const spec::Spec& spec);

// Replaces every `${NAME}` in every string of `document` with values[NAME]. A `${!x}` is the
// literal `${x}`, as in Fn::Sub. An unknown name is an error naming it.
Result<nlohmann::ordered_json> substitute(const nlohmann::ordered_json& document,
                                          const std::map<std::string, std::string>& values);

// Wraps every string holding a `${...}` in Fn::Sub; `${NAME}` of `variables` becomes the
// Fn::Sub's variable map (only the names that string uses).
nlohmann::ordered_json as_sub(const nlohmann::ordered_json& document,
                              const std::map<std::string, nlohmann::ordered_json>& variables);

// The names of the `${...}` a string uses, in order of first use (`${!x}` excluded).
std::vector<std::string> sub_variables(const std::string& text);

}  // namespace writegate::deploy
