// provision + audit + probes against a real PostgreSQL (the shared throwaway cluster).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include "dbadmin/audit.h"
#include "dbadmin/probe.h"
#include "dbadmin/provision.h"
#include "support/pg_fixture.h"

namespace writegate::dbadmin {
namespace {

using testing::fresh_database;
using testing::must_connect;
using testing::must_exec;
using testing::shared_cluster;

// Each test gets its own database and its own writer role, so tests never see each other.
class DbAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    db_ = fresh_database("dbadmin");
    spec_.database.name = db_;
    spec_.database.user = "writer_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
    admin_ = std::make_unique<pgclient::Connection>(must_connect(shared_cluster().admin_dsn(db_)));
    must_exec(*admin_,
              "CREATE SCHEMA foo; CREATE SCHEMA bar;"
              "CREATE TABLE foo.test_table (id bigserial PRIMARY KEY, column1 text, column2 text);"
              "CREATE TABLE bar.test_table (id bigserial PRIMARY KEY, column1 text, column2 text);"
              "CREATE TABLE public.some_table (col text);");
  }

  void provision(bool harden_public = true) {
    auto plan = plan_provision(*admin_, spec_, {.harden_public = harden_public});
    ASSERT_TRUE(plan.ok()) << plan.error().message();
    auto applied = apply_provision(*admin_, *plan);
    ASSERT_TRUE(applied.ok()) << applied.error().message();
  }

  AuditReport run_audit() {
    auto report = audit(*admin_, spec_);
    EXPECT_TRUE(report.ok()) << (report ? "" : report.error().message());
    return report ? *report : AuditReport{};
  }

  static std::vector<std::string> checks(const AuditReport& report) {
    std::vector<std::string> ids;
    for (const auto& f : report.findings)
      ids.push_back(f.check);
    return ids;
  }

  // A login connection as the writer: a temporary password only for the probe.
  pgclient::Connection login_as_writer() {
    must_exec(*admin_, "ALTER ROLE " + spec_.database.user + " PASSWORD 'probe-only'");
    auto conn = must_connect(shared_cluster().dsn_for(spec_.database.user, "probe-only", db_));
    must_exec(*admin_, "ALTER ROLE " + spec_.database.user + " PASSWORD NULL");
    return conn;
  }

  std::string db_;
  spec::Spec spec_;
  std::unique_ptr<pgclient::Connection> admin_;
};

TEST_F(DbAdminTest, ProvisionThenAuditIsCleanInStrictMode) {
  provision();
  const auto report = run_audit();
  EXPECT_TRUE(report.findings.empty()) << format_text(report);
  EXPECT_EQ(report.relations_checked, 3u);
}

TEST_F(DbAdminTest, ProvisionThenAuditIsCleanInKeyedMode) {
  spec_.database.write_mode = spec::WriteMode::kKeyed;
  provision();
  const auto report = run_audit();
  EXPECT_TRUE(report.findings.empty()) << format_text(report);
}

TEST_F(DbAdminTest, ProvisionTwiceGivesTheSameState) {
  const std::string snapshot_sql =
      "SELECT string_agg(format('%s %s %s', c.oid::regclass, c.relacl, "
      " (SELECT string_agg(a.attname || '=' || a.attacl::text, ',') FROM pg_attribute a"
      "  WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL)), ';' ORDER BY c.oid)"
      " || (SELECT string_agg(defaclacl::text, ';' ORDER BY oid) FROM pg_default_acl)"
      " || (SELECT datacl::text FROM pg_database WHERE datname = current_database())"
      " || (SELECT string_agg(nspacl::text, ';' ORDER BY oid) FROM pg_namespace)"
      " AS state FROM pg_class c WHERE c.relnamespace IN ('foo'::regnamespace,"
      " 'bar'::regnamespace)";
  spec_.database.write_mode = spec::WriteMode::kKeyed;
  provision();
  const std::string first = must_exec(*admin_, snapshot_sql).get(0, "state");
  provision();
  const std::string second = must_exec(*admin_, snapshot_sql).get(0, "state");
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, second);
}

