#include "iam/policy.h"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <set>

#include "common/strings.h"
#include "common/time.h"
#include "iam/arn.h"
#include "iam/strict_json.h"

namespace writegate::iam {
namespace {

using internal::json_type_name;
using nlohmann::json;

struct OperatorName {
  std::string_view name;
  ConditionOperator op;
};

constexpr std::array<OperatorName, 26> kOperators = {{
    {"StringEquals", ConditionOperator::kStringEquals},
    {"StringNotEquals", ConditionOperator::kStringNotEquals},
    {"StringEqualsIgnoreCase", ConditionOperator::kStringEqualsIgnoreCase},
    {"StringNotEqualsIgnoreCase", ConditionOperator::kStringNotEqualsIgnoreCase},
    {"StringLike", ConditionOperator::kStringLike},
    {"StringNotLike", ConditionOperator::kStringNotLike},
    {"ArnEquals", ConditionOperator::kArnEquals},
    {"ArnLike", ConditionOperator::kArnLike},
    {"ArnNotEquals", ConditionOperator::kArnNotEquals},
    {"ArnNotLike", ConditionOperator::kArnNotLike},
    {"Bool", ConditionOperator::kBool},
    {"NumericEquals", ConditionOperator::kNumericEquals},
    {"NumericNotEquals", ConditionOperator::kNumericNotEquals},
    {"NumericLessThan", ConditionOperator::kNumericLessThan},
    {"NumericLessThanEquals", ConditionOperator::kNumericLessThanEquals},
    {"NumericGreaterThan", ConditionOperator::kNumericGreaterThan},
    {"NumericGreaterThanEquals", ConditionOperator::kNumericGreaterThanEquals},
    {"DateEquals", ConditionOperator::kDateEquals},
    {"DateNotEquals", ConditionOperator::kDateNotEquals},
    {"DateLessThan", ConditionOperator::kDateLessThan},
    {"DateLessThanEquals", ConditionOperator::kDateLessThanEquals},
    {"DateGreaterThan", ConditionOperator::kDateGreaterThan},
    {"DateGreaterThanEquals", ConditionOperator::kDateGreaterThanEquals},
    {"IpAddress", ConditionOperator::kIpAddress},
    {"NotIpAddress", ConditionOperator::kNotIpAddress},
    {"Null", ConditionOperator::kNull},
}};

enum class ValueKind { kString, kNumber, kDate, kBool, kIp, kNull };

ValueKind value_kind(ConditionOperator op) {
  switch (op) {
    case ConditionOperator::kNumericEquals:
    case ConditionOperator::kNumericNotEquals:
    case ConditionOperator::kNumericLessThan:
    case ConditionOperator::kNumericLessThanEquals:
    case ConditionOperator::kNumericGreaterThan:
    case ConditionOperator::kNumericGreaterThanEquals:
      return ValueKind::kNumber;
    case ConditionOperator::kDateEquals:
    case ConditionOperator::kDateNotEquals:
    case ConditionOperator::kDateLessThan:
    case ConditionOperator::kDateLessThanEquals:
    case ConditionOperator::kDateGreaterThan:
    case ConditionOperator::kDateGreaterThanEquals:
      return ValueKind::kDate;
    case ConditionOperator::kBool:
      return ValueKind::kBool;
    case ConditionOperator::kIpAddress:
    case ConditionOperator::kNotIpAddress:
      return ValueKind::kIp;
    case ConditionOperator::kNull:
      return ValueKind::kNull;
    default:
      return ValueKind::kString;
  }
}

bool valid_variable_key(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ':' || c == '/' || c == '_' || c == '-' || c == '.' || c == '@' || c == '+' ||
              c == '=';
    if (!ok) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

void append_escaped_literal(std::string& out, std::string_view text, bool escape_wildcards) {
  for (char c : text) {
    if (c == '\\' || (escape_wildcards && (c == '*' || c == '?'))) out.push_back('\\');
    out.push_back(c);
  }
}

// A statement's JSON scalar or array of scalars, as strings.
Result<std::vector<std::string>> string_list(const json& value, const std::string& where) {
  std::vector<std::string> out;
  if (value.is_string()) {
    out.push_back(value.get<std::string>());
    return out;
  }
  if (!value.is_array()) {
    return Error::invalid_argument(where + " must be a string or an array of strings, got " +
                                   json_type_name(value));
  }
  if (value.empty()) return Error::invalid_argument(where + " is an empty array");
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string()) {
      return Error::invalid_argument(where + "[" + std::to_string(i) + "] must be a string, got " +
                                     json_type_name(value[i]));
    }
    out.push_back(value[i].get<std::string>());
  }
  return out;
}

// Condition values may also be JSON numbers and booleans (AWS converts them to strings).
Result<std::vector<std::string>> condition_value_list(const json& value, const std::string& where) {
  auto scalar = [](const json& v) -> std::optional<std::string> {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
    if (v.is_number()) return v.dump();
    return std::nullopt;
  };
  std::vector<std::string> out;
  if (auto one = scalar(value)) {
    out.push_back(*one);
    return out;
  }
  if (!value.is_array()) {
    return Error::invalid_argument(where +
                                   " must be a string, number, boolean or an array of them, got " +
                                   json_type_name(value));
  }
  if (value.empty()) return Error::invalid_argument(where + " is an empty array");
  for (size_t i = 0; i < value.size(); ++i) {
    auto item = scalar(value[i]);
    if (!item) {
      return Error::invalid_argument(where + "[" + std::to_string(i) +
                                     "] must be a string, number or boolean, got " +
                                     json_type_name(value[i]));
    }
    out.push_back(*item);
  }
  return out;
}

bool valid_action(std::string_view action) {
  if (action == "*") return true;
  size_t colon = action.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == action.size()) return false;
  if (action.find(':', colon + 1) != std::string_view::npos) return false;
  for (char c : action.substr(0, colon)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '*' || c == '?';
    if (!ok) return false;
  }
  for (char c : action.substr(colon + 1)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '*' || c == '?';
    if (!ok) return false;
  }
  return true;
}

