// `writegate iam lint`: the architecture document's IAM checklist (section 9) plus the mistakes
// seen in the wild, checked on identity policy documents.
//
//   auto findings = writegate::iam::lint_policy(json_text);
//   for (const auto& f : findings) std::cout << format_finding("policy.json", f) << "\n";
//   // policy.json: statement 0 (Sid "AllowRDSConnect"): error [prxy-typo]: ...
//   //   fix: ...
//
// Checks (id: what):
//   invalid-policy     the document does not parse (the parser's exact message)
//   wildcard-action    "*", "rds-db:*", "rds:*" (or any wildcard that matches rds-db:connect)
//   not-action-allow   Allow with NotAction grants everything else
//   rds-db-resource-wildcard  rds-db:connect on Resource "*" or via NotResource
//   rds-service        arn:aws:rds:... where rds-db:connect needs arn:aws:rds-db:...
//   dbuser-format      not arn:aws:rds-db:REGION:ACCOUNT:dbuser:PROXY_ID/USER
//   prxy-typo          "prxy-" prefix (real proxy resource ids start with "prx-")
//   db-resource-id     a db-/cluster- resource id where the proxy's prx- id is meant (except
//                      LintOptions::backend_cluster_resource_id: an RDS Proxy role's own
//                      end-to-end IAM grant, which names the cluster on purpose)
//   proxy-id-format    the proxy id is not prx- + 17 lowercase hex digits
//   dbuser-wildcard    a wildcard in the proxy id or the user name
//   placeholder        ACCOUNT_ID, PROXY_RESOURCE_ID, KMS_KEY_ID, REGION, <...> left in
//   wildcard-account-region   * or ? in the account or region of a resource ARN
//   account-format     the account is not 12 digits
//   secret-wildcard    secretsmanager:GetSecretValue on "*"
//   kms-decrypt-unscoped  kms:Decrypt on "*" or without a kms:ViaService condition
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace writegate::iam {

enum class Severity { kError, kWarning };
std::string_view severity_name(Severity severity);  // "error", "warning"

struct LintFinding {
  std::string check;  // "prxy-typo"
  Severity severity = Severity::kError;
  std::optional<size_t> statement_index;  // none for document-level findings
  std::string sid;
  std::string message;
  std::string fix;
};

struct LintOptions {
  // The policy is an RDS Proxy role's under end-to-end IAM (DefaultAuthScheme IAM_AUTH): the
  // proxy logs in to the cluster itself, so rds-db:connect on dbuser:<this id>/USER is its design,
  // not the function's mistake. Any other db-/cluster- id is still a finding. Empty: none allowed.
  std::string backend_cluster_resource_id;
};

std::vector<LintFinding> lint_policy(std::string_view json_text, const LintOptions& options = {});

// "FILE: statement 0 (Sid \"X\"): error [check]: message\n  fix: ..."
std::string format_finding(std::string_view file, const LintFinding& finding);

}  // namespace writegate::iam
