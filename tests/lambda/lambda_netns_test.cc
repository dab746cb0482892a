// The local Lambda inside a network namespace (root): FunctionConfig::netns puts the Runtime API
// on the namespace's loopback and starts the runtime through `ip netns exec`, so the function's
// sockets live in the namespace. The runtime here is a small bash script that answers each
// event with the network namespace it runs in.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/netns.h"
#include "common/process.h"
#include "lambda/bash_runtime.h"
#include "lambda/emulator.h"
#include "support/root_only.h"

namespace writegate::lambda {
namespace {

// Answers every event with {"netns":"net:[INODE]","hosts":"<its /etc/hosts>"}.
const std::string kRuntimeScript = bash_runtime(R"(
  hosts=$(tr '\n\t' '  ' </etc/hosts)
  body="{\"netns\":\"$(readlink /proc/self/ns/net)\",\"hosts\":\"$hosts\"}"
)");

std::string ip_program() {
  return ip_netns_exec_prefix("x")[0];
}

class NamespaceGuard {
 public:
  explicit NamespaceGuard(std::string name) : name_(std::move(name)) {}
  ~NamespaceGuard() {
    (void)run_process({ip_program(), "netns", "del", name_});
    std::error_code ignored;
    std::filesystem::remove_all("/etc/netns/" + name_, ignored);
  }
  NamespaceGuard(const NamespaceGuard&) = delete;
  NamespaceGuard& operator=(const NamespaceGuard&) = delete;

 private:
  std::string name_;
};

TEST(LambdaNetnsTest, TheFunctionRunsInsideTheNamespace) {
  WG_REQUIRE_ROOT();
  const std::string netns = "wgfn" + std::to_string(::getpid());
  auto added = run_process({ip_program(), "netns", "add", netns});
  ASSERT_TRUE(added.ok() && added->exit_code == 0) << (added.ok() ? added->output : "");
  NamespaceGuard guard(netns);
  // A fresh namespace has lo down: the Runtime API on 127.0.0.1 needs it up.
  auto lo = run_process({ip_program(), "-n", netns, "link", "set", "dev", "lo", "up"});
  ASSERT_TRUE(lo.ok() && lo->exit_code == 0);
  std::filesystem::create_directories("/etc/netns/" + netns);
  std::ofstream("/etc/netns/" + netns + "/hosts") << "127.0.0.1\tlocalhost\n172.31.0.20\tproxy\n";

  const std::string dir = std::filesystem::temp_directory_path() / ("wg-lambda-netns-" + netns);
  std::filesystem::create_directories(dir);
  const std::string script = dir + "/bootstrap";
  std::ofstream(script) << kRuntimeScript;
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);

  FunctionConfig config;
  config.bootstrap = script;
  config.netns = netns;
  config.max_concurrency = 1;
  config.timeout = std::chrono::seconds(10);
  config.log_file = dir + "/function.log";
  FunctionPool pool(config);
  const EnvironmentCredentials credentials = [] {
    return Result<sigv4::Credentials>(sigv4::Credentials{"AKIDEXAMPLE", "secret", "token"});
  };
  const std::string arn = "arn:aws:lambda:us-east-1:000000000000:function:aurora-writer-lambda";
  auto first = pool.invoke("req-1", "{}", credentials, arn);
  ASSERT_TRUE(first.ok()) << first.error().message();
  auto answer = nlohmann::json::parse(first->payload, nullptr, false);
  ASSERT_FALSE(answer.is_discarded()) << first->payload;
  EXPECT_EQ(first->function_error, "") << first->payload;

  struct stat ns {};
  ASSERT_EQ(::stat(netns_path(netns).c_str(), &ns), 0);
  EXPECT_EQ(answer["netns"], "net:[" + std::to_string(ns.st_ino) + "]") << first->payload;
  EXPECT_NE(answer["hosts"].get<std::string>().find("172.31.0.20 proxy"), std::string::npos)
      << first->payload;
  // The environment is reused (same process, same namespace) for the next event.
  auto second = pool.invoke("req-2", "{\"n\":2}", credentials, arn);
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_EQ(second->payload, first->payload);
  EXPECT_EQ(pool.environments_started(), 1u);
  pool.shutdown();
  std::filesystem::remove_all(dir);
}

TEST(LambdaNetnsTest, AMissingNamespaceIsAnInitError) {
  WG_REQUIRE_ROOT();
  FunctionConfig config;
  config.bootstrap = "/bin/true";
  config.netns = "wg-no-such-namespace";
  config.max_concurrency = 1;
  FunctionPool pool(config);
  const EnvironmentCredentials credentials = [] {
    return Result<sigv4::Credentials>(sigv4::Credentials{"AKIDEXAMPLE", "secret", "token"});
  };
  auto result =
      pool.invoke("req-1", "{}", credentials, "arn:aws:lambda:us-east-1:000000000000:function:f");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(result.error().subcode(), "Runtime.InitError");
  EXPECT_EQ(result.error().message(),
            "runtime API listen: network namespace wg-no-such-namespace: cannot open "
            "/run/netns/wg-no-such-namespace: No such file or directory (is the stack up? `ip "
            "netns list`)");
  pool.shutdown();
}

}  // namespace
}  // namespace writegate::lambda
