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
  // Revoke TEMPORARY from PUBLIC even when other login roles would lose it.
  bool harden_public = false;
};

struct ProvisionPlan {
  std::string database;
  std::vector<std::string> statements;   // in order, run inside one transaction
  std::vector<std::string> notes;        // what the user must know (strict mode limits, ...)
  std::vector<std::string> temp_losers;  // login roles that lose TEMPORARY with PUBLIC's
};

// Reads the catalog and plans the statements. Fails (before any change) when the DSN's database
// is not the spec's, or when other login roles would lose TEMPORARY and harden_public is off.
Result<ProvisionPlan> plan_provision(pgclient::Connection& admin, const spec::Spec& spec,
                                     const ProvisionOptions& options);

// Runs the plan in one transaction under an advisory lock; on any error nothing is changed and
// the error names the statement that failed.
Status apply_provision(pgclient::Connection& admin, const ProvisionPlan& plan);

}  // namespace writegate::dbadmin