bool looks_like_arn_pattern(std::string_view text) {
  if (text == "*") return true;
  if (text.substr(0, 4) != "arn:") return false;
  size_t colons = 0;
  for (char c : text)
    colons += c == ':' ? 1 : 0;
  return colons >= 5;
}

Result<double> parse_number(std::string_view text) {
  if (text.empty()) return Error::invalid_argument("empty number");
  std::string copy(text);
  char* end = nullptr;
  double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(value) || copy.front() == ' ' ||
      copy.find_first_of("xXnN") != std::string::npos) {
    return Error::invalid_argument(double_quoted(text) + " is not a number");
  }
  return value;
}

class StatementParser {
 public:
  StatementParser(const json& body, size_t index, const Policy& policy)
      : body_(body), policy_(policy) {
    statement_.index = index;
  }

  Result<Statement> parse() {
    if (!body_.is_object()) {
      return Error::invalid_argument("statement " + std::to_string(statement_.index) +
                                     ": must be an object, got " + json_type_name(body_));
    }
    if (auto sid = body_.find("Sid"); sid != body_.end()) {
      if (!sid->is_string()) {
        return Error::invalid_argument(label() + ": Sid must be a string, got " +
                                       json_type_name(*sid));
      }
      statement_.sid = sid->get<std::string>();
    }
    static const std::set<std::string> kKeys = {"Sid",       "Effect",       "Action",
                                                "NotAction", "Resource",     "NotResource",
                                                "Principal", "NotPrincipal", "Condition"};
    for (const auto& [key, value] : body_.items()) {
      if (!kKeys.contains(key)) {
        return Error::invalid_argument(
            label() + ": unknown key " + double_quoted(key) +
            " (allowed: Sid, Effect, Action, NotAction, Resource, NotResource, Principal, "
            "NotPrincipal, Condition)");
      }
    }
    WG_RETURN_IF_ERROR(parse_effect());
    WG_RETURN_IF_ERROR(parse_actions());
    WG_RETURN_IF_ERROR(parse_resources());
    WG_RETURN_IF_ERROR(parse_principal());
    WG_RETURN_IF_ERROR(parse_conditions());
    return std::move(statement_);
  }