TEST_F(DbAdminTest, DryRunChangesNothingAndShowsTheSql) {
  auto plan = plan_provision(*admin_, spec_, {.harden_public = true});
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_THAT(plan->statements,
              ::testing::Contains("CREATE ROLE \"" + spec_.database.user + "\" LOGIN"));
  EXPECT_THAT(plan->statements,
              ::testing::Contains("REVOKE TEMPORARY ON DATABASE \"" + db_ + "\" FROM PUBLIC"));
  // Planning alone created nothing.
  EXPECT_EQ(must_exec(*admin_, "SELECT count(*) AS n FROM pg_roles WHERE rolname = '" +
                                   spec_.database.user + "'")
                .get(0, "n"),
            "0");
}

TEST_F(DbAdminTest, ProvisionIsAllOrNothing) {
  // A statement that fails half-way (a table owner the admin may not act for) must leave no
  // trace: the role is not created.
  must_exec(*admin_, "DROP ROLE IF EXISTS wg_ghost_owner; CREATE ROLE wg_ghost_owner");
  auto plan = plan_provision(*admin_, spec_, {.harden_public = true});
  ASSERT_TRUE(plan.ok());
  plan->statements.insert(plan->statements.end() - 1, "SELECT 1/0");
  auto applied = apply_provision(*admin_, *plan);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.error().subcode(), "22012");
  EXPECT_THAT(applied.error().message(), ::testing::HasSubstr("failed at: SELECT 1/0"));
  EXPECT_EQ(must_exec(*admin_, "SELECT count(*) AS n FROM pg_roles WHERE rolname = '" +
                                   spec_.database.user + "'")
                .get(0, "n"),
            "0");
}

TEST_F(DbAdminTest, HardenPublicIsRequiredWhenOtherLoginRolesLoseTemp) {
  must_exec(*admin_, "DROP ROLE IF EXISTS wg_app_reader; CREATE ROLE wg_app_reader LOGIN");
  auto plan = plan_provision(*admin_, spec_, {.harden_public = false});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(plan.error().message(), ::testing::HasSubstr("wg_app_reader"));
  EXPECT_THAT(plan.error().message(), ::testing::HasSubstr("--harden-public"));
  auto hardened = plan_provision(*admin_, spec_, {.harden_public = true});
  ASSERT_TRUE(hardened.ok());
  EXPECT_THAT(hardened->temp_losers, ::testing::Contains("wg_app_reader"));
  must_exec(*admin_, "DROP ROLE wg_app_reader");
}

TEST_F(DbAdminTest, WrongDatabaseIsRefused) {
  spec_.database.name = "not_this_one";
  auto plan = plan_provision(*admin_, spec_, {});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.error().message(), ::testing::HasSubstr("spec names 'not_this_one'"));
}

TEST_F(DbAdminTest, ProbesInStrictMode) {
  provision();
  auto writer = login_as_writer();
  EXPECT_EQ(must_exec(writer, "SELECT current_user AS u").get(0, "u"), spec_.database.user);
  for (const auto& r : run_probes(writer, spec_, "foo", "test_table")) {
    EXPECT_TRUE(r.passed) << r.name << ": expected " << r.expected << ", got " << r.got;
  }
  // The named probes, spelled out.
  EXPECT_TRUE(writer.exec("INSERT INTO foo.test_table (column1) VALUES ('a')").ok());
  for (const char* denied :
       {"SELECT * FROM foo.test_table", "CREATE TABLE foo.x (i int)", "CREATE TEMP TABLE x (i int)",
        "UPDATE foo.test_table SET column2 = 'b' WHERE id = 1"}) {
    auto r = writer.exec(denied);
    ASSERT_FALSE(r.ok()) << denied;
    EXPECT_EQ(r.error().subcode(), "42501") << denied << ": " << r.error().message();
  }
}

TEST_F(DbAdminTest, ProbesInKeyedMode) {
  spec_.database.write_mode = spec::WriteMode::kKeyed;
  provision();
  auto writer = login_as_writer();
  must_exec(writer, "INSERT INTO foo.test_table (column1, column2) VALUES ('a', 'b')");
  auto updated = writer.exec("UPDATE foo.test_table SET column2 = 'c' WHERE id = 1");
  ASSERT_TRUE(updated.ok()) << updated.error().message();
  EXPECT_EQ(updated->command_status, "UPDATE 1");
  auto column = writer.exec("SELECT column1 FROM foo.test_table");
  ASSERT_FALSE(column.ok());
  EXPECT_EQ(column.error().subcode(), "42501");
  for (const auto& r : run_probes(writer, spec_, "foo", "test_table")) {
    EXPECT_TRUE(r.passed) << r.name << ": expected " << r.expected << ", got " << r.got;
  }
}

