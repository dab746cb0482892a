#include "iam/lint.h"

#include <array>
#include <set>

#include "common/strings.h"
#include "iam/arn.h"
#include "iam/policy.h"

namespace writegate::iam {
namespace {

// Placeholders seen in templates and tutorials, matched as whole words.
const std::set<std::string, std::less<>> kPlaceholders = {
    "ACCOUNT_ID", "AWS_ACCOUNT_ID", "ACCOUNT",    "ACCOUNTID",       "PROXY_RESOURCE_ID",
    "PROXY_ID",   "RESOURCE_ID",    "KMS_KEY_ID", "KEY_ID",          "REGION",
    "AWS_REGION", "DB_USERNAME",    "DB_USER",    "USERNAME",        "SECRET_NAME",
    "SECRET_ARN", "ROLE_NAME",      "CLUSTER_ID", "DBI_RESOURCE_ID", "account-ID-without-hyphens"};

std::vector<std::string> placeholders_in(std::string_view text) {
  std::vector<std::string> found;
  auto word_char = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  };
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '<') {
      size_t end = text.find('>', i);
      if (end != std::string_view::npos) {
        found.emplace_back(text.substr(i, end - i + 1));
        i = end + 1;
        continue;
      }
    }
    if (text.substr(i).starts_with("account-ID-without-hyphens")) {
      found.emplace_back("account-ID-without-hyphens");
      i += 26;
      continue;
    }
    if (!word_char(text[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < text.size() && word_char(text[i]))
      ++i;
    std::string_view word = text.substr(start, i - start);
    if (kPlaceholders.contains(word) || word.starts_with("YOUR_") || word.starts_with("MY_")) {
      found.emplace_back(word);
    }
  }
  return found;
}

bool has_wildcard(std::string_view text) {
  return text.find_first_of("*?") != std::string_view::npos;
}

std::array<std::string, 6> arn_parts(std::string_view text, size_t& count) {
  std::array<std::string, 6> parts;
  count = 0;
  size_t start = 0;
  while (count < 5) {
    size_t colon = text.find(':', start);
    if (colon == std::string_view::npos) break;
    parts[count++] = std::string(text.substr(start, colon - start));
    start = colon + 1;
  }
  parts[count++] = std::string(text.substr(start));
  return parts;
}

// Whether an Action entry names the service explicitly ("kms:Decrypt", "kms:*"); "*" and NotAction
// are reported by their own checks.
bool names_service(const Statement& statement, std::string_view prefix) {
  if (statement.not_action) return false;
  for (const auto& pattern : statement.actions) {
    if (pattern.starts_with(prefix)) return true;
  }
  return false;
}

bool statement_grants(const Statement& statement, std::string_view action) {
  bool any = false;
  for (const auto& pattern : statement.actions) {
    if (wildcard_match(pattern, action)) any = true;
  }
  return statement.not_action ? !any : any;
}

class Linter {
 public:
  explicit Linter(const LintOptions& options) : options_(options) {}

  std::vector<LintFinding> run(std::string_view json_text) {
    auto policy = parse_policy(json_text);
    if (!policy) {
      findings_.push_back(
          {"invalid-policy", Severity::kError, std::nullopt, "", policy.error().message(),
           "fix the document so that it parses (see the message), then lint again"});
      return std::move(findings_);
    }
    for (const auto& statement : policy->statements)
      check_statement(statement);
    return std::move(findings_);
  }

 private:
  void add(const Statement& statement, std::string check, Severity severity, std::string message,
           std::string fix) {
    findings_.push_back({std::move(check), severity, statement.index, statement.sid,
                         std::move(message), std::move(fix)});
  }

