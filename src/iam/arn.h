// Amazon Resource Names and the wildcard matching rules IAM applies to them.
//
// An ARN is `arn:partition:service:region:account:resource`; the resource part may itself
// contain `:` and `/` (e.g. `dbuser:prx-0123456789abcdef0/lambda_writer`). This header parses
// and formats ARNs, builds the ARNs writegate needs (users, roles, assumed-role sessions,
// rds-db dbusers) and implements the three matchers of the policy language:
//
//   auto arn = writegate::iam::parse_arn("arn:aws:iam::123456789012:role/app");
//   if (!arn) return arn.error();                       // "ARN ... has 4 ':' separated parts..."
//   std::string dbuser = writegate::iam::rds_db_user_arn("us-east-1", "123456789012",
//                                                         "prx-0123456789abcdef0", "writer");
//   bool ok = writegate::iam::resource_matches("arn:aws:rds-db:*:123456789012:dbuser:prx-*/writer",
//                                              dbuser);
//
// Wildcards: `*` matches any run of characters, `?` exactly one. A backslash in a *compiled*
// pattern escapes the next character (used by policy variables `${*}`, `${?}`, `${$}`).
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace writegate::iam {

struct Arn {
  std::string partition;  // "aws"
  std::string service;    // "iam", "sts", "rds-db", ...
  std::string region;     // empty for global services
  std::string account;    // 12 digits, "aws" for AWS managed policies, or empty
  std::string resource;   // everything after the fifth ':'

  std::string to_string() const;
  bool operator==(const Arn&) const = default;
};

// Strict: "arn" prefix, six parts, non-empty partition, service and resource.
Result<Arn> parse_arn(std::string_view text);

std::string user_arn(std::string_view account, std::string_view user_name);
std::string role_arn(std::string_view account, std::string_view role_name);
std::string account_root_arn(std::string_view account);
// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
std::string assumed_role_arn(std::string_view account, std::string_view role_name,
                             std::string_view session_name);
// arn:aws:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/DB_USER (prx-... or cluster-...)
std::string rds_db_user_arn(std::string_view region, std::string_view account,
                            std::string_view proxy_resource_id, std::string_view db_user);

// `prx-` followed by exactly 17 lowercase hex digits (RDS Proxy resource ids).
bool is_proxy_resource_id(std::string_view text);
// `cluster-` followed by exactly 26 upper-case letters and digits (Aurora DB cluster resource ids,
// the DbClusterResourceId in dbuser ARNs).
bool is_cluster_resource_id(std::string_view text);
// 12 decimal digits.
bool is_account_id(std::string_view text);

// Generic glob: `*` any run, `?` one character, `\x` the literal x. Case-sensitive unless
// `ignore_case` (then ASCII letters compare case-insensitively).
bool wildcard_match(std::string_view pattern, std::string_view value, bool ignore_case = false);

// Resource element matching. Per the IAM User Guide, "IAM JSON policy elements: Resource",
// section "Using wildcards in resource ARNs"
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html):
// wildcards are used *within* the colon-separated segments of an ARN, and "if the * wildcard is
// the last character of a resource ARN segment, it can expand to match beyond the colon
// boundaries". So a `*` followed by `:` or at the end of the pattern matches any run including
// `:`; any other `*` (and every `?`) does not match `:`. Case-sensitive. "*" matches everything.
bool resource_matches(std::string_view pattern, std::string_view resource);

// ArnEquals / ArnLike: "each of the six colon-delimited components of the ARN is checked
// separately and each can include * or ?" (IAM User Guide, condition operators, ARN).
bool arn_like(std::string_view pattern, std::string_view value);

}  // namespace writegate::iam
