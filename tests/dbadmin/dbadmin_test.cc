// provision + audit + probes against a real PostgreSQL (the shared throwaway cluster).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>

#include "dbadmin/audit.h"
#include "dbadmin/probe.h"
#include "dbadmin/provision.h"
#include "dbadmin/rotate.h"
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
  void make_owning_admin(const std::string& role, const std::string& password);
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

// A login role that is no superuser (as Aurora's master user) but owns the test database, its
// schemas and tables: an admin with exactly the rights provision needs there.
void DbAdminTest::make_owning_admin(const std::string& role, const std::string& password) {
  must_exec(*admin_, "DROP ROLE IF EXISTS " + role + "; CREATE ROLE " + role +
                         " LOGIN CREATEROLE PASSWORD '" + password + "';" + "ALTER DATABASE " +
                         db_ + " OWNER TO " + role + "; ALTER SCHEMA foo OWNER TO " + role +
                         "; ALTER SCHEMA bar OWNER TO " + role +
                         "; ALTER TABLE foo.test_table OWNER TO " + role +
                         "; ALTER TABLE bar.test_table OWNER TO " + role);
}

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
  // An admin that is no superuser (as Aurora's master user) and a table owner it is not a
  // member of: ALTER DEFAULT PRIVILEGES FOR ROLE that owner fails half-way through the plan,
  // after the writer was created and granted. Nothing of it may remain.
  const std::string admin_role = "wg_limited_admin_" + std::to_string(::getpid());
  must_exec(*admin_, "DROP ROLE IF EXISTS wg_ghost_owner; CREATE ROLE wg_ghost_owner");
  make_owning_admin(admin_role, "limited-admin");
  auto limited = must_connect(shared_cluster().dsn_for(admin_role, "limited-admin", db_));
  spec_.database.table_owners = {"wg_ghost_owner"};
  auto plan = plan_provision(limited, spec_, {.harden_public = true});
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  // The plan really does create the role before the statement that fails.
  const std::string create = "CREATE ROLE \"" + spec_.database.user + "\" LOGIN";
  const std::string failing =
      "ALTER DEFAULT PRIVILEGES FOR ROLE \"wg_ghost_owner\" IN SCHEMA \"foo\" REVOKE ALL ON "
      "TABLES FROM \"" +
      spec_.database.user + "\"";
  const auto at = [&](const std::string& statement) {
    return std::find(plan->statements.begin(), plan->statements.end(), statement) -
           plan->statements.begin();
  };
  ASSERT_LT(at(create), at(failing));
  ASSERT_LT(at(failing), static_cast<long>(plan->statements.size()));
  auto applied = apply_provision(limited, *plan);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.error().subcode(), "42501") << applied.error().message();
  EXPECT_THAT(applied.error().message(), ::testing::HasSubstr("failed at: " + failing));
  EXPECT_EQ(must_exec(*admin_, "SELECT count(*) AS n FROM pg_roles WHERE rolname = '" +
                                   spec_.database.user + "'")
                .get(0, "n"),
            "0");
  // The grants made before the failure went too: nothing on the schemas names the writer.
  EXPECT_EQ(must_exec(*admin_, "SELECT count(*) AS n FROM pg_namespace WHERE nspacl::text LIKE '%" +
                                   spec_.database.user + "%'")
                .get(0, "n"),
            "0");
  must_exec(*admin_, "ALTER DATABASE " + db_ + " OWNER TO CURRENT_USER");
}