 private:
  std::string label() const { return statement_.label(); }
  bool variables() const { return policy_.version == "2012-10-17"; }

  Status parse_effect() {
    auto it = body_.find("Effect");
    if (it == body_.end()) return Error::invalid_argument(label() + ": Effect is missing");
    if (!it->is_string()) {
      return Error::invalid_argument(label() + ": Effect must be a string, got " +
                                     json_type_name(*it));
    }
    const auto& effect = it->get_ref<const std::string&>();
    if (effect == "Allow") {
      statement_.effect = Effect::kAllow;
    } else if (effect == "Deny") {
      statement_.effect = Effect::kDeny;
    } else {
      return Error::invalid_argument(label() + ": Effect must be \"Allow\" or \"Deny\", got " +
                                     double_quoted(effect));
    }
    return {};
  }

  Status parse_actions() {
    auto action = body_.find("Action");
    auto not_action = body_.find("NotAction");
    if (action != body_.end() && not_action != body_.end()) {
      return Error::invalid_argument(label() + ": has both Action and NotAction; use one");
    }
    if (action == body_.end() && not_action == body_.end()) {
      return Error::invalid_argument(label() + ": needs Action or NotAction");
    }
    statement_.not_action = action == body_.end();
    const std::string field = statement_.not_action ? "NotAction" : "Action";
    WG_ASSIGN_OR_RETURN(auto list, string_list(statement_.not_action ? *not_action : *action,
                                               label() + ": " + field));
    for (const auto& item : list) {
      if (!valid_action(item)) {
        return Error::invalid_argument(label() + ": " + field + ": " + double_quoted(item) +
                                       " is not \"*\" or \"service:action\"");
      }
      statement_.actions.push_back(ascii_lowercase(item));
    }
    return {};
  }

  Status parse_resources() {
    auto resource = body_.find("Resource");
    auto not_resource = body_.find("NotResource");
    if (resource != body_.end() && not_resource != body_.end()) {
      return Error::invalid_argument(label() + ": has both Resource and NotResource; use one");
    }
    if (resource == body_.end() && not_resource == body_.end()) {
      if (policy_.kind == PolicyKind::kIdentity) {
        return Error::invalid_argument(label() + ": needs Resource or NotResource");
      }
      return {};
    }
    statement_.has_resource = true;
    statement_.not_resource = resource == body_.end();
    const std::string field = statement_.not_resource ? "NotResource" : "Resource";
    WG_ASSIGN_OR_RETURN(auto list, string_list(statement_.not_resource ? *not_resource : *resource,
                                               label() + ": " + field));
    for (const auto& item : list) {
      if (!looks_like_arn_pattern(item)) {
        return Error::invalid_argument(
            label() + ": " + field + ": " + double_quoted(item) +
            " is not \"*\" or an ARN (arn:partition:service:region:account:resource)");
      }
      auto compiled = compile_template(item, variables());
      if (!compiled) return std::move(compiled).error().with_context(label() + ": " + field);
      statement_.resources.push_back(std::move(*compiled));
    }
    return {};
  }

