// The CLI's global options as a user types them: --spec, --state and -v before or after the
// subcommand (and sub-subcommand), WRITEGATE_STATE, the region lines of `writegate credentials`
// and `writegate secrets put --secret-file` (a file or stdin). Real runs of build/bin/writegate.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "awslocal/secret_store.h"
#include "common/process.h"

namespace writegate {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string writegate_bin() {
  const char* dir = std::getenv("WRITEGATE_BIN_DIR");
  return std::string(dir ? dir : "bin") + "/writegate";
}

class CliGlobalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("writegate-cli-globals-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    // A spec whose region differs from the default, so reading it is visible.
    spec_ = (dir_ / "writegate.yaml").string();
    std::ofstream(spec_) << "region: eu-west-3\n";
    bad_spec_ = (dir_ / "bad.yaml").string();
    std::ofstream(bad_spec_) << "database:\n  write_mode: sloppy\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ProcessOutput run(const std::vector<std::string>& args, const ProcessOptions& options = {}) {
    std::vector<std::string> argv = {writegate_bin()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto out = run_process(argv, options);
    EXPECT_TRUE(out.ok()) << out.error().message();
    return out ? *out : ProcessOutput{};
  }
  std::string state(const std::string& name) const { return (dir_ / name).string(); }
  static bool has_store(const std::string& state_dir) {
    return std::filesystem::exists(state_dir + "/iam/iam.json");
  }

  std::filesystem::path dir_;
  std::string spec_;
  std::string bad_spec_;
};

TEST_F(CliGlobalsTest, SpecBeforeOrAfterTheSubcommand) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"--spec", spec_, "spec", "show"},
                                             {"spec", "--spec", spec_, "show"},
                                             {"spec", "show", "--spec", spec_},
                                             {"spec", "show", "--spec=" + spec_}}) {
    auto out = run(args);
    EXPECT_EQ(out.exit_code, 0) << out.output;
    EXPECT_THAT(out.output, HasSubstr("region: eu-west-3")) << args[0] << " " << args[1];
  }
  // The case of the issue: provision reads the spec given after it (before connecting).
  auto after = run({"provision", "--spec", bad_spec_, "--dsn", "host=/nonexistent", "--dry-run"});
  EXPECT_EQ(after.exit_code, 2);
  EXPECT_THAT(after.output, HasSubstr(bad_spec_ + ":2:15: database.write_mode: 'sloppy'"));
  auto before = run({"--spec", bad_spec_, "audit", "--dsn", "host=/nonexistent"});
  EXPECT_EQ(before.exit_code, 2);
  EXPECT_THAT(before.output, HasSubstr(bad_spec_ + ":2:15: database.write_mode: 'sloppy'"));
  // Given twice, the last one counts (as the aws CLI).
  auto twice = run({"--spec", bad_spec_, "spec", "show", "--spec", spec_});
  EXPECT_EQ(twice.exit_code, 0) << twice.output;
  EXPECT_THAT(twice.output, HasSubstr("region: eu-west-3"));
}

TEST_F(CliGlobalsTest, StateBeforeOrAfterTheSubcommand) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"s1", {"--state", state("s1"), "iam", "seed"}},
      {"s2", {"iam", "--state", state("s2"), "seed"}},
      {"s3", {"iam", "seed", "--state", state("s3")}},
      {"s4", {"iam", "seed", "--state=" + state("s4"), "--spec", spec_}},
  };
  for (const auto& [name, args] : cases) {
    auto out = run(args);
    EXPECT_EQ(out.exit_code, 0) << name << ": " << out.output;
    EXPECT_THAT(out.output, HasSubstr("seeded " + state(name) + "/iam/iam.json")) << name;
    EXPECT_TRUE(has_store(state(name))) << name;
  }
  auto list = run({"iam", "list", "--state", state("s4")});
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("region eu-west-3"));
  auto secrets = run({"secrets", "list", "--state", state("s1")});
  EXPECT_EQ(secrets.exit_code, 0) << secrets.output;
}

TEST_F(CliGlobalsTest, StateFromTheEnvironmentUnlessTheFlagIsGiven) {
  ProcessOptions env;
  env.extra_env = {"WRITEGATE_STATE=" + state("from-env")};
  auto seeded = run({"iam", "seed"}, env);
  EXPECT_EQ(seeded.exit_code, 0) << seeded.output;
  EXPECT_TRUE(has_store(state("from-env")));

  auto flag_wins = run({"iam", "seed", "--state", state("from-flag")}, env);
  EXPECT_EQ(flag_wins.exit_code, 0) << flag_wins.output;
  EXPECT_TRUE(has_store(state("from-flag")));

  // Without either: the default folder, named in the error when there is no store there.
  const std::string missing = state("empty");
  ProcessOptions missing_env;
  missing_env.extra_env = {"WRITEGATE_STATE=" + missing};
  auto none = run({"iam", "list"}, missing_env);
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.output, HasSubstr("no IAM store in " + missing));
  auto defaulted = run({"iam", "list", "--state", ".writegate/state-that-is-not-here"});
  EXPECT_THAT(defaulted.output, HasSubstr("no IAM store in .writegate/state-that-is-not-here"));
  auto help = run({"--help"});
  EXPECT_THAT(help.output, HasSubstr(".writegate/state"));
  EXPECT_THAT(help.output, HasSubstr("WRITEGATE_STATE"));
}