TEST_F(DbAdminTest, HardenPublicIsRequiredWhenOtherLoginRolesLoseTemp) {
  must_exec(*admin_, "DROP ROLE IF EXISTS wg_app_reader; CREATE ROLE wg_app_reader LOGIN");
  // As on a new cluster (an earlier test's provision closed it).
  must_exec(*admin_, "GRANT CONNECT, TEMPORARY ON DATABASE postgres TO PUBLIC");
  auto plan = plan_provision(*admin_, spec_, {.harden_public = false});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(plan.error().message(), ::testing::HasSubstr("wg_app_reader"));
  EXPECT_THAT(plan.error().message(), ::testing::HasSubstr("--harden-public"));
  // What the role loses, database by database, and the GRANT that would keep it.
  // (Other tests' login roles may be listed too, in any order.)
  EXPECT_THAT(plan.error().message(),
              ::testing::ContainsRegex("TEMPORARY on database " + db_ + ": [^\n]*wg_app_reader"));
  EXPECT_THAT(plan.error().message(),
              ::testing::ContainsRegex("CONNECT on database postgres: [^\n]*wg_app_reader"));
  EXPECT_THAT(plan.error().message(),
              ::testing::ContainsRegex("GRANT CONNECT ON DATABASE \"postgres\" TO [^;]*"
                                       "\"wg_app_reader\""));
  auto hardened = plan_provision(*admin_, spec_, {.harden_public = true});
  ASSERT_TRUE(hardened.ok());
  bool loses_temp_here = false, loses_connect_to_postgres = false;
  for (const auto& loss : hardened->public_losses) {
    const bool named =
        std::find(loss.roles.begin(), loss.roles.end(), "wg_app_reader") != loss.roles.end();
    loses_temp_here |= named && loss.database == db_ && loss.privilege == "TEMPORARY";
    loses_connect_to_postgres |=
        named && loss.database == "postgres" && loss.privilege == "CONNECT";
  }
  EXPECT_TRUE(loses_temp_here);
  EXPECT_TRUE(loses_connect_to_postgres);
  // A role with its own grant loses nothing there.
  must_exec(*admin_, "GRANT CONNECT ON DATABASE postgres TO wg_app_reader");
  auto again = plan_provision(*admin_, spec_, {.harden_public = true});
  ASSERT_TRUE(again.ok());
  for (const auto& loss : again->public_losses) {
    if (loss.database == "postgres" && loss.privilege == "CONNECT") {
      EXPECT_THAT(loss.roles, ::testing::Not(::testing::Contains("wg_app_reader")));
    }
  }
  must_exec(*admin_, "REVOKE ALL ON DATABASE postgres FROM wg_app_reader; DROP ROLE wg_app_reader");
}

TEST_F(DbAdminTest, ProvisionClosesEveryOtherDatabase) {
  provision();
  auto writer = login_as_writer();  // its own database: allowed
  must_exec(*admin_, "ALTER ROLE " + spec_.database.user + " PASSWORD 'probe-only'");
  for (const std::string other : {"postgres", "template1"}) {
    auto elsewhere = pgclient::Connection::open(
        shared_cluster().dsn_for(spec_.database.user, "probe-only", other));
    ASSERT_FALSE(elsewhere.ok()) << other;
    EXPECT_THAT(elsewhere.error().message(), ::testing::HasSubstr("permission denied for database"))
        << other;
  }
  must_exec(*admin_, "ALTER ROLE " + spec_.database.user + " PASSWORD NULL");
  // template0 allows no connections at all: nothing to revoke, nothing to report.
  EXPECT_EQ(must_exec(*admin_,
                      "SELECT datallowconn::text AS c FROM pg_database"
                      " WHERE datname = 'template0'")
                .get(0, "c"),
            "false");
  const auto report = run_audit();
  EXPECT_TRUE(report.findings.empty()) << format_text(report);
}

