#include "iam/evaluator.h"

#include <charconv>
#include <cstdlib>

#include "common/strings.h"
#include "iam/arn.h"

namespace writegate::iam {
namespace {

void append_escaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\' || c == '*' || c == '?') out.push_back('\\');
    out.push_back(c);
  }
}

// Resolves a template to its escaped-glob text. False when a variable has no (single) value and
// no default: the entry then matches nothing.
bool resolve(const Template& value, const ContextKeys& keys, std::string& buffer,
             std::string_view& out) {
  if (!value.has_variables) {
    out = value.escaped;
    return true;
  }
  buffer.clear();
  for (const auto& part : value.parts) {
    if (!part.is_variable) {
      buffer.append(part.text);
      continue;
    }
    const auto* values = keys.find(part.text);
    if (values && values->size() == 1) {
      append_escaped(buffer, values->front());
    } else if (part.fallback) {
      buffer.append(*part.fallback);
    } else {
      return false;
    }
  }
  out = buffer;
  return true;
}

std::optional<double> request_number(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::string copy(text);
  char* end = nullptr;
  double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return value;
}

// The positive sense of the operator (StringNotEquals tests equality; negation happens outside).
bool value_matches(ConditionOperator op, const ConditionValue& value, std::string_view request,
                   const ContextKeys& keys) {
  std::string buffer;
  std::string_view escaped;
  switch (op) {
    case ConditionOperator::kStringEquals:
    case ConditionOperator::kStringNotEquals:
      if (!resolve(value.text, keys, buffer, escaped)) return false;
      return value.text.has_variables ? unescape_template_text(escaped) == request
                                      : value.text.plain == request;
    case ConditionOperator::kStringEqualsIgnoreCase:
    case ConditionOperator::kStringNotEqualsIgnoreCase:
    case ConditionOperator::kBool:
      if (!resolve(value.text, keys, buffer, escaped)) return false;
      return iequals(value.text.has_variables ? unescape_template_text(escaped) : value.text.plain,
                     request);
    case ConditionOperator::kStringLike:
    case ConditionOperator::kStringNotLike:
      if (!resolve(value.text, keys, buffer, escaped)) return false;
      return wildcard_match(escaped, request);
    case ConditionOperator::kArnEquals:
    case ConditionOperator::kArnLike:
    case ConditionOperator::kArnNotEquals:
    case ConditionOperator::kArnNotLike:
      if (!resolve(value.text, keys, buffer, escaped)) return false;
      return arn_like(escaped, request);
    case ConditionOperator::kNumericEquals:
    case ConditionOperator::kNumericNotEquals:
    case ConditionOperator::kNumericLessThan:
    case ConditionOperator::kNumericLessThanEquals:
    case ConditionOperator::kNumericGreaterThan:
    case ConditionOperator::kNumericGreaterThanEquals: {
      auto number = request_number(request);
      if (!number) return false;
      switch (op) {
        case ConditionOperator::kNumericLessThan:
          return *number < value.number;
        case ConditionOperator::kNumericLessThanEquals:
          return *number <= value.number;
        case ConditionOperator::kNumericGreaterThan:
          return *number > value.number;
        case ConditionOperator::kNumericGreaterThanEquals:
          return *number >= value.number;
        default:
          return *number == value.number;
      }
    }
    case ConditionOperator::kDateEquals:
    case ConditionOperator::kDateNotEquals:
    case ConditionOperator::kDateLessThan:
    case ConditionOperator::kDateLessThanEquals:
    case ConditionOperator::kDateGreaterThan:
    case ConditionOperator::kDateGreaterThanEquals: {
      auto date = parse_date(request);
      if (!date) return false;
      switch (op) {
        case ConditionOperator::kDateLessThan:
          return *date < value.epoch_millis;
        case ConditionOperator::kDateLessThanEquals:
          return *date <= value.epoch_millis;
        case ConditionOperator::kDateGreaterThan:
          return *date > value.epoch_millis;
        case ConditionOperator::kDateGreaterThanEquals:
          return *date >= value.epoch_millis;
        default:
          return *date == value.epoch_millis;
      }
    }
    case ConditionOperator::kIpAddress:
    case ConditionOperator::kNotIpAddress: {
      auto address = parse_cidr(request);
      return address && cidr_contains(value.cidr, *address);
    }
    case ConditionOperator::kNull:
      return false;  // handled by condition_holds
  }
  return false;
}

