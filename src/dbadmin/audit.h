// `writegate audit`: the writer's effective privileges, found the hard way.
//
// Grants can lie: a column grant hides from has_table_privilege, PUBLIC holds TEMPORARY, a role
// membership (pg_read_all_data, NOINHERIT roles reachable by SET ROLE) bypasses every REVOKE,
// default privileges only cover one owner. The audit asks PostgreSQL what the user can really
// do, with set-based catalog queries (a database of 10,000 tables audits in seconds).
//
//   auto report = dbadmin::audit(*conn, spec);
//   if (!report) return 2;                      // could not run
//   std::cout << dbadmin::format_text(*report);
//   return report->findings.empty() ? 0 : 1;
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "pgclient/pgclient.h"
#include "spec/spec.h"

namespace writegate::dbadmin {

enum class Severity { kCritical, kHigh, kMedium, kLow };
std::string_view severity_name(Severity severity);

struct Finding {
  std::string check;  // stable id, e.g. "select-on-relation"
  Severity severity;
  std::string object;   // e.g. "table foo.orders", "role lambda_writer", "database mydb"
  std::string message;  // what is wrong
  // Runnable SQL (for the admin's connection to the audited database) that removes the cause
  // where it comes from: PUBLIC, the granting role, the membership. Empty when a person must
  // decide; `decide` then says what, in words.
  std::string fix;
  std::string decide;
};

struct AuditReport {
  std::string database;
  std::string user;
  spec::WriteMode mode = spec::WriteMode::kStrict;
  std::size_t relations_checked = 0;
  std::vector<std::string> table_owners;  // whose default privileges were checked
  std::vector<Finding> findings;
  std::vector<std::string> notes;  // checks that could not run fully, and why
};

// The check ids this auditor knows, with one line each (for --help and the README).
const std::vector<std::pair<std::string, std::string>>& audit_checks();

struct AuditOptions {
  // Standard mode (proxy.backend_auth SECRETS): log in as the writer with the password of its
  // secret, as the proxy does, and report secret-login-failed when that fails.
  bool check_login = false;
  std::string conninfo;                        // the admin's; user and password are replaced
  std::optional<std::string> secret_password;  // nullopt: the secret could not be read
  std::string secret_problem;                  // why not

  // End-to-end IAM (proxy.backend_auth IAM_AUTH): may the RDS Proxy role rds-db:connect to the
  // cluster as this database user? Answered by the policy evaluator over the local IAM store
  // (iam::proxy_cluster_connect); `evidence` is the evaluator's reason. Unset: the check is
  // skipped with a note (the audit has no IAM store at hand).
  struct ConnectAnswer {
    bool allowed = false;
    std::string evidence;
  };
  std::function<Result<ConnectAnswer>(const std::string& db_user)> proxy_may_connect;
};

Result<AuditReport> audit(pgclient::Connection& admin, const spec::Spec& spec,
                          const AuditOptions& options = {});

std::string format_text(const AuditReport& report);
std::string format_json(const AuditReport& report);

}  // namespace writegate::dbadmin