TEST_F(DbAdminTest, OtherDatabasesTheAdminCannotActForAreANote) {
  // A database owned by a role the admin is not: provision leaves it, says so, and the audit
  // keeps reporting it.
  const std::string other = fresh_database("foreign");
  const std::string admin_role = "wg_small_admin_" + std::to_string(::getpid());
  make_owning_admin(admin_role, "small-admin");
  auto small = must_connect(shared_cluster().dsn_for(admin_role, "small-admin", db_));
  auto plan = plan_provision(small, spec_, {.harden_public = true});
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  EXPECT_THAT(plan->notes, ::testing::Contains(
                               ::testing::HasSubstr("PUBLIC holds CONNECT on database " + other)));
  for (const auto& statement : plan->statements) {
    EXPECT_THAT(statement, ::testing::Not(::testing::HasSubstr("DATABASE \"" + other + "\"")));
  }
  ASSERT_TRUE(apply_provision(small, *plan).ok());
  const auto report = run_audit();
  bool reported = false;
  for (const auto& f : report.findings)
    reported |= f.check == "other-database-connect" && f.object == "database " + other;
  EXPECT_TRUE(reported) << format_text(report);
  must_exec(*admin_, "ALTER DATABASE " + db_ + " OWNER TO CURRENT_USER");
}

TEST_F(DbAdminTest, DollarsInIdentifiersAreQuotedOnTheClient) {
  // `$` is a legal identifier character; the writer, a schema and a role it is a member of all
  // carry a dollar-quote tag, which a server-side DO $wg$ block built from them would break on.
  spec_.database.user = "w$wg$" + std::to_string(::getpid());
  spec_.database.schemas = {"foo", "s$wg$x"};
  must_exec(*admin_, "CREATE ROLE \"" + spec_.database.user +
                         "\" LOGIN;"
                         "DROP ROLE IF EXISTS \"r$wg$\"; CREATE ROLE \"r$wg$\";"
                         "GRANT \"r$wg$\" TO \"" +
                         spec_.database.user +
                         "\";"
                         "CREATE SCHEMA \"s$wg$x\";"
                         "CREATE TABLE \"s$wg$x\".\"t$wg$\" (id int PRIMARY KEY, v text)");
  provision();
  const auto report = run_audit();
  EXPECT_TRUE(report.findings.empty()) << format_text(report);
  EXPECT_EQ(must_exec(*admin_,
                      "SELECT count(*) AS n FROM pg_auth_members m"
                      " JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname = 'r$wg$'")
                .get(0, "n"),
            "0");
  must_exec(*admin_, "ALTER ROLE \"" + spec_.database.user + "\" PASSWORD 'probe-only'");
  auto writer = must_connect(shared_cluster().dsn_for(spec_.database.user, "probe-only", db_));
  EXPECT_TRUE(writer.exec("INSERT INTO \"s$wg$x\".\"t$wg$\" VALUES (1, 'a')").ok());
  must_exec(*admin_, "DROP ROLE \"r$wg$\"");
}

TEST_F(DbAdminTest, StandardModeKeepsThePasswordEndToEndIamRemovesIt) {
  // proxy.backend_auth SECRETS: the proxy logs in with the writer's password; re-provisioning
  // must not take it away (it did, and every proxy login failed).
  spec_.proxy.backend_auth = "SECRETS";
  provision();
  must_exec(*admin_, "ALTER ROLE " + spec_.database.user + " PASSWORD 'the-proxys-secret'");
  provision();
  EXPECT_TRUE(pgclient::Connection::open(
                  shared_cluster().dsn_for(spec_.database.user, "the-proxys-secret", db_))
                  .ok());
  spec_.proxy.backend_auth = "IAM_AUTH";
  provision();
  EXPECT_FALSE(pgclient::Connection::open(
                   shared_cluster().dsn_for(spec_.database.user, "the-proxys-secret", db_))
                   .ok());
  EXPECT_EQ(must_exec(*admin_,
                      "SELECT (rolpassword IS NULL)::text AS none FROM pg_authid"
                      " WHERE rolname = '" +
                          spec_.database.user + "'")
                .get(0, "none"),
            "true");
}

TEST_F(DbAdminTest, WrongDatabaseIsRefused) {
  spec_.database.name = "not_this_one";
  auto plan = plan_provision(*admin_, spec_, {});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.error().message(), ::testing::HasSubstr("spec names 'not_this_one'"));
}

