// The writegate CLI as a user runs it: init, spec show, provision, audit, exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "awslocal/secret_store.h"
#include "common/process.h"
#include "support/pg_fixture.h"

namespace writegate {
namespace {

using testing::fresh_database;
using testing::must_connect;
using testing::must_exec;
using testing::shared_cluster;

std::string writegate_bin() {
  const char* dir = std::getenv("WRITEGATE_BIN_DIR");
  return std::string(dir ? dir : "bin") + "/writegate";
}

ProcessOutput run(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {writegate_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto out = run_process(argv);
  EXPECT_TRUE(out.ok()) << out.error().message();
  return out ? *out : ProcessOutput{};
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("writegate-cli-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write_spec(const std::string& text) {
    const std::string path = (dir_ / "writegate.yaml").string();
    std::ofstream(path) << text;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(CliTest, InitWritesACommentedSpecThatShowReads) {
  const std::string path = (dir_ / "writegate.yaml").string();
  auto init = run({"init", "-o", path});
  EXPECT_EQ(init.exit_code, 0) << init.output;
  auto again = run({"init", "-o", path});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_THAT(again.output, ::testing::HasSubstr("exists already; use --force"));
  auto show = run({"--spec", path, "spec", "show"});
  EXPECT_EQ(show.exit_code, 0) << show.output;
  EXPECT_THAT(show.output, ::testing::HasSubstr("user: lambda_writer"));
  EXPECT_THAT(show.output, ::testing::Not(::testing::HasSubstr("#")));
}

TEST_F(CliTest, BadSpecExitsTwoNamingTheField) {
  const std::string path = write_spec("database:\n  write_mode: sloppy\n");
  auto show = run({"--spec", path, "spec", "show"});
  EXPECT_EQ(show.exit_code, 2);
  EXPECT_THAT(show.output, ::testing::HasSubstr(path + ":2:15: database.write_mode: 'sloppy'"));
}

TEST_F(CliTest, ProvisionDryRunThenProvisionThenAuditExitCodes) {
  const std::string db = fresh_database("cli");
  const std::string user = "cli_writer_" + std::to_string(::getpid());
  const std::string spec =
      write_spec("database:\n  name: " + db + "\n  user: " + user + "\n  write_mode: keyed\n");
  auto admin = must_connect(shared_cluster().admin_dsn(db));
  must_exec(admin, "CREATE SCHEMA foo; CREATE TABLE foo.t (id int PRIMARY KEY, v text)");
  const std::string dsn = shared_cluster().admin_dsn(db);

  // Before provisioning: the writer does not exist -> findings (exit 1).
  auto before = run({"--spec", spec, "audit", "--dsn", dsn});
  EXPECT_EQ(before.exit_code, 1) << before.output;
  EXPECT_THAT(before.output, ::testing::HasSubstr("role-missing"));

  auto dry = run({"--spec", spec, "provision", "--dsn", dsn, "--dry-run", "--harden-public"});
  EXPECT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_THAT(dry.output, ::testing::HasSubstr("GRANT SELECT (id) ON foo.t TO"));
  EXPECT_THAT(dry.output, ::testing::HasSubstr("BEGIN;"));
  EXPECT_EQ(must_exec(admin, "SELECT count(*) AS n FROM pg_roles WHERE rolname = '" + user + "'")
                .get(0, "n"),
            "0");

  auto applied = run({"--spec", spec, "provision", "--dsn", dsn, "--harden-public"});
  EXPECT_EQ(applied.exit_code, 0) << applied.output;
  EXPECT_THAT(applied.output, ::testing::HasSubstr("keyed mode"));

  auto clean = run({"--spec", spec, "audit", "--dsn", dsn});
  EXPECT_EQ(clean.exit_code, 0) << clean.output;
  EXPECT_THAT(clean.output, ::testing::HasSubstr("clean: no findings"));

  must_exec(admin, "GRANT SELECT ON foo.t TO " + user);
  auto json = run({"--spec", spec, "audit", "--dsn", dsn, "--json"});
  EXPECT_EQ(json.exit_code, 1) << json.output;
  EXPECT_THAT(json.output, ::testing::HasSubstr("\"check\": \"select-on-relation\""));
}

TEST_F(CliTest, AuditThatCannotRunExitsTwoWithoutLeakingThePassword) {
  auto out = run(
      {"audit", "--dsn", "host=127.0.0.1 port=1 user=x password=hunter2-secret connect_timeout=2"});
  EXPECT_EQ(out.exit_code, 2) << out.output;
  EXPECT_THAT(out.output, ::testing::HasSubstr("cannot connect to the database"));
  EXPECT_THAT(out.output, ::testing::Not(::testing::HasSubstr("hunter2-secret")));
}

TEST_F(CliTest, RotateWriterThenReprovisionThenAuditTheSecretLogin) {
  // Standard mode, as a new user sets it up: provision, rotate-writer, and the proxy's secret
  // logs in; re-provisioning keeps it working; a drift is reported by audit --check-secret.
  const std::string db = fresh_database("cli");
  const std::string user = "cli_rotated_" + std::to_string(::getpid());
  const std::string state = (dir_ / "state").string();
  const std::string spec = write_spec("database:\n  name: " + db + "\n  user: " + user +
                                      "\n  user_secret: cli-writer-secret\n"
                                      "proxy:\n  backend_auth: SECRETS\n");
  auto admin = must_connect(shared_cluster().admin_dsn(db));
  must_exec(admin, "CREATE SCHEMA foo; CREATE SCHEMA bar");
  const std::string dsn = shared_cluster().admin_dsn(db);
  auto provisioned = run({"--spec", spec, "provision", "--dsn", dsn, "--harden-public"});
  ASSERT_EQ(provisioned.exit_code, 0) << provisioned.output;

  auto seeded = run({"--spec", spec, "iam", "seed", "--state", state});
  ASSERT_EQ(seeded.exit_code, 0) << seeded.output;

  // No secret yet: the proxy could not log in, and the audit says so.
  auto no_secret = run({"--spec", spec, "audit", "--dsn", dsn, "--check-secret", "--state", state});
  EXPECT_EQ(no_secret.exit_code, 1) << no_secret.output;
  EXPECT_THAT(no_secret.output, ::testing::HasSubstr("secret-login-failed"));
  EXPECT_THAT(no_secret.output, ::testing::HasSubstr("can't find the specified secret"));

  auto rotated = run({"--spec", spec, "secrets", "rotate-writer", "--dsn", dsn, "--state", state});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.output;
  EXPECT_THAT(rotated.output, ::testing::HasSubstr("with the new password works"));
  auto store = awslocal::SecretStore::open(state);
  ASSERT_TRUE(store.ok()) << store.error().message();
  auto value = (*store)->get_value("cli-writer-secret");
  ASSERT_TRUE(value.ok()) << value.error().message();
  const auto doc = nlohmann::json::parse(value->secret_string->reveal());
  const std::string password = doc.at("password").get<std::string>();
  EXPECT_EQ(doc.at("username").get<std::string>(), user);
  EXPECT_EQ(password.size(), 32u);
  EXPECT_THAT(rotated.output, ::testing::Not(::testing::HasSubstr(password)));
  EXPECT_TRUE(pgclient::Connection::open(shared_cluster().dsn_for(user, password, db)).ok());

  auto again = run({"--spec", spec, "provision", "--dsn", dsn, "--harden-public"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  auto clean = run({"--spec", spec, "audit", "--dsn", dsn, "--check-secret", "--state", state});
  EXPECT_EQ(clean.exit_code, 0) << clean.output;
  EXPECT_THAT(clean.output, ::testing::HasSubstr("clean: no findings"));

  must_exec(admin, "ALTER ROLE " + user + " PASSWORD 'set-by-hand'");
  auto drifted = run({"--spec", spec, "audit", "--dsn", dsn, "--check-secret", "--state", state});
  EXPECT_EQ(drifted.exit_code, 1) << drifted.output;
  EXPECT_THAT(drifted.output, ::testing::HasSubstr("secret-login-failed"));
  EXPECT_THAT(drifted.output,
              ::testing::HasSubstr("decide: run `writegate secrets rotate-writer`"));
  EXPECT_THAT(drifted.output, ::testing::Not(::testing::HasSubstr(password)));
}

TEST_F(CliTest, AuditKnowsTheBackendAuthMode) {
  // The default, end-to-end IAM: rds_iam, no password, and the proxy role's connect to the
  // cluster simulated over the IAM store. Standard mode: rds_iam is a finding (Aurora would
  // refuse the proxy's password).
  const std::string db = fresh_database("cli");
  const std::string user = "cli_mode_" + std::to_string(::getpid());
  const std::string state = (dir_ / "state").string();
  const std::string iam_spec = write_spec("database:\n  name: " + db + "\n  user: " + user + "\n");
  auto admin = must_connect(shared_cluster().admin_dsn(db));
  must_exec(admin, "CREATE SCHEMA foo; CREATE SCHEMA bar");
  const std::string dsn = shared_cluster().admin_dsn(db);
  ASSERT_EQ(run({"--spec", iam_spec, "provision", "--dsn", dsn, "--harden-public"}).exit_code, 0);
  const std::string in_rds_iam =
      "SELECT pg_has_role('" + user + "', 'rds_iam', 'MEMBER')::text AS m";
  EXPECT_EQ(must_exec(admin, in_rds_iam).get(0, "m"), "true");

  // Without an IAM store the proxy role cannot be simulated: said, not hidden.
  auto no_store = run({"--spec", iam_spec, "--state", state, "audit", "--dsn", dsn});
  EXPECT_EQ(no_store.exit_code, 0) << no_store.output;
  EXPECT_THAT(no_store.output, ::testing::HasSubstr("proxy role check skipped"));

  ASSERT_EQ(run({"--spec", iam_spec, "iam", "seed", "--state", state}).exit_code, 0);
  auto clean = run({"--spec", iam_spec, "--state", state, "audit", "--dsn", dsn});
  EXPECT_EQ(clean.exit_code, 0) << clean.output;
  EXPECT_THAT(clean.output, ::testing::HasSubstr("clean: no findings"));
  EXPECT_THAT(clean.output, ::testing::Not(::testing::HasSubstr("proxy role check skipped")));

  // The proxy role loses its rds-db:connect: every proxy login would fail.
  auto deleted = run({"--state", state, "iam", "delete-role-policy", "--role-name",
                      "rds-proxy-role", "--policy-name", "rds-proxy-backend-connect-policy"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  auto denied = run({"--spec", iam_spec, "--state", state, "audit", "--dsn", dsn});
  EXPECT_EQ(denied.exit_code, 1) << denied.output;
  EXPECT_THAT(denied.output, ::testing::HasSubstr("proxy-connect-denied"));
  EXPECT_THAT(denied.output, ::testing::HasSubstr("implicit"));

  // A wildcard user: the proxy could log in as the master user.
  const std::string wide = (dir_ / "wide.json").string();
  std::ofstream(wide)
      << R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
      << R"("Action":"rds-db:connect","Resource":"arn:aws:rds-db:*:*:dbuser:*/*"}]})";
  ASSERT_EQ(run({"--state", state, "iam", "put-role-policy", "--role-name", "rds-proxy-role",
                 "--policy-name", "wide", "--policy-document", "file://" + wide})
                .exit_code,
            0);
  auto master = run({"--spec", iam_spec, "--state", state, "audit", "--dsn", dsn});
  EXPECT_EQ(master.exit_code, 1) << master.output;
  EXPECT_THAT(master.output, ::testing::HasSubstr("proxy-connect-master"));
  EXPECT_THAT(master.output, ::testing::Not(::testing::HasSubstr("proxy-connect-denied")));

  // Standard mode on the same database: provision takes the writer out of rds_iam (and says
  // why), the audit is clean; put back by hand, rds_iam is a finding whose fix clears it.
  const std::string secrets_spec = write_spec("database:\n  name: " + db + "\n  user: " + user +
                                              "\nproxy:\n  backend_auth: SECRETS\n");
  auto standard = run({"--spec", secrets_spec, "provision", "--dsn", dsn, "--harden-public"});
  ASSERT_EQ(standard.exit_code, 0) << standard.output;
  EXPECT_THAT(standard.output, ::testing::HasSubstr("leaves rds_iam"));
  EXPECT_EQ(must_exec(admin, in_rds_iam).get(0, "m"), "false");
  auto standard_clean = run({"--spec", secrets_spec, "audit", "--dsn", dsn});
  EXPECT_EQ(standard_clean.exit_code, 0) << standard_clean.output;
  must_exec(admin, "GRANT rds_iam TO " + user);
  auto with_rds_iam = run({"--spec", secrets_spec, "audit", "--dsn", dsn});
  EXPECT_EQ(with_rds_iam.exit_code, 1) << with_rds_iam.output;
  EXPECT_THAT(with_rds_iam.output, ::testing::HasSubstr("rds-iam-with-secret"));
  EXPECT_THAT(with_rds_iam.output, ::testing::HasSubstr("REVOKE rds_iam FROM \"" + user + "\";"));
}

TEST_F(CliTest, AuditNamesADatabaseMadeAfterProvision) {
  const std::string db = fresh_database("cli");
  const std::string user = "cli_later_" + std::to_string(::getpid());
  const std::string spec = write_spec("database:\n  name: " + db + "\n  user: " + user + "\n");
  auto admin = must_connect(shared_cluster().admin_dsn(db));
  must_exec(admin, "CREATE SCHEMA foo; CREATE SCHEMA bar");
  const std::string dsn = shared_cluster().admin_dsn(db);
  auto provisioned = run({"--spec", spec, "provision", "--dsn", dsn, "--harden-public"});
  ASSERT_EQ(provisioned.exit_code, 0) << provisioned.output;
  auto clean = run({"--spec", spec, "audit", "--dsn", dsn});
  EXPECT_EQ(clean.exit_code, 0) << clean.output;
  const std::string later = fresh_database("later");
  auto found = run({"--spec", spec, "audit", "--dsn", dsn});
  EXPECT_EQ(found.exit_code, 1) << found.output;
  EXPECT_THAT(found.output, ::testing::HasSubstr("other-database-connect  database " + later));
  EXPECT_THAT(found.output, ::testing::HasSubstr("other-database-temp  database " + later));
  EXPECT_THAT(found.output,
              ::testing::HasSubstr("REVOKE CONNECT ON DATABASE \"" + later + "\" FROM PUBLIC;"));
}

TEST_F(CliTest, DollarsInSpecIdentifiersProvisionAndAuditClean) {
  // The spec allows `$` in identifiers; provision once built a DO $wg$ block from them.
  const std::string db = fresh_database("cli");
  const std::string user = "cli$wg$" + std::to_string(::getpid());
  const std::string spec =
      write_spec("database:\n  name: " + db + "\n  user: " + user + "\n  schemas: [foo, s$wg$]\n");
  auto admin = must_connect(shared_cluster().admin_dsn(db));
  must_exec(admin, "CREATE SCHEMA foo; CREATE ROLE \"" + user +
                       "\" LOGIN;"
                       "GRANT pg_read_all_data TO \"" +
                       user + "\"");
  const std::string dsn = shared_cluster().admin_dsn(db);
  auto provisioned = run({"--spec", spec, "provision", "--dsn", dsn, "--harden-public"});
  ASSERT_EQ(provisioned.exit_code, 0) << provisioned.output;
  auto clean = run({"--spec", spec, "audit", "--dsn", dsn});
  EXPECT_EQ(clean.exit_code, 0) << clean.output;
  EXPECT_THAT(clean.output, ::testing::HasSubstr("clean: no findings"));
}

}  // namespace
}  // namespace writegate
