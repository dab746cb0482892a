// `writegate token` prints exactly what `aws rds generate-db-auth-token` prints for the same
// credentials and the same (frozen) second: both run under `faketime -f` with TZ=UTC.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;

const char* kAws = "/usr/bin/aws";
const char* kFaketime = "/usr/bin/faketime";

struct Output {
  int status = -1;
  std::string out;
};

Output run(const std::string& command) {
  Output o;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return o;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0)
    o.out.append(buf.data(), n);
  int status = pclose(pipe);
  o.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

class TokenCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kAws)) FAIL() << kAws << " is not installed (Debian package awscli)";
    if (!fs::exists(kFaketime)) FAIL() << kFaketime << " is not installed (package faketime)";
    const char* bin = std::getenv("WRITEGATE_BIN_DIR");
    ASSERT_NE(bin, nullptr) << "WRITEGATE_BIN_DIR is set by tests/CMakeLists.txt";
    writegate_ = fs::path(bin) / "writegate";
    ASSERT_TRUE(fs::exists(writegate_)) << writegate_;
    home_ = fs::temp_directory_path() / ("wg-token-test-" + std::to_string(getpid()));
    fs::create_directories(home_ / ".aws");
  }
  void TearDown() override {
    if (!home_.empty()) fs::remove_all(home_);
  }

  // A clean environment: no stray AWS_* variables, HOME pointing at our own ~/.aws.
  std::string env(const std::string& extra) const {
    return "env -i PATH=/usr/bin:/bin TZ=UTC HOME=" + home_.string() + " " + extra + " ";
  }

  void expect_same(const std::string& env_vars, const std::string& args, const char* when) {
    const std::string frozen = std::string(kFaketime) + " -f '" + when + "' ";
    Output aws = run(env(env_vars) + frozen + kAws + " rds generate-db-auth-token " + args);
    Output ours = run(env(env_vars) + frozen + writegate_.string() + " token " + args);
    ASSERT_EQ(aws.status, 0) << "aws failed for: " << args;
    ASSERT_EQ(ours.status, 0) << "writegate token failed for: " << args;
    ASSERT_GT(aws.out.size(), 100u);
    EXPECT_EQ(ours.out, aws.out) << args;  // byte for byte, trailing newline included
    EXPECT_NE(aws.out.find("X-Amz-Date=" + amz(when)), std::string::npos) << "clock not frozen";
  }

  static std::string amz(std::string when) {  // "2026-01-02 03:04:05" -> 20260102T030405Z
    std::string out;
    for (char c : when) {
      if (c >= '0' && c <= '9') out.push_back(c);
    }
    return out.substr(0, 8) + "T" + out.substr(8) + "Z";
  }

  fs::path writegate_;
  fs::path home_;
};

const std::string kKeys =
    "AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

TEST_F(TokenCli, LongTermKeysFromEnvironment) {
  expect_same(kKeys,
              "--hostname prx-0123456789abcdef0.proxy-abc.us-east-1.rds.amazonaws.com --port 5432 "
              "--username lambda_writer --region us-east-1",
              "2026-01-02 03:04:05");
}

TEST_F(TokenCli, SessionTokenAndOddUser) {
  expect_same(
      "AWS_ACCESS_KEY_ID=ASIAEXAMPLE AWS_SECRET_ACCESS_KEY=secret/with+chars "
      "AWS_SESSION_TOKEN='IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/='",
      "--hostname Db.Example.COM --port 6432 --username 'user name@x' --region eu-west-1",
      "2025-12-31 23:59:59");
}

TEST_F(TokenCli, DefaultHttpsPort) {
  expect_same(kKeys, "--hostname db.example.com --port 443 --username u --region us-east-1",
              "2026-03-04 05:06:07");
}

TEST_F(TokenCli, ProfileFromSharedFiles) {
  std::ofstream(home_ / ".aws" / "credentials")
      << "[dev]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = profilesecret\n"
         "aws_session_token = profiletoken\n";
  std::ofstream(home_ / ".aws" / "config") << "[profile dev]\nregion = ap-southeast-2\n";
  // Region from the profile's config, credentials from the shared file.
  expect_same("", "--hostname db --port 5432 --username u --profile dev", "2026-01-02 03:04:05");
  // AWS_PROFILE names the profile too.
  expect_same("AWS_PROFILE=dev", "--hostname db --port 5432 --username u", "2026-01-02 03:04:05");
  // --profile wins over environment credentials.
  expect_same(kKeys, "--hostname db --port 5432 --username u --profile dev --region us-east-1",
              "2026-01-02 03:04:05");
}

}  // namespace