// What each probe must come to, written here and not taken from probe.cc: "ok" or the SQLSTATE.
// The whole map is compared, so a probe that goes missing (or an empty list) fails the test.
std::map<std::string, std::string> probe_outcomes(const std::vector<ProbeResult>& results) {
  std::map<std::string, std::string> out;
  for (const auto& r : results) {
    EXPECT_EQ(r.passed, r.got.substr(0, r.got.find(' ')) == r.expected) << r.name;
    out[r.name] = r.got.substr(0, r.got.find(' '));
  }
  return out;
}

TEST_F(DbAdminTest, ProbesInStrictMode) {
  provision();
  auto writer = login_as_writer();
  EXPECT_EQ(must_exec(writer, "SELECT current_user AS u").get(0, "u"), spec_.database.user);
  const std::map<std::string, std::string> expected = {
      {"insert", "ok"},
      {"select", "42501"},
      {"select-one-column", "42501"},
      {"update-keyed", "42501"},  // strict: the WHERE reads id, which needs SELECT
      {"delete-keyed", "42501"},
      {"update-unconditional", "ok"},
      {"returning", "42501"},
      {"create-table", "42501"},
      {"create-temp-table", "42501"},
      {"insert-outside-schemas", "42501"},
      {"truncate", "42501"},
  };
  EXPECT_EQ(probe_outcomes(run_probes(writer, spec_, "foo", "test_table")), expected);
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
  const std::map<std::string, std::string> expected = {
      {"insert", "ok"},
      {"select", "42501"},
      {"select-one-column", "42501"},
      {"update-keyed", "ok"},  // keyed: id is readable
      {"delete-keyed", "ok"},
      {"update-unconditional", "ok"},
      {"returning", "42501"},
      {"create-table", "42501"},
      {"create-temp-table", "42501"},
      {"insert-outside-schemas", "42501"},
      {"truncate", "42501"},
  };
  EXPECT_EQ(probe_outcomes(run_probes(writer, spec_, "foo", "test_table")), expected);
}

// Each misconfiguration, made by hand after a clean provision, must be caught by its check.
struct Misconfiguration {
  const char* name;
  const char* sql;  // $U is the writer, $D the database, $O another database made after provision
  const char* check;
  bool keyed = false;
  bool standard_mode = false;   // proxy.backend_auth SECRETS instead of IAM_AUTH (the default)
  bool person_decides = false;  // no SQL can fix it: the finding says what to decide instead
};

class MisconfigurationTest : public DbAdminTest,
                             public ::testing::WithParamInterface<Misconfiguration> {};

std::string expand(std::string sql, const std::string& user, const std::string& db,
                   const std::string& other) {
  for (std::size_t at; (at = sql.find("$U")) != std::string::npos;)
    sql.replace(at, 2, user);
  for (std::size_t at; (at = sql.find("$D")) != std::string::npos;)
    sql.replace(at, 2, db);
  for (std::size_t at; (at = sql.find("$O")) != std::string::npos;)
    sql.replace(at, 2, other);
  return sql;
}

TEST_P(MisconfigurationTest, IsCaught) {
  const auto& m = GetParam();
  if (m.keyed) spec_.database.write_mode = spec::WriteMode::kKeyed;
  if (m.standard_mode) spec_.proxy.backend_auth = "SECRETS";
  provision();
  ASSERT_TRUE(run_audit().findings.empty()) << format_text(run_audit());
  // A database made after provision: PUBLIC holds CONNECT and TEMPORARY on it again.
  const std::string other = std::string(m.sql).find("$O") != std::string::npos
                                ? fresh_database("later")
                                : std::string("none");
  must_exec(*admin_, expand(m.sql, spec_.database.user, db_, other));
  const auto report = run_audit();
  ASSERT_THAT(checks(report), ::testing::Contains(std::string(m.check))) << format_text(report);
  // Every finding carries runnable SQL or, only where a person must choose, words and no SQL.
  for (const auto& f : report.findings) {
    EXPECT_NE(f.fix.empty(), f.decide.empty()) << f.check << ": " << f.fix << " / " << f.decide;
  }
  // Applying the fixes of this check clears it.
  for (const auto& f : report.findings) {
    if (f.check != m.check) continue;
    if (m.person_decides) {
      EXPECT_TRUE(f.fix.empty()) << f.fix;
      EXPECT_FALSE(f.decide.empty());
      continue;
    }
    ASSERT_FALSE(f.fix.empty()) << f.check << ": " << f.decide;
    auto fixed = admin_->exec(f.fix);
    ASSERT_TRUE(fixed.ok()) << f.fix << "\n -> " << fixed.error().message();
  }
  if (m.person_decides) return;
  const auto after = run_audit();
  EXPECT_THAT(checks(after), ::testing::Not(::testing::Contains(std::string(m.check))))
      << format_text(after);
}