TEST_F(CliGlobalsTest, VerboseBeforeOrAfterTheSubcommand) {
  ProcessOptions env;
  env.extra_env = {"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
                   "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                   "AWS_SESSION_TOKEN=",
                   "AWS_PROFILE=",
                   "AWS_CONFIG_FILE=/nonexistent",
                   "AWS_SHARED_CREDENTIALS_FILE=/nonexistent"};
  const std::vector<std::string> token = {"token",         "--hostname", "db.example",
                                          "--port",        "5432",       "--username",
                                          "lambda_writer", "--region",   "us-east-1"};
  auto quiet = run(token, env);
  EXPECT_EQ(quiet.exit_code, 0) << quiet.output;
  EXPECT_THAT(quiet.output, Not(HasSubstr("credentials from")));
  std::vector<std::string> before = {"-v"};
  before.insert(before.end(), token.begin(), token.end());
  std::vector<std::string> after = token;
  after.push_back("--verbose");
  for (const auto& args : {before, after}) {
    auto out = run(args, env);
    EXPECT_EQ(out.exit_code, 0) << out.output;
    EXPECT_THAT(out.output,
                HasSubstr("writegate: credentials from environment, access key AKIA..."));
    EXPECT_THAT(out.output, Not(HasSubstr("wJalrXUtnFEMI")));
  }
}

TEST_F(CliGlobalsTest, CredentialsExportTheSpecsRegion) {
  const std::string s = state("creds");
  ASSERT_EQ(run({"--spec", spec_, "--state", s, "iam", "seed"}).exit_code, 0);
  auto out =
      run({"credentials", "--role", "lambda-aurora-writer-role", "--state", s, "--spec", spec_});
  EXPECT_EQ(out.exit_code, 0) << out.output;
  EXPECT_THAT(out.output, HasSubstr("\nexport AWS_ACCESS_KEY_ID=ASIA"));
  EXPECT_THAT(out.output, HasSubstr("\nexport AWS_SESSION_TOKEN="));
  EXPECT_THAT(out.output, HasSubstr("\nexport AWS_REGION=eu-west-3\n"));
  EXPECT_THAT(out.output, HasSubstr("\nexport AWS_DEFAULT_REGION=eu-west-3\n"));
}

TEST_F(CliGlobalsTest, SecretsPutFromAFileOrStdin) {
  const std::string s = state("secrets");
  ASSERT_EQ(run({"iam", "seed", "--state", s}).exit_code, 0);
  const std::string file = (dir_ / "secret.json").string();
  const std::string from_file = R"({"username":"lambda_writer","password":"from-file"})";
  std::ofstream(file) << from_file;
  auto put = run(
      {"secrets", "put", "--name", "lambda-writer-secret", "--secret-file", file, "--state", s});
  EXPECT_EQ(put.exit_code, 0) << put.output;
  EXPECT_THAT(put.output, HasSubstr("stored arn:aws:secretsmanager:us-east-1:"));
  EXPECT_THAT(put.output, Not(HasSubstr("from-file")));

  auto store = awslocal::SecretStore::open(s);
  ASSERT_TRUE(store.ok()) << store.error().message();
  auto value = (*store)->get_value("lambda-writer-secret");
  ASSERT_TRUE(value.ok()) << value.error().message();
  EXPECT_EQ(value->secret_string, from_file);

  const std::string from_stdin = R"({"username":"lambda_writer","password":"from-stdin"})";
  ProcessOptions piped_input;
  piped_input.stdin_data = from_stdin;
  auto piped =
      run({"--state", s, "secrets", "put", "--name", "lambda-writer-secret", "--secret-file", "-"},
          piped_input);
  EXPECT_EQ(piped.exit_code, 0) << piped.output;
  value = (*store)->get_value("lambda-writer-secret");
  ASSERT_TRUE(value.ok()) << value.error().message();
  EXPECT_EQ(value->secret_string, from_stdin);

  auto empty = run({"secrets", "put", "--name", "x", "--secret-file", "-", "--state", s});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_THAT(empty.output, HasSubstr("writegate: the secret value is empty"));
  auto neither = run({"secrets", "put", "--name", "x", "--state", s});
  EXPECT_EQ(neither.exit_code, 2);
  EXPECT_THAT(neither.output,
              HasSubstr("give --secret-file FILE (or - for stdin) or --secret-string"));
}

}  // namespace
}  // namespace writegate
