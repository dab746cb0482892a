#include "dbadmin/rotate.h"

#include <openssl/rand.h>

#include <string_view>

#include "pgwire/scram.h"

namespace writegate::dbadmin {

Result<std::string> generate_password() {
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  // Bytes below 248 (= 4 * 62) map onto the alphabet without bias; the rest are drawn again.
  constexpr unsigned kLimit = 4 * kAlphabet.size();
  std::string password;
  while (password.size() < 32) {
    unsigned char bytes[64];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
      return Error::internal("the random number generator failed (RAND_bytes)");
    }
    for (unsigned char b : bytes) {
      if (b < kLimit && password.size() < 32) password += kAlphabet[b % kAlphabet.size()];
    }
  }
  return password;
}

Result<std::string> rotate_writer_password(pgclient::Connection& admin, const spec::Spec& spec,
                                           const RotationSteps& steps) {
  const std::string& user = spec.database.user;
  if (spec.proxy.backend_auth == "IAM_AUTH") {
    return Error::failed_precondition(
        "proxy.backend_auth is IAM_AUTH: the proxy logs in with IAM tokens and the writer has no "
        "password to rotate (set backend_auth: SECRETS for standard mode)");
  }
  WG_ASSIGN_OR_RETURN(auto exists,
                      admin.query("SELECT count(*) AS n FROM pg_roles WHERE rolname = $1", {user}));
  if (exists.get(0, "n") != "1") {
    return Error::not_found("the writer role '" + user +
                            "' does not exist: run `writegate provision` first");
  }

  // 1. The password and its verifier, made here (PostgreSQL's own salt size and iterations).
  WG_ASSIGN_OR_RETURN(std::string password, generate_password());
  unsigned char salt[16];
  if (RAND_bytes(salt, sizeof salt) != 1) {
    return Error::internal("the random number generator failed (RAND_bytes)");
  }
  WG_ASSIGN_OR_RETURN(
      auto secret,
      pgwire::make_scram_secret(password, std::string_view(reinterpret_cast<char*>(salt), 16)));
  const std::string verifier = pgwire::format_scram_secret(secret);

  // 2. The new verifier, not yet committed: logins keep using the old password.
  WG_RETURN_IF_ERROR(admin.exec("BEGIN"));
  auto set = admin.exec("ALTER ROLE " + pgclient::quote_ident(user) + " PASSWORD " +
                        pgclient::quote_literal(verifier));
  if (!set) {
    (void)admin.exec("ROLLBACK");
    return std::move(set).error().with_context(
        "setting the writer's password (nothing changed: not on the database, not in the "
        "secret)");
  }
  // 3. The secret.
  if (auto stored = steps.store(password); !stored) {
    (void)admin.exec("ROLLBACK");
    return std::move(stored).error().with_context(
        "storing the new password in the secret (nothing changed: the database keeps the old "
        "password, the secret its old value)");
  }
  // 4. Both at once, or the secret goes back.
  if (auto committed = admin.exec("COMMIT"); !committed) {
    auto restored = steps.restore();
    if (!restored) {
      return Error(committed.error().code(),
                   "the database did not take the new password (" + committed.error().message() +
                       ") and putting the secret's previous value back failed too (" +
                       restored.error().message() +
                       "): the secret holds a password the database does not know; run "
                       "`writegate secrets rotate-writer` again");
    }
    return std::move(committed).error().with_context(
        "committing the new password (nothing changed: the secret's previous value is current "
        "again)");
  }
  return password;
}

Status try_login(const std::string& admin_conninfo, const std::string& user,
                 const std::string& password) {
  WG_ASSIGN_OR_RETURN(std::string conninfo, pgclient::with_login(admin_conninfo, user, password));
  WG_ASSIGN_OR_RETURN(auto conn, pgclient::Connection::open(conninfo));
  WG_RETURN_IF_ERROR(conn.exec("SELECT 1"));
  return {};
}

}  // namespace writegate::dbadmin