const Misconfiguration kMisconfigurations[] = {
    {"table_select", "GRANT SELECT ON foo.test_table TO $U", "select-on-relation"},
    {"column_select", "GRANT SELECT (column1) ON foo.test_table TO $U", "select-on-relation"},
    {"keyed_non_key_column", "GRANT SELECT (column2) ON bar.test_table TO $U", "select-on-column",
     true},
    {"keyed_table_without_pk", "CREATE TABLE foo.no_pk (a int, b text)", "keyed-no-primary-key",
     true, false, true},
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
    {"database_temp_through_a_role", "GRANT TEMPORARY ON DATABASE $D TO rds_iam", "database-temp"},
    {"other_database_made_later_connect", "COMMENT ON DATABASE $O IS 'made after provision'",
     "other-database-connect"},
    {"other_database_made_later_temp", "COMMENT ON DATABASE $O IS 'made after provision'",
     "other-database-temp"},
    {"other_database_create", "GRANT CREATE ON DATABASE $O TO $U", "other-database-create"},
    {"other_database_connect_through_a_role",
     "REVOKE CONNECT, TEMPORARY ON DATABASE $O FROM PUBLIC;"
     "GRANT CONNECT ON DATABASE $O TO rds_iam",
     "other-database-connect"},
    {"other_database_temp_directly",
     "REVOKE CONNECT, TEMPORARY ON DATABASE $O FROM PUBLIC; GRANT TEMPORARY ON DATABASE $O TO $U",
     "other-database-temp"},
    {"other_existing_database_reopened", "GRANT CONNECT, TEMPORARY ON DATABASE postgres TO PUBLIC",
     "other-database-connect"},
    {"createdb", "ALTER ROLE $U CREATEDB", "role-attribute"},
    {"bypassrls", "ALTER ROLE $U BYPASSRLS", "role-attribute"},
    {"read_all_data", "GRANT pg_read_all_data TO $U", "role-membership"},
    {"membership_through_another_role",
     "DROP ROLE IF EXISTS wg_mid_$U; CREATE ROLE wg_mid_$U; GRANT pg_read_all_data TO wg_mid_$U;"
     "GRANT wg_mid_$U TO $U",
     "role-membership"},
    {"select_through_public", "GRANT SELECT ON foo.test_table TO PUBLIC", "select-on-relation"},
    {"select_through_a_role", "GRANT SELECT (column1) ON foo.test_table TO rds_iam",
     "select-on-relation"},
    {"schema_create_through_a_role", "GRANT CREATE ON SCHEMA bar TO rds_iam", "schema-create"},
    {"default_privileges_select_for_public",
     "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC", "default-privileges"},
    {"schema_dropped", "DROP SCHEMA bar CASCADE", "schema-missing"},

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
    {"password_set", "ALTER ROLE $U PASSWORD 'oops'", "role-has-password"},
    // Standard mode: Aurora's rds_iam would refuse the proxy's password login.
    {"rds_iam_with_secret", "GRANT rds_iam TO $U", "rds-iam-with-secret", false, true},
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
  spec_.proxy.backend_auth = "SECRETS";
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
  // No SQL creates the role as provision does: the finding says what to run instead.
  EXPECT_TRUE(report.findings[0].fix.empty());
  EXPECT_THAT(report.findings[0].decide, ::testing::HasSubstr("writegate provision"));
  EXPECT_THAT(format_text(report), ::testing::HasSubstr("decide: run `writegate provision`"));
  const std::string json = format_json(report);
  EXPECT_THAT(json, ::testing::HasSubstr("\"fix\": null"));
  EXPECT_THAT(json, ::testing::HasSubstr("\"decide\": \"run `writegate provision`"));
}

