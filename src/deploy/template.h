// The CloudFormation template of the whole architecture, from the spec (`writegate render
// cloudformation`): the two roles, the three security groups with explicit rules only, the
// proxy and its target group, the Aurora cluster (created, or an existing one by parameter),
// the function, log groups with retention, alarms and a dashboard.
//
//   nlohmann::ordered_json doc = deploy::cloudformation_template(spec);   // JSON form
//   std::string yaml = deploy::to_cloudformation_yaml(doc);                // what AWS gets
//
// Names are the spec's (RoleName, GroupName, DBProxyName, FunctionName, ...). Parameters are
// only what the spec cannot know: the VPC, its private subnets, the code's S3 location and,
// for an existing cluster, its resource id. The proxy's prx- id is taken from the proxy's ARN
// with intrinsics, never typed in. Same spec, same bytes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "spec/spec.h"

namespace writegate::deploy {

// Logical ids other parts refer to.
inline constexpr const char* kProxyLogicalId = "Proxy";
inline constexpr const char* kFunctionLogicalId = "Function";
inline constexpr const char* kClusterLogicalId = "Cluster";

nlohmann::ordered_json cloudformation_template(const spec::Spec& spec);

// "lambda-sg" -> "LambdaSgSecurityGroup": the logical id of a spec security group.
std::string security_group_logical_id(const std::string& group_name);

// The environment the function gets on AWS (and, with local values, in the local stack).
nlohmann::ordered_json function_environment(const spec::Spec& spec,
                                            const nlohmann::ordered_json& proxy_endpoint);

}  // namespace writegate::deploy
