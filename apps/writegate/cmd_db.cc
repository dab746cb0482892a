// writegate provision | audit | demo — the database side of the architecture.
#include <cstdlib>
#include <iostream>
#include <memory>

#include "command.h"
#include "dbadmin/audit.h"
#include "dbadmin/probe.h"
#include "dbadmin/provision.h"
#include "localpg/cluster.h"
#include "pgclient/pgclient.h"
#include "spec/spec.h"
#ifdef WRITEGATE_HAVE_AWSLOCAL
#include "awslocal/writer_secret.h"
#include "iam/seed.h"
#include "iam/store.h"
#endif

namespace {
using writegate::Error;
using writegate::Result;
using writegate::cli::fail;
using writegate::cli::finish;
using writegate::cli::Globals;
namespace dbadmin = writegate::dbadmin;
namespace pgclient = writegate::pgclient;

struct DbOptions {
  std::string dsn;
  bool dry_run = false;
  bool harden_public = false;
  bool json = false;
  bool check_secret = false;
};

writegate::spec::Spec load_spec(const Globals& globals) {
  auto spec = writegate::cli::effective_spec(globals);
  if (!spec) fail(spec.error());
  return std::move(*spec);
}

std::string admin_conninfo(const std::string& dsn) {
  std::string conninfo = dsn;
  if (conninfo.empty()) {
    if (const char* env = std::getenv("WRITEGATE_ADMIN_DSN")) conninfo = env;
  }
  return conninfo;
}

pgclient::Connection connect(const std::string& dsn) {
  const std::string conninfo = admin_conninfo(dsn);
  if (conninfo.empty()) {
    fail(
        Error::invalid_argument("no database given: pass --dsn CONNINFO (or set "
                                "WRITEGATE_ADMIN_DSN)"));
  }
  auto conn = pgclient::Connection::open(conninfo);
  if (!conn) fail(conn.error());
  return std::move(*conn);
}

void print_plan(const dbadmin::ProvisionPlan& plan) {
  std::cout << "-- writegate provision: database " << plan.database << "\nBEGIN;\n";
  for (const auto& statement : plan.statements)
    std::cout << statement << ";\n";
  std::cout << "COMMIT;\n";
}

void print_notes(const dbadmin::ProvisionPlan& plan) {
  for (const auto& note : plan.notes)
    std::cerr << "note: " << note << "\n";
}

int provision(const Globals& globals, const DbOptions& options) {
  const auto spec = load_spec(globals);
  auto conn = connect(options.dsn);
  auto plan = dbadmin::plan_provision(conn, spec, {.harden_public = options.harden_public});
  if (!plan) fail(plan.error());
  if (options.dry_run) {
    print_plan(*plan);
    print_notes(*plan);
    return 0;
  }
  if (auto applied = dbadmin::apply_provision(conn, *plan); !applied) fail(applied.error());
  std::cout << "provisioned " << spec.database.user << " on database " << plan->database << " ("
            << plan->statements.size() << " statements in one transaction, "
            << writegate::spec::write_mode_name(spec.database.write_mode) << " mode)\n";
  print_notes(*plan);
  return 0;
}

int audit(const Globals& globals, const DbOptions& options) {
  const auto spec = load_spec(globals);
  auto conn = connect(options.dsn);
  dbadmin::AuditOptions audit_options;
  if (options.check_secret) {
#ifdef WRITEGATE_HAVE_AWSLOCAL
    audit_options.check_login = true;
    audit_options.conninfo = admin_conninfo(options.dsn);
    auto secret =
        writegate::awslocal::WriterSecret::open(globals.state_dir, spec.database.user_secret);
    auto password = secret ? secret->password() : Result<std::string>(secret.error());
    if (password) {
      audit_options.secret_password = std::move(*password);
    } else {
      audit_options.secret_problem = password.error().message();
    }
#else
    fail(Error::failed_precondition("--check-secret needs the local AWS module (awslocal)"));
#endif
  }
#ifdef WRITEGATE_HAVE_AWSLOCAL
  // End-to-end IAM: the proxy role's rds-db:connect on the cluster, simulated over the local IAM
  // store when there is one (named, or this folder's: not a stack `up` made elsewhere, which may
  // have nothing to do with the database audited).
  std::unique_ptr<writegate::iam::IamStore> iam_store;
  if (spec.proxy.backend_auth == "IAM_AUTH" && globals.state_dir_chosen) {
    if (auto opened = writegate::iam::IamStore::open(globals.state_dir)) {
      iam_store = std::move(*opened);
      audit_options.proxy_may_connect =
          [&spec,
           &iam_store](const std::string& user) -> Result<dbadmin::AuditOptions::ConnectAnswer> {
        WG_ASSIGN_OR_RETURN(auto d, writegate::iam::proxy_cluster_connect(*iam_store, spec, user));
        return dbadmin::AuditOptions::ConnectAnswer{d.allowed, d.resource + ": " + d.describe};
      };
    }
  }
#endif
  auto report = dbadmin::audit(conn, spec, audit_options);
  if (!report) fail(report.error());
  std::cout << (options.json ? dbadmin::format_json(*report) : dbadmin::format_text(*report));
  return report->findings.empty() ? 0 : 1;
}

// The main job for now: a throwaway PostgreSQL, provisioned, audited and probed as the writer.
int demo(const Globals& globals) {
  auto spec = load_spec(globals);
  std::cout << "starting a throwaway PostgreSQL 15 (TLS, scram-sha-256)...\n";
  auto cluster = writegate::localpg::Cluster::start({});
  if (!cluster) fail(cluster.error());
  auto& pg = **cluster;
  std::cout << "  listening on " << pg.host() << ":" << pg.port() << ", data in " << pg.dir()
            << "\n";
  {
    auto admin = connect(pg.admin_dsn());
    if (auto made = admin.exec("CREATE DATABASE " + pgclient::quote_ident(spec.database.name));
        !made) {
      fail(made.error());
    }
  }
  auto admin = connect(pg.admin_dsn(spec.database.name));
  for (const auto& schema : spec.database.schemas) {
    const std::string s = pgclient::quote_ident(schema);
    if (auto made = admin.exec("CREATE SCHEMA " + s + "; CREATE TABLE " + s +
                               ".test_table (id bigserial PRIMARY KEY, column1 text, column2 "
                               "text)");
        !made) {
      fail(made.error());
    }
  }
  if (auto made = admin.exec("CREATE TABLE public.some_table (col text)"); !made) {
    fail(made.error());
  }
  std::cout << "\n== writegate provision ("
            << writegate::spec::write_mode_name(spec.database.write_mode) << " mode)\n";
  auto plan = dbadmin::plan_provision(admin, spec, {});
  if (!plan) fail(plan.error());
  if (auto applied = dbadmin::apply_provision(admin, *plan); !applied) fail(applied.error());
  std::cout << "applied " << plan->statements.size() << " statements in one transaction\n";
  for (const auto& note : plan->notes)
    std::cout << "note: " << note << "\n";

  std::cout << "\n== writegate audit\n";
  auto report = dbadmin::audit(admin, spec);
  if (!report) fail(report.error());
  std::cout << dbadmin::format_text(*report);

  std::cout << "\n== probes as " << spec.database.user << "\n";
  // The writer has no password (IAM only); the demo takes its identity with SET ROLE, which
  // PostgreSQL checks exactly as a login of that user.
  if (auto set = admin.exec("SET ROLE " + pgclient::quote_ident(spec.database.user)); !set) {
    fail(set.error());
  }
  const auto results =
      dbadmin::run_probes(admin, spec, spec.database.schemas.front(), "test_table");
  std::cout << dbadmin::format_probes(results);
  bool all_passed = true;
  for (const auto& r : results)
    all_passed = all_passed && r.passed;
  const bool ok = all_passed && report->findings.empty();
  std::cout << "\n"
            << (ok ? "demo passed" : "demo FAILED") << ": audit "
            << (report->findings.empty() ? "clean" : "has findings") << ", probes "
            << (all_passed ? "all as expected" : "not as expected") << "\n";
  return ok ? 0 : 1;
}

const bool kRegistered = writegate::cli::register_command([](CLI::App& root, Globals& globals) {
  static DbOptions options;
  auto* prov = root.add_subcommand(
      "provision", "Create the writer, schemas and grants on a database (one transaction)");
  prov->add_option("--dsn", options.dsn, "Admin connection (libpq conninfo or URI)");
  prov->add_flag("--dry-run", options.dry_run, "Print the SQL instead of running it");
  prov->add_flag("--harden-public", options.harden_public,
                 "Revoke PUBLIC's TEMPORARY (and CONNECT on other databases) even when other "
                 "login roles lose them");
  prov->callback([&globals] { finish(provision(globals, options)); });

  auto* aud = root.add_subcommand(
      "audit", "Report the writer's effective privileges (exit 0 clean, 1 findings, 2 error)");
  aud->add_option("--dsn", options.dsn, "Admin connection (libpq conninfo or URI)");
  aud->add_flag("--json", options.json, "JSON output");
  aud->add_flag("--check-secret", options.check_secret,
                "Standard mode: log in as the writer with the password of its secret "
                "(database.user_secret in the local Secrets Manager of --state)");
  aud->callback([&globals] { finish(audit(globals, options)); });

  auto* dem = root.add_subcommand(
      "demo", "Provision, audit and probe a throwaway PostgreSQL (the set-up check)");
  dem->callback([&globals] { finish(demo(globals)); });
});
}  // namespace
