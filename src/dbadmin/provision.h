// `writegate provision`: applies the architecture document's section 3 to a PostgreSQL database
// (Aurora included), plus what the document forgot, in one transaction.
//
//   auto conn = pgclient::Connection::open(admin_dsn);
//   auto plan = dbadmin::plan_provision(*conn, spec, {.harden_public = true});
//   if (!plan) return plan.error();             // e.g. other login roles would lose TEMP
//   for (const auto& sql : plan->statements) std::cout << sql << "\n";   // --dry-run
//   auto applied = dbadmin::apply_provision(*conn, *plan);               // all or nothing
//
// The plan is computed from the catalog (read-only), so --dry-run shows exactly what would run.
// Running it twice gives the same state.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "pgclient/pgclient.h"
#include "spec/spec.h"

namespace writegate::dbadmin {

struct ProvisionOptions {
  // Revoke PUBLIC's privileges on the databases (TEMPORARY and CREATE on the spec's; CONNECT,
  // TEMPORARY and CREATE on every other one) even when other login roles would lose them.
  bool harden_public = false;
};

// What other login roles lose when PUBLIC's grant of `privilege` on `database` goes: those
// holding it through PUBLIC only (no grant of their own or of a role they inherit).
struct PublicLoss {
  std::string database;
  std::string privilege;  // CONNECT, TEMPORARY or CREATE
  std::vector<std::string> roles;
};

struct ProvisionPlan {
  std::string database;
  std::vector<std::string> statements;  // in order, run inside one transaction
  std::vector<std::string> notes;       // what the user must know (strict mode limits, ...)
  std::vector<PublicLoss> public_losses;
};

// Reads the catalog and plans the statements. Fails (before any change) when the DSN's database
// is not the spec's, or when other login roles would lose a privilege PUBLIC holds on a
// database and harden_public is off (the error lists who loses what, and the GRANTs that keep
// it). Databases whose owner the admin cannot act for are left alone, with a note.
//
// proxy.backend_auth IAM_AUTH (end-to-end IAM, the default): the writer is granted rds_iam and
// its password is removed. SECRETS (standard mode: the proxy logs in with the writer's password
// from its secret) keeps the password and takes the writer out of rds_iam, which on Aurora would
// refuse that login.
Result<ProvisionPlan> plan_provision(pgclient::Connection& admin, const spec::Spec& spec,
                                     const ProvisionOptions& options);

// Runs the plan in one transaction under an advisory lock; on any error nothing is changed and
// the error names the statement that failed.
Status apply_provision(pgclient::Connection& admin, const ProvisionPlan& plan);

}  // namespace writegate::dbadmin