  Status parse_principal() {
    auto principal = body_.find("Principal");
    auto not_principal = body_.find("NotPrincipal");
    bool present = principal != body_.end() || not_principal != body_.end();
    if (policy_.kind == PolicyKind::kIdentity) {
      if (present) {
        return Error::invalid_argument(
            label() + ": " + (principal != body_.end() ? "Principal" : "NotPrincipal") +
            " is not allowed in an identity policy (only in trust and resource policies)");
      }
      return {};
    }
    if (principal != body_.end() && not_principal != body_.end()) {
      return Error::invalid_argument(label() + ": has both Principal and NotPrincipal; use one");
    }
    if (!present) {
      return Error::invalid_argument(label() + ": a trust policy statement needs Principal");
    }
    statement_.not_principal = principal == body_.end();
    const std::string field = statement_.not_principal ? "NotPrincipal" : "Principal";
    const json& value = statement_.not_principal ? *not_principal : *principal;
    PrincipalSet set;
    if (value.is_string()) {
      if (value.get_ref<const std::string&>() != "*") {
        return Error::invalid_argument(label() + ": " + field +
                                       " must be \"*\" or an object such as {\"AWS\": ...}, got " +
                                       double_quoted(value.get_ref<const std::string&>()));
      }
      set.any = true;
      statement_.principal = std::move(set);
      return {};
    }
    if (!value.is_object() || value.empty()) {
      return Error::invalid_argument(label() + ": " + field +
                                     " must be \"*\" or a non-empty object, got " +
                                     (value.is_object() ? "{}" : json_type_name(value)));
    }
    for (const auto& [type, ids] : value.items()) {
      const std::string where = label() + ": " + field + "." + type;
      std::vector<std::string>* target = nullptr;
      if (type == "AWS") {
        target = &set.aws;
      } else if (type == "Service") {
        target = &set.service;
      } else if (type == "Federated") {
        target = &set.federated;
      } else if (type == "CanonicalUser") {
        target = &set.canonical_user;
      } else {
        return Error::invalid_argument(label() + ": " + field + ": unknown principal type " +
                                       double_quoted(type) +
                                       " (allowed: AWS, Service, Federated, CanonicalUser)");
      }
      WG_ASSIGN_OR_RETURN(auto list, string_list(ids, where));
      for (auto& id : list) {
        if (type == "AWS") {
          if (id == "*") {
            set.any = true;
            continue;
          }
          if (is_account_id(id)) {
            id = account_root_arn(id);
          } else if (auto arn = parse_arn(id); !arn) {
            return Error::invalid_argument(where + ": " + double_quoted(id) +
                                           " is not \"*\", an account id or an ARN");
          }
        } else if (id.empty()) {
          return Error::invalid_argument(where + ": empty principal");
        }
        target->push_back(std::move(id));
      }
    }
    statement_.principal = std::move(set);
    return {};
  }

  Status parse_conditions() {
    auto it = body_.find("Condition");
    if (it == body_.end()) return {};
    if (!it->is_object()) {
      return Error::invalid_argument(label() + ": Condition must be an object, got " +
                                     json_type_name(*it));
    }
    for (const auto& [operator_text, block] : it->items()) {
      WG_ASSIGN_OR_RETURN(auto base, parse_operator(operator_text));
      const std::string where = label() + ": Condition." + operator_text;
      if (!block.is_object()) {
        return Error::invalid_argument(where + " must be an object of condition keys, got " +
                                       json_type_name(block));
      }
      if (block.empty()) return Error::invalid_argument(where + " has no condition keys");
      for (const auto& [key, values] : block.items()) {
        if (key.empty()) return Error::invalid_argument(where + ": empty condition key");
        Condition condition = base;
        condition.key = ascii_lowercase(key);
        condition.key_as_written = key;
        WG_ASSIGN_OR_RETURN(auto texts, condition_value_list(values, where + "." + key));
        for (const auto& text : texts) {
          auto value = parse_condition_value(condition.op, text);
          if (!value) return std::move(value).error().with_context(where + "." + key);
          condition.values.push_back(std::move(*value));
        }
        statement_.conditions.push_back(std::move(condition));
      }
    }
    return {};
  }

