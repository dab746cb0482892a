// The zip for real (root only): `writegate package` unzipped into an otherwise empty root
// (ROOT/var/task, an empty ROOT/etc, ROOT/tmp and a mount point for /proc — nothing of the
// host's /usr or /lib), run by the local Lambda in a private mount namespace chrooted to that
// root (FunctionConfig::root), against its Runtime API and a real writegate-proxy in front of
// PostgreSQL: the write succeeds and the row is there. The running runtime is checked from the
// outside: its root is ROOT, it sees no /usr, and every file it maps — libpq, which it loads
// with dlopen, included — is the package's. The host's own bootstrap, unpatched, cannot start in
// the same root (the control: the root really holds no library).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/process.h"
#include "lambda/emulator.h"
#include "pgclient/pgclient.h"
#include "proxy/proxy_stack.h"
#include "support/files.h"
#include "support/root_only.h"

namespace writegate::deploy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using writegate::testing::ProxyStack;

using writegate::testing::bin_dir;
using writegate::testing::read_file;

// The process whose environment holds `marker` (KEY=VALUE), or -1.
pid_t process_with_env(const std::string& marker) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string environ = read_file(entry.path() / "environ");
    std::size_t start = 0;
    while (start < environ.size()) {
      const std::size_t end = environ.find('\0', start);
      if (environ.compare(start, (end == std::string::npos ? environ.size() : end) - start,
                          marker) == 0) {
        return static_cast<pid_t>(std::stol(name));
      }
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return -1;
}

class PackagedFunctionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WG_REQUIRE_ROOT();
    for (const char* tool : {"unzip", "unshare", "patchelf", "zip"}) {
      ASSERT_TRUE(find_program(tool, {"/usr/bin", "/usr/sbin"}).has_value())
          << tool << " is needed (scripts/install-packages)";
    }
    stack_ = ProxyStack::start();
    ASSERT_NE(stack_, nullptr);
    dir_ = fs::path(stack_->dir()) / "package";
    fs::create_directories(dir_);
  }

  // An otherwise empty root: ROOT/var/task (filled by the caller), ROOT/proc (a mount point),
  // ROOT/tmp (1777), an empty ROOT/etc.
  fs::path make_root(const std::string& name) {
    const fs::path root = dir_ / name;
    for (const char* sub : {"var/task", "proc", "tmp", "etc"})
      fs::create_directories(root / sub);
    fs::permissions(root / "tmp", fs::perms::all | fs::perms::sticky_bit);
    return root;
  }

  lambda::FunctionConfig config_for(const fs::path& root, const std::string& marker) {
    lambda::FunctionConfig config;
    config.bootstrap = "/var/task/bootstrap";
    config.root = root.string();
    config.role_name = stack_->spec().iam.lambda_role;
    config.max_concurrency = 1;
    config.log_file = (dir_ / "function.log").string();
    // No DB_CA_BUNDLE: the function reads the bundle shipped next to it.
    config.environment = {{"PROXY_ENDPOINT", "localhost"},
                          {"DB_HOSTADDR", "127.0.0.1"},
                          {"DB_PORT", std::to_string(stack_->port())},
                          {"DB_NAME", "mydb"},
                          {"DB_REGION", stack_->spec().region},
                          {"WG_TEST_MARKER", marker}};
    return config;
  }

  lambda::EnvironmentCredentials credentials() {
    return [this]() -> Result<sigv4::Credentials> { return stack_->role_credentials(); };
  }

  long long count(const std::string& sql) {
    auto admin = pgclient::Connection::open(stack_->pg().admin_dsn("mydb"));
    EXPECT_TRUE(admin.ok());
    if (!admin.ok()) return -1;
    auto rows = admin->exec(sql);
    EXPECT_TRUE(rows.ok()) << (rows.ok() ? "" : rows.error().message());
    if (!rows.ok() || rows->rows.empty() || !rows->rows[0][0]) return -1;
    return std::stoll(*rows->rows[0][0]);
  }

  ProcessOutput run(const std::vector<std::string>& argv) {
    auto out = run_process(argv);
    EXPECT_TRUE(out.ok()) << (out.ok() ? "" : out.error().message());
    return out.ok() ? *out : ProcessOutput{};
  }

  std::unique_ptr<ProxyStack> stack_;
  fs::path dir_;
};