TEST_F(DbAdminTest, OwnershipInAnotherDatabaseSaysWhereToFixIt) {
  // REASSIGN OWNED acts on the current database only: for another one the finding says where
  // to run it rather than giving SQL that would do nothing here.
  provision();
  const std::string other = fresh_database("owned");
  auto there = must_connect(shared_cluster().admin_dsn(other));
  must_exec(there, "CREATE TABLE public.mine (i int); ALTER TABLE public.mine OWNER TO " +
                       spec_.database.user);
  const auto report = run_audit();
  bool found = false;
  for (const auto& f : report.findings) {
    if (f.check != "owns-objects") continue;
    found = true;
    EXPECT_THAT(f.object, ::testing::HasSubstr("in database " + other));
    EXPECT_TRUE(f.fix.empty()) << f.fix;
    EXPECT_THAT(f.decide, ::testing::HasSubstr("connect to database " + other));
    EXPECT_THAT(f.decide, ::testing::HasSubstr("REASSIGN OWNED BY"));
  }
  EXPECT_TRUE(found) << format_text(report);
  must_exec(there, "DROP TABLE public.mine");
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

// --- secrets rotate-writer: the database and the secret move together or not at all.

class RotateTest : public DbAdminTest {
 protected:
  // Rotation is standard mode's: the proxy logs in with the password of the writer's secret.
  void SetUp() override {
    DbAdminTest::SetUp();
    spec_.proxy.backend_auth = "SECRETS";
  }
  bool logs_in(const std::string& password) {
    return pgclient::Connection::open(shared_cluster().dsn_for(spec_.database.user, password, db_))
        .ok();
  }
  std::string verifier() {
    return must_exec(*admin_, "SELECT rolpassword FROM pg_authid WHERE rolname = '" +
                                  spec_.database.user + "'")
        .get(0, "rolpassword");
  }
  std::string secret_;  // what the "secret" holds
  int restores_ = 0;
  RotationSteps steps() {
    return {.store =
                [this](const std::string& password) {
                  secret_ = password;
                  return Status{};
                },
            .restore =
                [this] {
                  ++restores_;
                  secret_ = "old-password";
                  return Status{};
                }};
  }
};

TEST_F(RotateTest, SetsTheVerifierAndTheSecretTogether) {
  provision();
  auto first = rotate_writer_password(*admin_, spec_, steps());
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_EQ(*first, secret_);
  EXPECT_EQ(first->size(), 32u);
  EXPECT_EQ(
      first->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
      std::string::npos);
  // The server got a verifier, made on this side: it never saw the plaintext.
  EXPECT_THAT(verifier(), ::testing::StartsWith("SCRAM-SHA-256$4096:"));
  EXPECT_TRUE(logs_in(*first));
  EXPECT_TRUE(try_login(shared_cluster().admin_dsn(db_), spec_.database.user, *first).ok());
  auto second = rotate_writer_password(*admin_, spec_, steps());
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*first, *second);
  EXPECT_FALSE(logs_in(*first));
  EXPECT_TRUE(logs_in(*second));
  // Re-provisioning (standard mode) keeps it: the proxy keeps logging in.
  provision();
  EXPECT_TRUE(logs_in(*second));
  EXPECT_EQ(restores_, 0);
}

