// The IAM policy evaluator: decides a request against the identity policies of a principal, and
// an sts:AssumeRole request against a role's trust policy — as AWS does, for these policy types.
//
//   writegate::iam::RequestContext request;
//   request.principal = identity.principal;                 // from IamStore::find_access_key
//   request.action = "rds-db:connect";
//   request.resource = "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/app";
//   request.keys.add("aws:SourceIp", "10.0.0.7");
//   writegate::iam::add_global_keys(request, std::chrono::system_clock::now());
//   auto result = writegate::iam::evaluate(identity.policies, request);
//   if (result.decision != writegate::iam::Decision::kAllowed) deny(result.describe());
//
// Rules (IAM User Guide, "Policy evaluation logic"): an explicit Deny in any statement wins,
// otherwise any matching Allow allows, otherwise the request is implicitly denied. Actions match
// case-insensitively, resources case-sensitively (see resource_matches in arn.h); condition keys
// are case-insensitive. A condition key missing from the request makes a condition false, except
// for negated operators (StringNotEquals, ArnNotLike, NotIpAddress, ...: true), `...IfExists`
// (true) and Null. ForAllValues is true for a missing key, ForAnyValue false. A policy variable
// that cannot be resolved and has no default makes that Resource entry or value match nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iam/policy.h"

namespace writegate::iam {

// Condition keys of a request; names compare case-insensitively, each key may hold many values.
class ContextKeys {
 public:
  void add(std::string_view key, std::string value);  // appends a value
  void set(std::string_view key, std::vector<std::string> values);
  void erase(std::string_view key);
  // nullptr when absent.
  const std::vector<std::string>* find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  const std::vector<std::pair<std::string, std::vector<std::string>>>& entries() const {
    return entries_;
  }

 private:
  std::vector<std::pair<std::string, std::vector<std::string>>> entries_;  // lower-cased keys
};

// Who is asking.
struct PrincipalInfo {
  enum class Type { kUser, kAssumedRole, kRole, kRoot, kService };
  Type type = Type::kUser;
  std::string arn;      // user ARN, assumed-role ARN, role ARN, root ARN
  std::string account;  // 12 digits
  std::string name;     // user name, or role name for roles and sessions
  std::string user_id;  // AIDA... for users, AROA...:session for assumed roles
  std::string service;  // for kService: "lambda.amazonaws.com"
  std::map<std::string, std::string> tags;
};
std::string_view principal_type_name(PrincipalInfo::Type type);  // "User", "AssumedRole", ...

struct RequestContext {
  PrincipalInfo principal;
  std::string action;    // "rds-db:connect"
  std::string resource;  // an ARN, or "*" for actions without resources
  ContextKeys keys;
};

// Adds aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType, aws:userid, aws:username (users
// only, as AWS), aws:PrincipalTag/<k>, aws:CurrentTime and aws:EpochTime, unless already set.
void add_global_keys(RequestContext& request, std::chrono::system_clock::time_point now);

enum class Decision { kAllowed, kExplicitDeny, kImplicitDeny };
// "allowed", "explicitDeny", "implicitDeny" — the EvalDecision of simulate-principal-policy.
std::string_view decision_name(Decision decision);

struct MatchedStatement {
  std::string policy_name;
  size_t statement_index = 0;
  std::string sid;
  Effect effect = Effect::kAllow;
  // "policy lambda-rds-connect-policy, statement 0 (Sid \"AllowRDSConnect\")"
  std::string describe() const;
};

struct EvaluationResult {
  Decision decision = Decision::kImplicitDeny;
  std::optional<MatchedStatement> matched;  // the deciding statement; none for implicit deny
  bool allowed() const { return decision == Decision::kAllowed; }
  std::string describe() const;
};

// Identity-policy evaluation. The first matching Deny decides; otherwise the first matching
// Allow (in policy, then statement order). Statements with a Principal (trust policies) are
// matched against request.principal as well.
EvaluationResult evaluate(std::span<const NamedPolicy> policies, const RequestContext& request);

// Whether one statement applies to the request (effect not considered).
bool statement_applies(const Statement& statement, const RequestContext& request);

// The caller of sts:AssumeRole: an AWS principal with its identity policies, or a service.
struct AssumeRoleCaller {
  PrincipalInfo principal;                // type kService for "lambda.amazonaws.com"
  std::span<const NamedPolicy> policies;  // identity policies (ignored for services)
};

struct AssumeRoleDecision {
  bool allowed = false;
  EvaluationResult identity;  // the caller's identity policies on sts:AssumeRole (AWS callers)
  EvaluationResult trust;     // the role's trust policy for the caller
  std::string reason;         // why, in one sentence
};

// AWS principals need both an Allow of sts:AssumeRole on the role ARN in their identity policies
// and an Allow in the trust policy naming them (by ARN, by their role for sessions, by their
// account root or "*"); services need only the trust policy (Principal.Service). writegate asks
// for both even within one account, which is stricter than AWS when the trust policy names the
// caller's ARN directly.
AssumeRoleDecision authorize_assume_role(const AssumeRoleCaller& caller, std::string_view role_arn,
                                         const NamedPolicy& trust_policy,
                                         const ContextKeys& extra_keys = {},
                                         std::string_view action = "sts:AssumeRole");

// Whether a statement's Principal/NotPrincipal matches the principal (trust policies).
bool principal_matches(const Statement& statement, const PrincipalInfo& principal);

}  // namespace writegate::iam