  void check_statement(const Statement& s) {
    const bool allow = s.effect == Effect::kAllow;
    if (allow) check_actions(s);
    const bool connect = allow && statement_grants(s, "rds-db:connect");
    if (connect) check_connect_resources(s);
    for (const auto& resource : s.resources)
      check_resource_generic(s, resource.source);
    for (const auto& condition : s.conditions) {
      for (const auto& value : condition.values) {
        auto found = placeholders_in(value.text.source);
        if (!found.empty()) {
          add(s, "placeholder", Severity::kError,
              "Condition " + condition.key_as_written + " value " +
                  double_quoted(value.text.source) + " still contains the placeholder " +
                  join(found),
              "replace the placeholder with the real value");
        }
      }
    }
    if (allow && names_service(s, "secretsmanager:") &&
        statement_grants(s, "secretsmanager:getsecretvalue")) {
      if (s.not_resource || resource_is_star(s)) {
        add(s, "secret-wildcard", Severity::kError,
            "secretsmanager:GetSecretValue is allowed on every secret",
            "name the one secret: arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-*");
      }
    }
    if (allow && names_service(s, "kms:") && statement_grants(s, "kms:decrypt")) {
      bool via_service = false;
      for (const auto& condition : s.conditions)
        via_service |= condition.key == "kms:viaservice";
      if (s.not_resource || resource_is_star(s)) {
        add(s, "kms-decrypt-unscoped", Severity::kWarning, "kms:Decrypt is allowed on every key",
            "name the key: arn:aws:kms:REGION:ACCOUNT:key/KEY_UUID");
      }
      if (!via_service) {
        add(s, "kms-decrypt-unscoped", Severity::kWarning,
            "kms:Decrypt has no kms:ViaService condition, so the key can be used directly",
            "add \"Condition\": {\"StringEquals\": {\"kms:ViaService\": "
            "\"secretsmanager.REGION.amazonaws.com\"}}");
      }
    }
  }

  static bool resource_is_star(const Statement& s) {
    for (const auto& resource : s.resources) {
      if (resource.source == "*") return true;
    }
    return false;
  }

  void check_actions(const Statement& s) {
    for (const auto& action : s.actions) {
      if (s.not_action) break;
      if (action == "*" || action == "*:*") {
        add(s, "wildcard-action", Severity::kError,
            "Action \"*\" allows every action of every service",
            "list the actions needed, e.g. \"rds-db:connect\"");
      } else if (action == "rds-db:*" || action == "rds:*") {
        add(s, "wildcard-action", Severity::kError,
            "Action " + double_quoted(action) + " allows every " +
                action.substr(0, action.find(':')) + " action",
            "allow only \"rds-db:connect\"");
      } else if (has_wildcard(action) && wildcard_match(action, "rds-db:connect")) {
        add(s, "wildcard-action", Severity::kError,
            "Action " + double_quoted(action) + " is a wildcard that matches rds-db:connect",
            "allow exactly \"rds-db:connect\"");
      }
    }
    if (s.not_action) {
      add(s, "not-action-allow", Severity::kWarning,
          "Allow with NotAction allows every action not listed, including ones added later",
          "list the allowed actions in Action instead");
    }
  }