  Result<Condition> parse_operator(const std::string& text) {
    Condition condition;
    condition.operator_text = text;
    std::string_view rest = text;
    if (rest.starts_with("ForAnyValue:")) {
      condition.qualifier = SetQualifier::kForAnyValue;
      rest.remove_prefix(12);
    } else if (rest.starts_with("ForAllValues:")) {
      condition.qualifier = SetQualifier::kForAllValues;
      rest.remove_prefix(13);
    }
    if (rest.ends_with("IfExists") && rest != "IfExists") {
      condition.if_exists = true;
      rest.remove_suffix(8);
    }
    for (const auto& known : kOperators) {
      if (known.name == rest) {
        if (known.op == ConditionOperator::kNull && (condition.if_exists)) break;
        condition.op = known.op;
        return condition;
      }
    }
    return Error::invalid_argument(label() + ": Condition: unknown operator " +
                                   double_quoted(text));
  }

  Result<ConditionValue> parse_condition_value(ConditionOperator op, const std::string& text) {
    ConditionValue value;
    ValueKind kind = value_kind(op);
    bool allow_variables = variables() && (kind == ValueKind::kString || kind == ValueKind::kBool);
    WG_ASSIGN_OR_RETURN(value.text, compile_template(text, allow_variables));
    switch (kind) {
      case ValueKind::kNumber: {
        WG_ASSIGN_OR_RETURN(value.number, parse_number(text));
        break;
      }
      case ValueKind::kDate: {
        auto date = parse_date(text);
        if (!date)
          return Error::invalid_argument(double_quoted(text) +
                                         " is not a date (ISO 8601 or epoch seconds)");
        value.epoch_millis = *date;
        break;
      }
      case ValueKind::kIp: {
        WG_ASSIGN_OR_RETURN(value.cidr, parse_cidr(text));
        break;
      }
      case ValueKind::kBool:
      case ValueKind::kNull: {
        if (value.text.has_variables) break;
        std::string lowered = ascii_lowercase(text);
        if (lowered != "true" && lowered != "false") {
          return Error::invalid_argument(double_quoted(text) + " is not \"true\" or \"false\"");
        }
        break;
      }
      case ValueKind::kString:
        break;
    }
    return value;
  }

  const json& body_;
  const Policy& policy_;
  Statement statement_;
};

std::string duplicate_message(const internal::DuplicateKey& duplicate, const json& root) {
  const auto& path = duplicate.path;
  std::string key = double_quoted(duplicate.key);
  if (path.empty()) return "duplicate top-level key " + key;
  if (path[0] == "Statement" && root.is_object()) {
    const json& statements = root["Statement"];
    size_t rest = 1;
    std::string label = "statement 0";
    const json* body = &statements;
    if (statements.is_array()) {
      if (path.size() < 2) return "Statement: duplicate key " + key;
      size_t index = static_cast<size_t>(std::strtoull(path[1].c_str(), nullptr, 10));
      label = "statement " + path[1];
      body = index < statements.size() ? &statements[index] : nullptr;
      rest = 2;
    }
    if (body && body->is_object()) {
      auto sid = body->find("Sid");
      if (sid != body->end() && sid->is_string()) {
        label += " (Sid " + double_quoted(sid->get_ref<const std::string&>()) + ")";
      }
    }
    std::string field;
    for (size_t i = rest; i < path.size(); ++i)
      field += (field.empty() ? "" : ".") + path[i];
    return label + ": " + (field.empty() ? "" : field + ": ") + "duplicate key " + key;
  }
  std::string where;
  for (const auto& part : path)
    where += "/" + part;
  return where + ": duplicate key " + key;
}

}  // namespace

std::string_view condition_operator_name(ConditionOperator op) {
  for (const auto& known : kOperators) {
    if (known.op == op) return known.name;
  }
  return "?";
}