// Each misconfiguration, made by hand after a clean provision, must be caught by its check.
struct Misconfiguration {
  const char* name;
  const char* sql;  // $U is the writer, $D the database
  const char* check;
  bool keyed = false;
  bool end_to_end_iam = false;  // proxy.backend_auth IAM_AUTH instead of SECRETS
};

class MisconfigurationTest : public DbAdminTest,
                             public ::testing::WithParamInterface<Misconfiguration> {};

std::string expand(std::string sql, const std::string& user, const std::string& db) {
  for (std::size_t at; (at = sql.find("$U")) != std::string::npos;)
    sql.replace(at, 2, user);
  for (std::size_t at; (at = sql.find("$D")) != std::string::npos;)
    sql.replace(at, 2, db);
  return sql;
}

TEST_P(MisconfigurationTest, IsCaught) {
  const auto& m = GetParam();
  if (m.keyed) spec_.database.write_mode = spec::WriteMode::kKeyed;
  if (m.end_to_end_iam) spec_.proxy.backend_auth = "IAM_AUTH";
  provision();
  ASSERT_TRUE(run_audit().findings.empty());
  must_exec(*admin_, expand(m.sql, spec_.database.user, db_));
  const auto report = run_audit();
  EXPECT_THAT(checks(report), ::testing::Contains(std::string(m.check))) << format_text(report);
  // Every finding carries a fix, and applying the fixes of this check clears it.
  for (const auto& f : report.findings) {
    EXPECT_FALSE(f.fix.empty()) << f.check;
  }
}

const Misconfiguration kMisconfigurations[] = {
    {"table_select", "GRANT SELECT ON foo.test_table TO $U", "select-on-relation"},
    {"column_select", "GRANT SELECT (column1) ON foo.test_table TO $U", "select-on-relation"},
    {"keyed_non_key_column", "GRANT SELECT (column2) ON bar.test_table TO $U", "select-on-column",
     true},
    {"keyed_table_without_pk", "CREATE TABLE foo.no_pk (a int, b text)", "keyed-no-primary-key",
     true},
    {"keyed_new_table_not_granted", "CREATE TABLE foo.later (id int PRIMARY KEY, secret text)",
     "keyed-key-not-readable", true},
    {"matview_select",
     "CREATE MATERIALIZED VIEW foo.mv AS SELECT 1 AS x; GRANT SELECT ON foo.mv TO $U",
     "select-on-relation"},
    {"insert_revoked", "REVOKE INSERT ON bar.test_table FROM $U", "write-missing"},
    {"truncate_granted", "GRANT TRUNCATE ON foo.test_table TO $U", "extra-privilege"},
    {"select_outside", "GRANT SELECT ON public.some_table TO $U", "privilege-outside-schemas"},
    {"insert_outside_by_public", "GRANT INSERT ON public.some_table TO PUBLIC",
     "privilege-outside-schemas"},
    {"schema_create", "GRANT CREATE ON SCHEMA foo TO $U", "schema-create"},
    {"public_schema_create", "GRANT CREATE ON SCHEMA public TO PUBLIC", "schema-create"},
    {"database_create", "GRANT CREATE ON DATABASE $D TO $U", "database-create"},
    {"database_temp_public", "GRANT TEMPORARY ON DATABASE $D TO PUBLIC", "database-temp"},
    {"createdb", "ALTER ROLE $U CREATEDB", "role-attribute"},
    {"bypassrls", "ALTER ROLE $U BYPASSRLS", "role-attribute"},
    {"read_all_data", "GRANT pg_read_all_data TO $U", "role-membership"},
    {"noinherit_membership",
     "DROP ROLE IF EXISTS wg_power_$U; CREATE ROLE wg_power_$U NOINHERIT;"
     "ALTER ROLE $U NOINHERIT; GRANT wg_power_$U TO $U",
     "role-membership"},
    {"rds_iam_revoked", "REVOKE rds_iam FROM $U", "rds-iam-missing"},
    {"owns_table", "CREATE TABLE foo.owned (i int); ALTER TABLE foo.owned OWNER TO $U",
     "owns-objects"},
    {"default_privileges_select",
     "ALTER DEFAULT PRIVILEGES IN SCHEMA foo GRANT SELECT ON TABLES TO $U", "default-privileges"},
    {"default_privileges_missing",
     "ALTER DEFAULT PRIVILEGES IN SCHEMA bar REVOKE INSERT ON TABLES FROM $U",
     "default-privileges"},
    {"security_definer",
     "CREATE FUNCTION public.wg_peek() RETURNS bigint LANGUAGE sql SECURITY DEFINER"
     " AS 'SELECT count(*) FROM foo.test_table'",
     "security-definer-function"},
    {"view_without_security_invoker",
     "CREATE VIEW foo.v AS SELECT id, column1 FROM foo.test_table;"
     " GRANT INSERT ON foo.v TO $U",
     "view-not-security-invoker"},
    {"sequence_select", "GRANT SELECT ON SEQUENCE foo.test_table_id_seq TO $U",
     "sequence-privilege"},
    {"sequence_usage_revoked", "REVOKE USAGE ON SEQUENCE bar.test_table_id_seq FROM $U",
     "sequence-usage-missing"},
    {"password_set", "ALTER ROLE $U PASSWORD 'oops'", "role-has-password", false, true},
    {"nologin", "ALTER ROLE $U NOLOGIN", "role-cannot-login"},
};