TEST_F(PackagedFunctionTest, WritesThroughTheProxyFromAnEmptyRoot) {
  // The zip, with the local stack's CA as the bundle (the proxy's certificate chains to it).
  const fs::path zip = dir_ / "function.zip";
  auto packaged = run({bin_dir() + "/writegate", "package", "--out", zip.string(), "--ca-bundle",
                       stack_->proxy_ca_file()});
  ASSERT_EQ(packaged.exit_code, 0) << packaged.output;
  const fs::path root = make_root("root");
  auto unzipped = run({"unzip", "-q", zip.string(), "-d", (root / "var/task").string()});
  ASSERT_EQ(unzipped.exit_code, 0) << unzipped.output;
  std::set<std::string> top;
  for (const auto& entry : fs::directory_iterator(root))
    top.insert(entry.path().filename().string());
  ASSERT_EQ(top, (std::set<std::string>{"etc", "proc", "tmp", "var"}));
  ASSERT_TRUE(fs::is_empty(root / "etc"));

  const std::string marker = "packaged-" + std::to_string(::getpid());
  lambda::FunctionPool pool(config_for(root, marker));
  const std::string arn = "arn:aws:lambda:us-east-1:000000000000:function:aurora-writer-lambda";
  auto result = pool.invoke("packaged-1",
                            R"({"schema":"foo","table":"test_table","data":{"column1":")" + marker +
                                R"(","column2":"from-the-zip"}})",
                            credentials(), arn);
  ASSERT_TRUE(result.ok()) << result.error().message() << "\n" << read_file(dir_ / "function.log");
  EXPECT_EQ(result->function_error, "") << result->payload;
  EXPECT_THAT(result->payload, HasSubstr(R"("statusCode":200)"));
  EXPECT_GT(result->init_duration_ms, 0);
  EXPECT_EQ(count("SELECT count(*) FROM foo.test_table WHERE column1 = '" + marker +
                  "' AND column2 = 'from-the-zip'"),
            1);

  // The environment is still up (warm): look at its runtime from the outside.
  const pid_t pid = process_with_env("WG_TEST_MARKER=" + marker);
  ASSERT_GT(pid, 0) << "the runtime process is gone";
  const fs::path proc = "/proc/" + std::to_string(pid);
  EXPECT_EQ(fs::read_symlink(proc / "root"), fs::canonical(root));
  EXPECT_NE(fs::read_symlink(proc / "ns/mnt"), fs::read_symlink("/proc/self/ns/mnt"));
  // What the runtime sees as / : the package and nothing of the host's.
  EXPECT_TRUE(fs::exists(proc / "root/var/task/bootstrap"));
  EXPECT_TRUE(fs::exists(proc / "root/var/task/lib/libpq.so.5"));
  for (const char* host_dir : {"usr", "lib", "lib64", "bin"})
    EXPECT_FALSE(fs::exists(proc / "root" / host_dir)) << host_dir;
  EXPECT_TRUE(fs::exists(proc / "root/proc/self/status"));  // its own /proc, mounted inside
  // Every file it maps is the package's, libpq (dlopen) and the loader included (maps shows
  // the paths as this process sees them: under ROOT).
  const std::string task = fs::canonical(root).string() + "/var/task/";
  const std::string maps = read_file(proc / "maps");
  std::set<std::string> mapped;
  std::istringstream lines(maps);
  for (std::string line; std::getline(lines, line);) {
    const auto slash = line.find('/');
    if (slash != std::string::npos) mapped.insert(line.substr(slash));
  }
  ASSERT_FALSE(mapped.empty()) << maps;
  for (const auto& file : mapped)
    EXPECT_TRUE(file.starts_with(task)) << file << " is not the package's";
  for (const char* needed : {"bootstrap", "lib/ld-linux-x86-64.so.2", "lib/libc.so.6",
                             "lib/libpq.so.5", "lib/libssl.so.3", "lib/libcrypto.so.3"}) {
    EXPECT_TRUE(mapped.count(task + needed)) << needed << " is not mapped:\n" << maps;
  }

  // A second invocation on the warm environment: the connection is reused, a row again.
  auto again = pool.invoke("packaged-2",
                           R"({"schema":"foo","table":"test_table","data":{"column1":")" + marker +
                               R"(","column2":"warm"}})",
                           credentials(), arn);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_THAT(again->payload, HasSubstr(R"("statusCode":200)"));
  EXPECT_EQ(again->init_duration_ms, 0);
  EXPECT_EQ(count("SELECT count(*) FROM foo.test_table WHERE column1 = '" + marker + "'"), 2);
}

TEST_F(PackagedFunctionTest, TheHostsOwnBootstrapCannotStartInThatRoot) {
  // The same root with the host build and the bundle but no lib/: it needs the host's loader.
  const fs::path root = make_root("host-build");
  fs::copy_file(bin_dir() + "/bootstrap", root / "var/task/bootstrap");
  fs::copy_file(stack_->proxy_ca_file(), root / "var/task/rds-ca-bundle.pem");
  const std::string marker = "host-" + std::to_string(::getpid());
  auto config = config_for(root, marker);
  config.init_timeout = std::chrono::seconds(5);
  lambda::FunctionPool pool(config);
  auto result =
      pool.invoke("host-1", R"({"schema":"foo","table":"test_table","data":{"column1":"x"}})",
                  credentials(), "arn:aws:lambda:us-east-1:000000000000:function:f");
  ASSERT_FALSE(result.ok()) << result->payload;
  EXPECT_EQ(result.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(result.error().subcode(), "Runtime.InitError");
  EXPECT_EQ(result.error().message(), "the runtime exited during init");
  // unshare's own words: execve finds no loader for it.
  EXPECT_THAT(read_file(dir_ / "function.log"), HasSubstr("No such file or directory"));
}

}  // namespace
}  // namespace writegate::deploy