bool is_negated(ConditionOperator op) {
  switch (op) {
    case ConditionOperator::kStringNotEquals:
    case ConditionOperator::kStringNotEqualsIgnoreCase:
    case ConditionOperator::kStringNotLike:
    case ConditionOperator::kArnNotEquals:
    case ConditionOperator::kArnNotLike:
    case ConditionOperator::kNumericNotEquals:
    case ConditionOperator::kDateNotEquals:
    case ConditionOperator::kNotIpAddress:
      return true;
    default:
      return false;
  }
}

std::string Statement::label() const {
  std::string out = "statement " + std::to_string(index);
  if (!sid.empty()) out += " (Sid " + double_quoted(sid) + ")";
  return out;
}

Result<Template> compile_template(std::string_view text, bool variables) {
  Template out;
  out.source = std::string(text);
  std::string literal;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = variables ? text.find("${", pos) : std::string_view::npos;
    if (start == std::string_view::npos) {
      append_escaped_literal(literal, text.substr(pos), false);
      break;
    }
    append_escaped_literal(literal, text.substr(pos, start - pos), false);
    size_t end = text.find('}', start + 2);
    if (end == std::string_view::npos) {
      return Error::invalid_argument("unterminated policy variable in " + double_quoted(text));
    }
    std::string_view inner = trim(text.substr(start + 2, end - start - 2));
    pos = end + 1;
    if (inner == "*" || inner == "?" || inner == "$") {
      append_escaped_literal(literal, inner, true);
      continue;
    }
    Template::Part variable;
    variable.is_variable = true;
    std::string_view key = inner;
    if (size_t comma = inner.find(','); comma != std::string_view::npos) {
      key = trim(inner.substr(0, comma));
      std::string_view fallback = trim(inner.substr(comma + 1));
      if (fallback.size() < 2 || fallback.front() != '\'' || fallback.back() != '\'') {
        return Error::invalid_argument(
            "policy variable default must be in single quotes, as in "
            "${aws:username, 'anonymous'}: " +
            double_quoted(text));
      }
      std::string escaped;
      append_escaped_literal(escaped, fallback.substr(1, fallback.size() - 2), false);
      variable.fallback = std::move(escaped);
    }
    if (!valid_variable_key(key)) {
      return Error::invalid_argument("invalid policy variable \"${" + std::string(inner) +
                                     "}\" in " + double_quoted(text));
    }
    variable.text = ascii_lowercase(key);
    if (!literal.empty()) out.parts.push_back({false, std::move(literal), std::nullopt});
    literal.clear();
    out.parts.push_back(std::move(variable));
    out.has_variables = true;
  }
  if (!literal.empty() || out.parts.empty()) {
    out.parts.push_back({false, std::move(literal), std::nullopt});
  }
  if (!out.has_variables) {
    out.escaped = out.parts.front().text;
    out.plain = unescape_template_text(out.escaped);
  }
  return out;
}

std::string unescape_template_text(std::string_view escaped) {
  std::string out;
  out.reserve(escaped.size());
  for (size_t i = 0; i < escaped.size(); ++i) {
    if (escaped[i] == '\\' && i + 1 < escaped.size()) ++i;
    out.push_back(escaped[i]);
  }
  return out;
}