TEST_F(RotateTest, ASecretThatCannotBeStoredChangesNothing) {
  provision();
  must_exec(*admin_, "ALTER ROLE " + spec_.database.user + " PASSWORD 'old-password'");
  const std::string before = verifier();
  auto rotated = rotate_writer_password(
      *admin_, spec_,
      {.store = [](const std::string&) { return Status(Error::io("disk full")); },
       .restore =
           [this] {
             ++restores_;
             return Status{};
           }});
  ASSERT_FALSE(rotated.ok());
  EXPECT_THAT(rotated.error().message(), ::testing::HasSubstr("disk full"));
  EXPECT_THAT(rotated.error().message(), ::testing::HasSubstr("nothing changed"));
  EXPECT_EQ(verifier(), before);
  EXPECT_TRUE(logs_in("old-password"));
  EXPECT_EQ(restores_, 0);
}

TEST_F(RotateTest, ADatabaseThatDropsTheCommitGetsTheOldSecretBack) {
  provision();
  must_exec(*admin_, "ALTER ROLE " + spec_.database.user + " PASSWORD 'old-password'");
  // The rotation's own admin session dies between storing the secret and COMMIT.
  auto session = must_connect(shared_cluster().admin_dsn(db_));
  const std::string pid = must_exec(session, "SELECT pg_backend_pid() AS p").get(0, "p");
  auto rotated = rotate_writer_password(
      session, spec_,
      {.store =
           [&](const std::string& password) {
             secret_ = password;
             must_exec(*admin_, "SELECT pg_terminate_backend(" + pid + ", 10000)");
             return Status{};
           },
       .restore =
           [this] {
             ++restores_;
             secret_ = "old-password";
             return Status{};
           }});
  ASSERT_FALSE(rotated.ok());
  EXPECT_THAT(rotated.error().message(), ::testing::HasSubstr("previous value is current again"));
  EXPECT_EQ(restores_, 1);
  EXPECT_EQ(secret_, "old-password");
  EXPECT_TRUE(logs_in("old-password"));
}

TEST_F(RotateTest, EndToEndIamAndAMissingWriterAreRefused) {
  auto missing = rotate_writer_password(*admin_, spec_, steps());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.error().message(), ::testing::HasSubstr("writegate provision"));
  spec_.proxy.backend_auth = "IAM_AUTH";
  provision();
  auto iam = rotate_writer_password(*admin_, spec_, steps());
  ASSERT_FALSE(iam.ok());
  EXPECT_EQ(iam.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(secret_.empty());
}

TEST_F(RotateTest, TheAuditLogsInWithTheSecret) {
  provision();
  auto rotated = rotate_writer_password(*admin_, spec_, steps());
  ASSERT_TRUE(rotated.ok());
  AuditOptions options{.check_login = true,
                       .conninfo = shared_cluster().admin_dsn(db_),
                       .secret_password = secret_,
                       .secret_problem = {},
                       .proxy_may_connect = {}};
  auto clean = audit(*admin_, spec_, options);
  ASSERT_TRUE(clean.ok());
  EXPECT_TRUE(clean->findings.empty()) << format_text(*clean);
  // The database and the secret drift apart (a password set by hand, or removed).
  must_exec(*admin_, "ALTER ROLE " + spec_.database.user + " PASSWORD NULL");
  auto drifted = audit(*admin_, spec_, options);
  ASSERT_TRUE(drifted.ok());
  ASSERT_THAT(checks(*drifted), ::testing::ElementsAre("secret-login-failed"));
  EXPECT_TRUE(drifted->findings[0].fix.empty());
  EXPECT_THAT(drifted->findings[0].decide, ::testing::HasSubstr("rotate-writer"));
  EXPECT_THAT(format_text(*drifted), ::testing::Not(::testing::HasSubstr(secret_)));
  // A secret that cannot be read is the same outage.
  options.secret_password.reset();
  options.secret_problem = "Secrets Manager can't find the specified secret.";
  auto unreadable = audit(*admin_, spec_, options);
  ASSERT_TRUE(unreadable.ok());
  EXPECT_THAT(checks(*unreadable), ::testing::ElementsAre("secret-login-failed"));
}

}  // namespace
}  // namespace writegate::dbadmin
