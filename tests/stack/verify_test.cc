// `writegate verify` against a real stack (`writegate up --network loopback`): every check the
// command promises is there and passes; a privilege granted on purpose makes the checks that
// guard it fail; no stack at all is exit 2.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "awslocal/secret_store.h"
#include "common/process.h"
#include "pgclient/pgclient.h"
#include "spec/spec.h"
#include "stack/state.h"

namespace writegate {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

std::string writegate_bin() {
  const char* dir = std::getenv("WRITEGATE_BIN_DIR");
  return std::string(dir ? dir : "bin") + "/writegate";
}

ProcessOutput run(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {writegate_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions options;
  options.timeout = std::chrono::minutes(3);
  auto out = run_process(argv, options);
  EXPECT_TRUE(out.ok()) << out.error().message();
  return out ? *out : ProcessOutput{};
}

// section -> name -> outcome, from `verify --json`.
std::map<std::string, std::map<std::string, std::string>> outcomes(const std::string& output) {
  std::map<std::string, std::map<std::string, std::string>> out;
  const auto start = output.find('{');
  if (start == std::string::npos) {
    ADD_FAILURE() << "no JSON in: " << output;
    return out;
  }
  const json j = json::parse(output.substr(start), nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "not JSON: " << output;
    return out;
  }
  for (const auto& c : j.at("checks")) {
    out[c.at("section").get<std::string>()][c.at("name").get<std::string>()] =
        c.at("outcome").get<std::string>();
  }
  return out;
}

// Every check `verify` makes on a standard-mode loopback stack, and the outcome it must have.
const std::vector<std::tuple<std::string, std::string, std::string>>& expected_loopback() {
  static const std::vector<std::tuple<std::string, std::string, std::string>> kExpected = [] {
    std::vector<std::tuple<std::string, std::string, std::string>> e = {
        {"Test 1", "Lambda Invoke writes a row", "PASS"},
        {"Test 2", "SELECT is denied", "PASS"},
        {"Test 3", "INSERT works", "PASS"},
        {"Test 4", "public schema is denied", "PASS"},
        {"Test 5", "no direct path to the database", "PASS"},
        {"iam", "lint of the roles' policies: no findings", "PASS"},
        {"iam", "lambda may connect as lambda_writer", "PASS"},
        {"iam", "lambda may not connect as postgres", "PASS"},
        {"iam", "lambda may not connect to another proxy", "PASS"},
        {"iam", "lambda may not read the writer secret", "PASS"},
        {"iam", "lambda may not read the master secret", "PASS"},
        {"iam", "proxy may read its secret", "PASS"},
        {"iam", "proxy may not read the master secret", "PASS"},
        {"iam", "proxy may not rds-db:connect", "PASS"},
        {"database", "audit of lambda_writer: no findings", "PASS"},
        {"proxy", "a connection without TLS is refused", "PASS"},
        {"proxy", "a plain password is refused", "PASS"},
        {"proxy", "an expired token is refused", "PASS"},
        {"proxy", "a token for postgres is refused for lambda_writer", "PASS"},
        {"proxy", "a token for lambda_writer is refused for postgres", "PASS"},
        {"proxy", "current_user is the writer", "PASS"},
        {"logs", "no secret or token in any log", "PASS"},
    };
    for (const char* port : {"5432", "22"}) {
      for (const char* from : {"lambda", "proxy", "aurora"}) {
        for (const char* to : {"lambda", "proxy", "aurora"}) {
          if (std::string(from) == to) continue;
          e.emplace_back("network", std::string(from) + " -> " + to + " tcp/" + port, "SKIP");
        }
      }
    }
    return e;
  }();
  return kExpected;
}

class StackVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = (std::filesystem::temp_directory_path() /
              ("writegate-verify-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                 .string();
    std::filesystem::remove_all(state_);
    // `up` remembers the last stack in $XDG_RUNTIME_DIR/writegate/current: this test's own, so
    // no other test or user finds this stack by itself.
    ::setenv("XDG_RUNTIME_DIR", (state_ + "-run").c_str(), 1);
    // Loopback runs without root: RDS Proxy's standard mode (end-to-end IAM, the default, needs
    // root for the database's PAM service; cli_stack_netns_test verifies it).
    spec_file_ = state_ + ".yaml";
    std::ofstream(spec_file_) << "proxy:\n  backend_auth: SECRETS\n";
    auto up = run({"--state", state_, "--spec", spec_file_, "up", "--network", "loopback"});
    ASSERT_EQ(up.exit_code, 0) << up.output;
  }
  void TearDown() override {
    auto down = run({"--state", state_, "down", "--purge"});
    EXPECT_EQ(down.exit_code, 0) << down.output;
    EXPECT_FALSE(std::filesystem::exists(state_));
    std::filesystem::remove(spec_file_);
    std::filesystem::remove_all(state_ + "-run");
  }

  // The master user's connection to the stack's database (as `writegate verify` makes it).
  pgclient::Connection master() {
    auto state = stack::StackState::load(state_);
    EXPECT_TRUE(state.ok());
    auto spec = spec::Spec{};
    auto secrets = awslocal::SecretStore::open(state_);
    EXPECT_TRUE(secrets.ok()) << secrets.error().message();
    auto value = (*secrets)->get_value(spec.database.master_secret);
    EXPECT_TRUE(value.ok()) << value.error().message();
    const std::string password =
        json::parse(std::string(value->secret_string->reveal())).at("password").get<std::string>();
    const auto* aurora = state->find("aurora");
    EXPECT_NE(aurora, nullptr);
    auto conn = pgclient::Connection::open(
        "host=" + state->cluster_endpoint + " hostaddr=127.0.0.1 port=" +
        std::to_string(aurora->port) + " dbname=" + spec.database.name +
        " user=" + spec.database.master_user + " password=" + pgclient::quote_literal(password) +
        " sslmode=verify-full sslrootcert=" + state->ca_file + " connect_timeout=5");
    EXPECT_TRUE(conn.ok()) << conn.error().message();
    return std::move(*conn);
  }

  std::string state_;
  std::string spec_file_;
};

TEST_F(StackVerifyTest, EveryCheckPassesThenAGrantedSelectFailsTest2AndTheAudit) {
  auto clean = run({"--state", state_, "verify", "--json"});
  EXPECT_EQ(clean.exit_code, 0) << clean.output;
  auto got = outcomes(clean.output);
  std::size_t count = 0;
  for (const auto& [section, name, outcome] : expected_loopback()) {
    ++count;
    ASSERT_TRUE(got[section].contains(name)) << section << " / " << name << "\n" << clean.output;
    EXPECT_EQ(got[section][name], outcome) << section << " / " << name << "\n" << clean.output;
  }
  std::size_t reported = 0;
  for (const auto& [section, names] : got)
    reported += names.size();
  EXPECT_EQ(reported, count) << "checks this test does not know of:\n" << clean.output;

  // The text form says the same.
  auto text = run({"--state", state_, "verify"});
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr("(loopback network)"));
  EXPECT_THAT(text.output, HasSubstr("PASS  Test 1  Lambda Invoke writes a row"));
  EXPECT_THAT(text.output, HasSubstr("22 passed, 0 failed, 12 skipped"));

  // Break it: the writer may read.
  {
    auto admin = master();
    ASSERT_TRUE(admin.exec("GRANT SELECT ON foo.test_table TO lambda_writer").ok());
  }
  auto broken = run({"--state", state_, "verify", "--json"});
  EXPECT_EQ(broken.exit_code, 1) << broken.output;
  auto after = outcomes(broken.output);
  EXPECT_EQ(after["Test 2"]["SELECT is denied"], "FAIL") << broken.output;
  EXPECT_EQ(after["database"]["audit of lambda_writer: no findings"], "FAIL") << broken.output;
  EXPECT_EQ(after["Test 3"]["INSERT works"], "PASS") << broken.output;
  EXPECT_EQ(after["iam"]["proxy may read its secret"], "PASS") << broken.output;
}

TEST(StackVerifyNoStackTest, NoStackIsExitTwo) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("writegate-verify-none-" + std::to_string(::getpid())))
                              .string();
  std::filesystem::remove_all(dir);
  auto out = run({"--state", dir, "verify"});
  EXPECT_EQ(out.exit_code, 2) << out.output;
  EXPECT_THAT(out.output, HasSubstr("writegate:"));
}

}  // namespace
}  // namespace writegate