Result<Policy> parse_policy(std::string_view json_text, PolicyKind kind) {
  if (json_text.size() > kMaxPolicyBytes) {
    return Error::out_of_range("policy document is " + std::to_string(json_text.size()) +
                               " bytes; the limit is " + std::to_string(kMaxPolicyBytes));
  }
  WG_ASSIGN_OR_RETURN(auto parsed, internal::parse_strict_json(json_text));
  const json& root = parsed.value;
  if (!parsed.duplicates.empty()) {
    return Error::invalid_argument(duplicate_message(parsed.duplicates.front(), root));
  }
  if (!root.is_object()) {
    return Error::invalid_argument("policy document must be a JSON object, got " +
                                   json_type_name(root));
  }
  Policy policy;
  policy.kind = kind;
  for (const auto& [key, value] : root.items()) {
    if (key != "Version" && key != "Id" && key != "Statement") {
      return Error::invalid_argument("unknown top-level key " + double_quoted(key) +
                                     " (allowed: Version, Id, Statement)");
    }
  }
  policy.version = "2008-10-17";
  if (auto it = root.find("Version"); it != root.end()) {
    if (!it->is_string()) {
      return Error::invalid_argument("Version must be a string, got " + json_type_name(*it));
    }
    policy.version = it->get<std::string>();
    if (policy.version != "2012-10-17" && policy.version != "2008-10-17") {
      return Error::invalid_argument("Version must be \"2012-10-17\" or \"2008-10-17\", got " +
                                     double_quoted(policy.version));
    }
  }
  if (auto it = root.find("Id"); it != root.end()) {
    if (!it->is_string()) {
      return Error::invalid_argument("Id must be a string, got " + json_type_name(*it));
    }
    policy.id = it->get<std::string>();
  }
  auto statements = root.find("Statement");
  if (statements == root.end()) return Error::invalid_argument("Statement is missing");
  if (statements->is_object()) {
    WG_ASSIGN_OR_RETURN(auto statement, StatementParser(*statements, 0, policy).parse());
    policy.statements.push_back(std::move(statement));
  } else if (statements->is_array()) {
    if (statements->empty()) return Error::invalid_argument("Statement is an empty array");
    for (size_t i = 0; i < statements->size(); ++i) {
      WG_ASSIGN_OR_RETURN(auto statement, StatementParser((*statements)[i], i, policy).parse());
      policy.statements.push_back(std::move(statement));
    }
  } else {
    return Error::invalid_argument("Statement must be an object or an array of objects, got " +
                                   json_type_name(*statements));
  }
  return policy;
}

Result<int64_t> parse_date(std::string_view text) {
  auto bad = [&] { return Error::invalid_argument(double_quoted(text) + " is not a date"); };
  if (text.empty()) return bad();
  bool all_digits = true;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!(text[i] >= '0' && text[i] <= '9') && !(i == 0 && text[i] == '-' && text.size() > 1)) {
      all_digits = false;
    }
  }
  if (all_digits && text.size() <= 15) {
    int64_t seconds = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc() || ptr != text.data() + text.size()) return bad();
    return seconds * 1000;
  }
  auto time = parse_iso8601(text);
  if (!time) return bad();
  return std::chrono::duration_cast<std::chrono::milliseconds>(time->time_since_epoch()).count();
}

Result<CidrBlock> parse_cidr(std::string_view text) {
  auto bad = [&] {
    return Error::invalid_argument(double_quoted(text) + " is not an IP address or CIDR block");
  };
  CidrBlock block;
  std::string address(text);
  std::string_view prefix_text;
  size_t slash = text.find('/');
  if (slash != std::string_view::npos) {
    address = std::string(text.substr(0, slash));
    prefix_text = text.substr(slash + 1);
  }
  if (address.find(':') != std::string::npos) {
    block.family = 6;
    block.prefix_length = 128;
    if (inet_pton(AF_INET6, address.c_str(), block.bytes) != 1) return bad();
  } else {
    block.family = 4;
    block.prefix_length = 32;
    if (inet_pton(AF_INET, address.c_str(), block.bytes) != 1) return bad();
  }
  if (slash != std::string_view::npos) {
    int prefix = -1;
    auto [ptr, ec] =
        std::from_chars(prefix_text.data(), prefix_text.data() + prefix_text.size(), prefix);
    if (prefix_text.empty() || ec != std::errc() ||
        ptr != prefix_text.data() + prefix_text.size() || prefix < 0 ||
        prefix > block.prefix_length) {
      return bad();
    }
    block.prefix_length = prefix;
  }
  return block;
}

bool cidr_contains(const CidrBlock& block, const CidrBlock& address) {
  if (block.family != address.family) return false;
  int bits = block.prefix_length;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((block.bytes[i] & mask) != (address.bytes[i] & mask)) return false;
  }
  return true;
}

}  // namespace writegate::iam