  void check_connect_resources(const Statement& s) {
    if (s.not_resource) {
      add(s, "rds-db-resource-wildcard", Severity::kError,
          "rds-db:connect is allowed through NotResource, i.e. on every database user not listed",
          "use Resource with arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-<17 hex>/USER");
      return;
    }
    for (const auto& resource : s.resources) {
      const std::string& text = resource.source;
      if (text == "*") {
        add(s, "rds-db-resource-wildcard", Severity::kError,
            "rds-db:connect is allowed on Resource \"*\": every database user of every proxy and "
            "cluster",
            "use Resource arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-<17 hex>/USER");
        continue;
      }
      size_t count = 0;
      auto parts = arn_parts(text, count);
      if (count != 6) continue;
      const std::string& service = parts[2];
      if (service == "rds") {
        add(s, "rds-service", Severity::kError,
            "Resource " + double_quoted(text) +
                " uses service \"rds\"; rds-db:connect is checked against "
                "arn:aws:rds-db:... ARNs, so this allows nothing",
            "write arn:aws:rds-db:" + parts[3] + ":" + parts[4] + ":dbuser:prx-<17 hex>/USER");
        continue;
      }
      if (service != "rds-db") continue;
      const std::string& rest = parts[5];
      if (!rest.starts_with("dbuser:")) {
        add(s, "dbuser-format", Severity::kError,
            "Resource " + double_quoted(text) +
                " is not arn:aws:rds-db:REGION:ACCOUNT:dbuser:PROXY_ID/USER",
            "the resource part must be dbuser:prx-<17 hex>/USER");
        continue;
      }
      std::string_view tail = std::string_view(rest).substr(7);
      size_t slash = tail.find('/');
      if (slash == std::string_view::npos || tail.find('/', slash + 1) != std::string_view::npos ||
          slash == 0 || slash + 1 == tail.size()) {
        add(s, "dbuser-format", Severity::kError,
            "Resource " + double_quoted(text) +
                " must name exactly one proxy id and one user "
                "(dbuser:PROXY_ID/USER)",
            "write dbuser:prx-<17 hex>/USER");
        continue;
      }
      std::string_view id = tail.substr(0, slash);
      std::string_view user = tail.substr(slash + 1);
      if (id.starts_with("prxy-")) {
        add(s, "prxy-typo", Severity::kError,
            "Resource " + double_quoted(text) + " names proxy id " + double_quoted(id) +
                ": RDS Proxy resource ids start with \"prx-\", so this ARN matches nothing",
            "use the id from `aws rds describe-db-proxies --query 'DBProxies[0].DBProxyArn'` "
            "(prx- followed by 17 hex digits)");
      } else if (!options_.backend_cluster_resource_id.empty() &&
                 id == options_.backend_cluster_resource_id) {
        // The proxy role's end-to-end IAM grant: the cluster's own resource id, on purpose.
      } else if (id.starts_with("db-") || id.starts_with("cluster-")) {
        add(s, "db-resource-id", Severity::kError,
            "Resource " + double_quoted(text) + " names " + double_quoted(id) +
                ", a DB instance/cluster resource id; through RDS Proxy the ARN must name the "
                "proxy's prx- id",
            "use the proxy's resource id (prx- followed by 17 hex digits)");
      } else if (has_wildcard(id)) {
        add(s, "dbuser-wildcard", Severity::kError,
            "Resource " + double_quoted(text) +
                " has a wildcard in the proxy id, so it covers other proxies",
            "name exactly one proxy id (prx- followed by 17 hex digits)");
      } else if (!is_proxy_resource_id(id) && placeholders_in(id).empty()) {
        add(s, "proxy-id-format", Severity::kError,
            "Resource " + double_quoted(text) + " names proxy id " + double_quoted(id) +
                ", which is not prx- followed by 17 lowercase hex digits",
            "copy the id from the proxy's ARN (arn:aws:rds:REGION:ACCOUNT:db-proxy:prx-...)");
      }
      if (has_wildcard(user)) {
        add(s, "dbuser-wildcard", Severity::kError,
            "Resource " + double_quoted(text) + " has a wildcard in the database user name",
            "name exactly one database user, e.g. lambda_writer");
      }
    }
  }

  void check_resource_generic(const Statement& s, const std::string& text) {
    if (text == "*") return;
    auto found = placeholders_in(text);
    if (!found.empty()) {
      add(s, "placeholder", Severity::kError,
          "Resource " + double_quoted(text) + " still contains the placeholder " + join(found),
          "replace it with the real value (account id, region, proxy resource id, key id)");
    }
    size_t count = 0;
    auto parts = arn_parts(text, count);
    if (count != 6) return;
    const std::string& region = parts[3];
    const std::string& account = parts[4];
    if (has_wildcard(region) || has_wildcard(account)) {
      add(s, "wildcard-account-region", Severity::kError,
          "Resource " + double_quoted(text) + " has a wildcard in the " +
              std::string(has_wildcard(account) ? "account" : "region") +
              ", so it also matches resources of other " +
              (has_wildcard(account) ? "accounts" : "regions"),
          "write the account id and region explicitly");
    } else if (!account.empty() && account != "aws" && !is_account_id(account) &&
               placeholders_in(account).empty()) {
      add(s, "account-format", Severity::kError,
          "Resource " + double_quoted(text) + " has account " + double_quoted(account) +
              ", which is not 12 digits",
          "write the 12-digit account id");
    }
  }

  static std::string join(const std::vector<std::string>& words) {
    std::string out;
    for (size_t i = 0; i < words.size(); ++i)
      out += (i ? ", " : "") + words[i];
    return out;
  }

  const LintOptions& options_;
  std::vector<LintFinding> findings_;
};

}  // namespace

std::string_view severity_name(Severity severity) {
  return severity == Severity::kError ? "error" : "warning";
}

std::vector<LintFinding> lint_policy(std::string_view json_text, const LintOptions& options) {
  return Linter(options).run(json_text);
}

std::string format_finding(std::string_view file, const LintFinding& finding) {
  std::string out(file);
  out += ": ";
  if (finding.statement_index) {
    out += "statement " + std::to_string(*finding.statement_index);
    if (!finding.sid.empty()) out += " (Sid " + double_quoted(finding.sid) + ")";
    out += ": ";
  }
  out += std::string(severity_name(finding.severity)) + " [" + finding.check +
         "]: " + finding.message + "\n  fix: " + finding.fix;
  return out;
}

}  // namespace writegate::iam
