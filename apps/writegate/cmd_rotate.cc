// `writegate secrets rotate-writer`: a new password for the writer on the database and in the
// proxy's secret, in one step (see dbadmin/rotate.h for the order and what failures leave).
#ifdef WRITEGATE_HAVE_AWSLOCAL

#include <cstdlib>
#include <iostream>

#include "awslocal/writer_secret.h"
#include "command.h"
#include "dbadmin/rotate.h"
#include "iam/store.h"
#include "pgclient/pgclient.h"
#include "spec/spec.h"

namespace writegate::cli {
using awslocal::WriterSecret;
namespace {

struct RotateArgs {
  std::string dsn;
};

int run_rotate(const Globals& globals, const RotateArgs& args) {
  auto spec = writegate::cli::effective_spec(globals);
  if (!spec) fail(spec.error());
  std::string conninfo = args.dsn;
  if (conninfo.empty()) {
    if (const char* env = std::getenv("WRITEGATE_ADMIN_DSN")) conninfo = env;
  }
  if (conninfo.empty()) {
    fail(Error::invalid_argument(
        "no database given: pass --dsn CONNINFO (or set WRITEGATE_ADMIN_DSN)"));
  }
  auto admin = pgclient::Connection::open(conninfo);
  if (!admin) fail(admin.error());
  auto secret = WriterSecret::open(globals.state_dir, spec->database.user_secret);
  if (!secret) fail(secret.error());
  const std::string& user = spec->database.user;
  auto password = dbadmin::rotate_writer_password(
      *admin, *spec,
      {.store = [&](const std::string& fresh) { return secret->store(user, fresh); },
       .restore = [&] { return secret->restore(); }});
  if (!password) fail(password.error());
  std::cout << "rotated the password of " << user << ": SCRAM verifier set on the database, "
            << "secret " << spec->database.user_secret << " updated (AWSCURRENT; the old value is "
            << "AWSPREVIOUS)\n";
  // testSecret: log in as the proxy will.
  if (auto login = dbadmin::try_login(conninfo, user, *password); !login) {
    std::cerr << "writegate: but a login as " << user
              << " with the new password fails: " << login.error().message()
              << "\n(on Aurora, membership in rds_iam makes password logins fail: use "
                 "proxy.backend_auth IAM_AUTH there)\n";
    return 1;
  }
  std::cout << "a login as " << user << " with the new password works\n";
  return 0;
}

}  // namespace

void install_rotate_writer(CLI::App& secrets, Globals& globals) {
  static RotateArgs args;
  auto* cmd = secrets.add_subcommand(
      "rotate-writer",
      "New random password for the writer: set on the database (SCRAM verifier) and in its "
      "secret, together");
  cmd->add_option("--dsn", args.dsn, "Admin connection (libpq conninfo or URI)");
  cmd->callback([&globals] { finish(run_rotate(globals, args)); });
}

}  // namespace writegate::cli

#endif  // WRITEGATE_HAVE_AWSLOCAL
