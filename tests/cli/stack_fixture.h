// The fixture of the whole-stack CLI tests (cli_stack_test, cli_stack_netns_test): a state
// folder per test, real runs of build/bin/writegate, and a check that nothing is left running.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "common/process.h"

namespace writegate {
inline namespace stack_fixture {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

inline std::string writegate_bin() {
  const char* dir = std::getenv("WRITEGATE_BIN_DIR");
  return std::string(dir ? dir : "bin") + "/writegate";
}

inline constexpr const char* kDocumentEvent =
    R"({"schema":"foo","table":"test_table","data":{"column1":"value1","column2":"value2"}})";

// Processes whose command line names `text` (the stack's state folder is on the command line of
// writegate-proxy, the endpoint and postgres).
inline std::vector<std::string> processes_mentioning(const std::string& text) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (pid == std::to_string(::getpid())) continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (char& c : cmdline)
      if (c == '\0') c = ' ';
    if (cmdline.find(text) != std::string::npos) found.push_back(pid + ": " + cmdline);
  }
  return found;
}

// The JSON object in a command's output (the first '{' on), or a discarded value.
inline nlohmann::json json_in(const std::string& output) {
  const auto brace = output.find('{');
  if (brace == std::string::npos) return nlohmann::json();
  return nlohmann::json::parse(output.substr(brace), nullptr, false);
}

class StackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("wg-stack-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    state_ = (dir_ / "state").string();
  }
  void TearDown() override {
    // Whatever happened, nothing may be left running.
    (void)run({"down", "--purge"});
    EXPECT_THAT(processes_mentioning(state_), ::testing::IsEmpty());
    fs::remove_all(dir_);
  }

  ProcessOutput run(const std::vector<std::string>& args, std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {writegate_bin(), "--state", state_};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    // `up` remembers the last stack in $XDG_RUNTIME_DIR/writegate/current: one per test.
    env.push_back("XDG_RUNTIME_DIR=" + (dir_ / "run").string());
    options.extra_env = std::move(env);
    options.timeout = std::chrono::minutes(3);
    auto out = run_process(argv, options);
    EXPECT_TRUE(out.ok()) << out.error().message();
    return out ? *out : ProcessOutput{};
  }
  // Loopback stacks run in RDS Proxy's standard mode (proxy.backend_auth SECRETS): end-to-end
  // IAM, the default, needs root for the database's PAM service, and these runs must work
  // without it. The netns runs (root) use the default.
  std::string standard_mode_spec() {
    const std::string path = (dir_ / "standard-mode.yaml").string();
    std::ofstream(path) << "proxy:\n  backend_auth: SECRETS\n";
    return path;
  }
  // The environment of the identity `writegate credentials ARGS...` prints (its export lines),
  // for the aws CLI; no config or credentials file of this machine's is read.
  std::vector<std::string> credentials_env(const std::vector<std::string>& args) {
    auto creds = run(args);
    EXPECT_EQ(creds.exit_code, 0) << creds.output;
    std::vector<std::string> env = {"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null",
                                    "AWS_SHARED_CREDENTIALS_FILE=/dev/null"};
    static const std::regex kExport(R"(export (AWS_[A-Z_]+)=(\S+))");
    for (std::sregex_iterator it(creds.output.begin(), creds.output.end(), kExport), end; it != end;
         ++it) {
      std::string value = (*it)[2].str();
      if (value.size() >= 2 && value.front() == '\'') value = value.substr(1, value.size() - 2);
      env.push_back((*it)[1].str() + "=" + value);
    }
    return env;
  }
  // `writegate up --network loopback`, then `status --json` (null after a failure, which is
  // also the test's). `up_output` gets what up printed.
  nlohmann::json up_loopback(std::string* up_output = nullptr) {
    auto up = run({"--spec", standard_mode_spec(), "up", "--network", "loopback"});
    EXPECT_EQ(up.exit_code, 0) << up.output;
    if (up_output) *up_output = up.output;
    if (up.exit_code != 0) return nlohmann::json();
    auto json = json_in(run({"status", "--json"}).output);
    EXPECT_TRUE(json.is_object());
    return json.is_object() ? json : nlohmann::json();
  }
  nlohmann::json status() {
    auto out = run({"status", "--json"});
    return nlohmann::json::parse(out.output, nullptr, false);
  }

  fs::path dir_;
  std::string state_;
};

}  // namespace stack_fixture
}  // namespace writegate
