// `writegate secrets rotate-writer`: a new password for the writer, set on the database and in
// the proxy's secret in one step that leaves them agreeing whatever fails — the job Secrets
// Manager rotation does for RDS (createSecret/setSecret/testSecret/finishSecret).
//
//   auto rotated = dbadmin::rotate_writer_password(admin, spec, {
//       .store = [&](const std::string& password) { return put_secret(password); },
//       .restore = [&] { return put_previous_secret_back(); }});
//   if (!rotated) return rotated.error();        // the old password still works everywhere
//   auto login = dbadmin::try_login(admin_conninfo, spec.database.user, *rotated);
//
// The order, and what a failure at each step leaves behind:
//   1. the password (32 random ASCII letters and digits) and its SCRAM-SHA-256 verifier are
//      made here: the plaintext never travels in SQL, so it reaches no server log;
//   2. BEGIN; ALTER ROLE writer PASSWORD 'SCRAM-SHA-256$...' — not visible to logins yet;
//   3. store(password): the secret's new AWSCURRENT value. Fails: ROLLBACK, nothing changed;
//   4. COMMIT. Fails: restore() puts the previous secret value back, nothing changed.
// Between 3 and 4 (milliseconds) a reader of the secret already sees the new password.
#pragma once

#include <functional>
#include <string>

#include "common/result.h"
#include "pgclient/pgclient.h"
#include "spec/spec.h"

namespace writegate::dbadmin {

struct RotationSteps {
  // Stores the new password in the writer's secret (as its AWSCURRENT value).
  std::function<Status(const std::string& password)> store;
  // Puts the secret's previous value back (only called after store succeeded).
  std::function<Status()> restore;
};

// 32 characters of A-Za-z0-9 from the OpenSSL CSPRNG (about 190 bits).
Result<std::string> generate_password();

// Returns the new password (for the caller's login test; never print it). Refuses with
// failed_precondition when the spec's proxy.backend_auth is IAM_AUTH (the writer has no
// password there) and not_found when the writer role does not exist.
Result<std::string> rotate_writer_password(pgclient::Connection& admin, const spec::Spec& spec,
                                           const RotationSteps& steps);

// Logs in as `user` with `password` where admin_conninfo points (same host, port, database
// and TLS settings); the error says why the login failed.
Status try_login(const std::string& admin_conninfo, const std::string& user,
                 const std::string& password);

}  // namespace writegate::dbadmin