bool condition_holds(const Condition& condition, const ContextKeys& keys) {
  const auto* values = keys.find(condition.key);
  bool present = values != nullptr && !values->empty();
  if (condition.op == ConditionOperator::kNull) {
    for (const auto& value : condition.values) {
      bool want_absent = iequals(value.text.plain, "true");
      if (want_absent != present) return true;
    }
    return false;
  }
  if (!present) {
    if (condition.if_exists) return true;
    if (condition.qualifier == SetQualifier::kForAllValues) return true;
    if (condition.qualifier == SetQualifier::kForAnyValue) return false;
    return is_negated(condition.op);
  }
  const bool negated = is_negated(condition.op);
  auto one_holds = [&](const std::string& request_value) {
    bool any = false;
    for (const auto& value : condition.values) {
      if (value_matches(condition.op, value, request_value, keys)) {
        any = true;
        break;
      }
    }
    return negated ? !any : any;
  };
  // ForAllValues: every request value must hold; ForAnyValue: at least one. Without a qualifier
  // a negated operator needs every value to differ, a positive one any value to match.
  bool need_all = condition.qualifier == SetQualifier::kForAllValues ||
                  (condition.qualifier == SetQualifier::kNone && negated);
  for (const auto& request_value : *values) {
    bool holds = one_holds(request_value);
    if (need_all && !holds) return false;
    if (!need_all && holds) return true;
  }
  return need_all;
}

bool action_matches(const Statement& statement, std::string_view lowered_action) {
  bool any = false;
  for (const auto& pattern : statement.actions) {
    if (wildcard_match(pattern, lowered_action)) {
      any = true;
      break;
    }
  }
  return statement.not_action ? !any : any;
}

bool resource_applies(const Statement& statement, const RequestContext& request) {
  if (!statement.has_resource) return true;
  bool any = false;
  std::string buffer;
  for (const auto& pattern : statement.resources) {
    std::string_view escaped;
    if (!resolve(pattern, request.keys, buffer, escaped)) continue;
    if (resource_matches(escaped, request.resource)) {
      any = true;
      break;
    }
  }
  return statement.not_resource ? !any : any;
}

bool applies(const Statement& statement, const RequestContext& request,
             std::string_view lowered_action) {
  if (!action_matches(statement, lowered_action)) return false;
  if (!resource_applies(statement, request)) return false;
  if (statement.principal && !principal_matches(statement, request.principal)) return false;
  for (const auto& condition : statement.conditions) {
    if (!condition_holds(condition, request.keys)) return false;
  }
  return true;
}

}  // namespace

void ContextKeys::add(std::string_view key, std::string value) {
  std::string lowered = ascii_lowercase(key);
  for (auto& [name, values] : entries_) {
    if (name == lowered) {
      values.push_back(std::move(value));
      return;
    }
  }
  entries_.push_back({std::move(lowered), {std::move(value)}});
}

void ContextKeys::set(std::string_view key, std::vector<std::string> values) {
  erase(key);
  entries_.push_back({ascii_lowercase(key), std::move(values)});
}

void ContextKeys::erase(std::string_view key) {
  std::string lowered = ascii_lowercase(key);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->first == lowered) {
      entries_.erase(it);
      return;
    }
  }
}

const std::vector<std::string>* ContextKeys::find(std::string_view key) const {
  for (const auto& [name, values] : entries_) {
    if (iequals(name, key)) return &values;
  }
  return nullptr;
}

std::string_view principal_type_name(PrincipalInfo::Type type) {
  switch (type) {
    case PrincipalInfo::Type::kUser:
      return "User";
    case PrincipalInfo::Type::kAssumedRole:
      return "AssumedRole";
    case PrincipalInfo::Type::kRole:
      return "Role";
    case PrincipalInfo::Type::kRoot:
      return "Account";
    case PrincipalInfo::Type::kService:
      return "Service";
  }
  return "?";
}

void add_global_keys(RequestContext& request, std::chrono::system_clock::time_point now) {
  auto set_default = [&](std::string_view key, std::string value) {
    if (!request.keys.contains(key) && !value.empty()) request.keys.add(key, std::move(value));
  };
  const auto& principal = request.principal;
  if (principal.type != PrincipalInfo::Type::kService) {
    set_default("aws:PrincipalArn", principal.type == PrincipalInfo::Type::kAssumedRole
                                        ? role_arn(principal.account, principal.name)
                                        : principal.arn);
    set_default("aws:PrincipalAccount", principal.account);
    set_default("aws:PrincipalType", std::string(principal_type_name(principal.type)));
    set_default("aws:userid", principal.user_id);
    if (principal.type == PrincipalInfo::Type::kUser) set_default("aws:username", principal.name);
    for (const auto& [tag, value] : principal.tags) {
      set_default("aws:PrincipalTag/" + tag, value);
    }
  } else {
    set_default("aws:PrincipalServiceName", principal.service);
  }
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  int64_t seconds = millis / 1000;
  set_default("aws:EpochTime", std::to_string(seconds));
  // aws:CurrentTime as ISO 8601 UTC.
  int64_t days = seconds / 86400;
  int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  // civil_from_days (H. Hinnant)
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = static_cast<unsigned>(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = static_cast<int64_t>(yoe) + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  unsigned d = doy - (153 * mp + 2) / 5 + 1;
  unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char text[32];
  std::snprintf(text, sizeof text, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
                static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60));
  set_default("aws:CurrentTime", text);
}