INSTANTIATE_TEST_SUITE_P(Audit, MisconfigurationTest, ::testing::ValuesIn(kMisconfigurations),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST_F(DbAdminTest, DefaultPrivilegesOfANamedTableOwner) {
  must_exec(*admin_,
            "DROP ROLE IF EXISTS wg_migrator; CREATE ROLE wg_migrator;"
            "GRANT CREATE, USAGE ON SCHEMA foo TO wg_migrator");
  provision();  // table_owners empty: defaults only FOR ROLE the admin
  spec_.database.table_owners = {"wg_migrator"};
  auto report = run_audit();
  EXPECT_THAT(checks(report), ::testing::Contains(std::string("default-privileges")))
      << format_text(report);
  // Provisioning with the owner named fixes it, and a table that owner makes is writable.
  provision();
  report = run_audit();
  EXPECT_TRUE(report.findings.empty()) << format_text(report);
  must_exec(*admin_,
            "SET ROLE wg_migrator; CREATE TABLE foo.migrated (id int PRIMARY KEY);"
            "RESET ROLE");
  auto writer = login_as_writer();
  EXPECT_TRUE(writer.exec("INSERT INTO foo.migrated VALUES (1)").ok());
  report = run_audit();
  EXPECT_TRUE(report.findings.empty()) << format_text(report);
  must_exec(*admin_, "DROP TABLE foo.migrated; REVOKE ALL ON SCHEMA foo FROM wg_migrator");
}

TEST_F(DbAdminTest, APasswordIsExpectedInStandardMode) {
  provision();
  must_exec(*admin_, "ALTER ROLE " + spec_.database.user + " PASSWORD 'the-proxys-secret'");
  const auto report = run_audit();  // proxy.backend_auth SECRETS: the proxy's secret holds it
  EXPECT_TRUE(report.findings.empty()) << format_text(report);
  EXPECT_THAT(report.notes, ::testing::Contains(::testing::HasSubstr("has a password: expected")));
}

TEST_F(DbAdminTest, MissingRoleIsOneCriticalFinding) {
  const auto report = run_audit();
  ASSERT_EQ(report.findings.size(), 1u);
  EXPECT_EQ(report.findings[0].check, "role-missing");
  EXPECT_EQ(report.findings[0].severity, Severity::kCritical);
}

TEST_F(DbAdminTest, JsonReportCarriesEveryField) {
  provision();
  must_exec(*admin_, "GRANT SELECT ON foo.test_table TO " + spec_.database.user);
  const std::string json = format_json(run_audit());
  for (const char* field :
       {"\"check\": \"select-on-relation\"", "\"severity\": \"critical\"",
        "\"object\": \"table foo.test_table\"", "\"fix\": \"REVOKE SELECT", "\"clean\": false"}) {
    EXPECT_THAT(json, ::testing::HasSubstr(field));
  }
}

}  // namespace
}  // namespace writegate::dbadmin
