// The IAM policy language: strict parsing of identity and trust (role) policy documents.
//
// A Policy is the parsed, pre-compiled form of a JSON document: actions are lower-cased,
// resource patterns and condition values have their policy variables compiled, and numbers,
// dates and CIDRs in conditions are parsed once. Evaluation lives in evaluator.h.
//
//   auto policy = writegate::iam::parse_policy(json_text);   // identity policy
//   if (!policy) {
//     // e.g. "statement 1 (Sid \"AllowKMSDecrypt\"): Condition: unknown operator \"StringEqualz\""
//     std::cerr << policy.error().message();
//   }
//   auto trust = writegate::iam::parse_policy(trust_json, writegate::iam::PolicyKind::kTrust);
//
// Parsing is strict: duplicate keys, unknown keys, wrong JSON types, unknown condition operators,
// malformed numbers/dates/CIDRs and malformed policy variables are errors naming the statement
// (index and Sid) and the field. Nothing unknown is ever ignored, so nothing unknown can allow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace writegate::iam {

// Documents larger than this are refused (AWS's largest managed policy is 6144 characters).
inline constexpr size_t kMaxPolicyBytes = 128 * 1024;

enum class PolicyKind {
  kIdentity,  // user/role/managed policy: Resource required, Principal forbidden
  kTrust,     // role trust policy: Principal required, Resource optional
};

enum class Effect { kAllow, kDeny };

// A string that may contain policy variables (`${aws:username}`, `${x, 'default'}`), compiled
// into "escaped glob" form: literal `*`, `?` and `\` from `${*}`, `${?}` or the text itself are
// backslash-escaped so matchers never mistake them for wildcards.
struct Template {
  struct Part {
    bool is_variable = false;
    std::string text;                     // escaped literal text, or the lower-cased key
    std::optional<std::string> fallback;  // `${key, 'fallback'}` (escaped)
  };
  std::string source;  // as written in the policy
  std::vector<Part> parts;
  bool has_variables = false;
  std::string escaped;  // when !has_variables: the compiled (escaped glob) text
  std::string plain;    // when !has_variables: the literal text (escapes removed)
};

// Compiles `text`; policy variables are recognised only when `variables` (Version 2012-10-17).
Result<Template> compile_template(std::string_view text, bool variables);
// Removes the backslash escapes of a compiled template.
std::string unescape_template_text(std::string_view escaped);

enum class ConditionOperator {
  kStringEquals,
  kStringNotEquals,
  kStringEqualsIgnoreCase,
  kStringNotEqualsIgnoreCase,
  kStringLike,
  kStringNotLike,
  kArnEquals,
  kArnLike,
  kArnNotEquals,
  kArnNotLike,
  kBool,
  kNumericEquals,
  kNumericNotEquals,
  kNumericLessThan,
  kNumericLessThanEquals,
  kNumericGreaterThan,
  kNumericGreaterThanEquals,
  kDateEquals,
  kDateNotEquals,
  kDateLessThan,
  kDateLessThanEquals,
  kDateGreaterThan,
  kDateGreaterThanEquals,
  kIpAddress,
  kNotIpAddress,
  kNull,
};
std::string_view condition_operator_name(ConditionOperator op);
// StringNotEquals, ArnNotLike, NotIpAddress, ...: true when the key matches none of the values.
bool is_negated(ConditionOperator op);

enum class SetQualifier { kNone, kForAnyValue, kForAllValues };

struct CidrBlock {
  int family = 4;  // 4 or 6
  uint8_t bytes[16] = {};
  int prefix_length = 32;
};

struct ConditionValue {
  Template text;             // String*, Arn*, Bool, Null (and the source of the others)
  double number = 0;         // Numeric*
  int64_t epoch_millis = 0;  // Date*
  CidrBlock cidr;            // IpAddress / NotIpAddress
};

struct Condition {
  std::string operator_text;  // as written, e.g. "ForAnyValue:StringLikeIfExists"
  ConditionOperator op = ConditionOperator::kStringEquals;
  SetQualifier qualifier = SetQualifier::kNone;
  bool if_exists = false;
  std::string key;  // lower-cased (condition keys are case-insensitive)
  std::string key_as_written;
  std::vector<ConditionValue> values;
};

// Principal / NotPrincipal of a trust (resource-based) policy.
struct PrincipalSet {
  bool any = false;                    // "Principal": "*" or {"AWS": "*"}
  std::vector<std::string> aws;        // ARNs; a bare account id is stored as its root ARN
  std::vector<std::string> service;    // "lambda.amazonaws.com"
  std::vector<std::string> federated;  // "cognito-identity.amazonaws.com", SAML provider ARNs
  std::vector<std::string> canonical_user;
};

struct Statement {
  size_t index = 0;  // position in the document
  std::string sid;
  Effect effect = Effect::kAllow;
  bool not_action = false;
  std::vector<std::string> actions;  // lower-cased glob patterns ("*" or "service:pattern")
  bool has_resource = false;         // Resource or NotResource present
  bool not_resource = false;
  std::vector<Template> resources;
  std::optional<PrincipalSet> principal;
  bool not_principal = false;
  std::vector<Condition> conditions;

  // "statement 2 (Sid \"AllowKMSDecrypt\")" or "statement 2".
  std::string label() const;
};

struct Policy {
  std::string version;  // "2012-10-17" or "2008-10-17" (the default when absent)
  std::string id;
  PolicyKind kind = PolicyKind::kIdentity;
  std::vector<Statement> statements;
};

Result<Policy> parse_policy(std::string_view json_text, PolicyKind kind = PolicyKind::kIdentity);

// A policy with the name it is known by ("lambda-rds-connect-policy", a managed policy ARN, a
// file name); shared so that store snapshots and lookups copy it cheaply.
struct NamedPolicy {
  std::string name;
  std::shared_ptr<const Policy> policy;
};

// Parses an ISO 8601 date-time ("2024-01-05T22:38:00Z", "2024-01-05", fractions, +hh:mm
// offsets) or epoch seconds into milliseconds since the epoch.
Result<int64_t> parse_date(std::string_view text);
// "10.0.0.0/8", "2001:db8::/32", or a bare address (/32 or /128).
Result<CidrBlock> parse_cidr(std::string_view text);
bool cidr_contains(const CidrBlock& block, const CidrBlock& address);

}  // namespace writegate::iam