std::string_view decision_name(Decision decision) {
  switch (decision) {
    case Decision::kAllowed:
      return "allowed";
    case Decision::kExplicitDeny:
      return "explicitDeny";
    case Decision::kImplicitDeny:
      return "implicitDeny";
  }
  return "?";
}

std::string MatchedStatement::describe() const {
  std::string out = "policy " + policy_name + ", statement " + std::to_string(statement_index);
  if (!sid.empty()) out += " (Sid \"" + sid + "\")";
  return out;
}

std::string EvaluationResult::describe() const {
  switch (decision) {
    case Decision::kAllowed:
      return "allowed by " + (matched ? matched->describe() : std::string("?"));
    case Decision::kExplicitDeny:
      return "explicitly denied by " + (matched ? matched->describe() : std::string("?"));
    case Decision::kImplicitDeny:
      return "implicitly denied: no statement allows the request";
  }
  return "?";
}

bool statement_applies(const Statement& statement, const RequestContext& request) {
  return applies(statement, request, ascii_lowercase(request.action));
}

EvaluationResult evaluate(std::span<const NamedPolicy> policies, const RequestContext& request) {
  const std::string action = ascii_lowercase(request.action);
  EvaluationResult result;
  for (const auto& named : policies) {
    if (!named.policy) continue;
    for (const auto& statement : named.policy->statements) {
      // Once an Allow is found only Deny statements can change the outcome.
      if (result.matched && statement.effect == Effect::kAllow) continue;
      if (!applies(statement, request, action)) continue;
      MatchedStatement matched{named.name, statement.index, statement.sid, statement.effect};
      if (statement.effect == Effect::kDeny) {
        return {Decision::kExplicitDeny, std::move(matched)};
      }
      result = {Decision::kAllowed, std::move(matched)};
    }
  }
  return result;
}

bool principal_matches(const Statement& statement, const PrincipalInfo& principal) {
  if (!statement.principal) return true;
  const PrincipalSet& set = *statement.principal;
  bool match = set.any;
  if (!match && principal.type == PrincipalInfo::Type::kService) {
    for (const auto& service : set.service) {
      if (iequals(service, principal.service)) match = true;
    }
  } else if (!match) {
    const std::string root = account_root_arn(principal.account);
    const std::string session_role = principal.type == PrincipalInfo::Type::kAssumedRole
                                         ? role_arn(principal.account, principal.name)
                                         : std::string();
    for (const auto& arn : set.aws) {
      if (arn == principal.arn || arn == root || (!session_role.empty() && arn == session_role)) {
        match = true;
        break;
      }
    }
  }
  return statement.not_principal ? !match : match;
}

AssumeRoleDecision authorize_assume_role(const AssumeRoleCaller& caller,
                                         std::string_view role_arn_text,
                                         const NamedPolicy& trust_policy,
                                         const ContextKeys& extra_keys, std::string_view action) {
  RequestContext request;
  request.principal = caller.principal;
  request.action = std::string(action);
  request.resource = std::string(role_arn_text);
  request.keys = extra_keys;
  add_global_keys(request, std::chrono::system_clock::now());

  AssumeRoleDecision decision;
  decision.trust = evaluate(std::span<const NamedPolicy>(&trust_policy, 1), request);
  const bool is_service = caller.principal.type == PrincipalInfo::Type::kService;
  const std::string who = is_service ? caller.principal.service : caller.principal.arn;
  if (!is_service) decision.identity = evaluate(caller.policies, request);
  if (decision.trust.decision == Decision::kExplicitDeny) {
    decision.reason = "the trust policy of " + std::string(role_arn_text) + " denies " + who +
                      " (" + decision.trust.matched->describe() + ")";
  } else if (!is_service && decision.identity.decision == Decision::kExplicitDeny) {
    decision.reason = "the identity policies of " + who + " deny " + std::string(action) + " on " +
                      std::string(role_arn_text) + " (" + decision.identity.matched->describe() +
                      ")";
  } else if (!decision.trust.allowed()) {
    decision.reason =
        "the trust policy of " + std::string(role_arn_text) + " does not allow " + who;
  } else if (!is_service && !decision.identity.allowed()) {
    decision.reason = "no identity policy of " + who + " allows " + std::string(action) + " on " +
                      std::string(role_arn_text);
  } else {
    decision.allowed = true;
    decision.reason =
        who + " may assume " + std::string(role_arn_text) +
        " (trust: " + decision.trust.matched->describe() +
        (is_service ? std::string() : "; identity: " + decision.identity.matched->describe()) + ")";
  }
  return decision;
}

}  // namespace writegate::iam
