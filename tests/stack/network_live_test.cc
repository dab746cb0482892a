// The local VPC for real (root): three namespaces on a bridge, nftables from the security
// groups, and every path probed with a TCP connect.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "common/netns.h"
#include "common/process.h"
#include "stack/network.h"
#include "support/root_only.h"

namespace writegate::stack {
namespace {

constexpr Component kAll[] = {Component::kLambda, Component::kProxy, Component::kAurora};
constexpr int kPorts[] = {5432, 8080};
constexpr auto kProbeTimeout = std::chrono::milliseconds(1500);

// "t" + the pid in base 36 (4 digits) + a letter per test: unique per run, 6 characters.
std::string stack_id(char test) {
  static const char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string id = "t";
  int pid = static_cast<int>(::getpid()) % (36 * 36 * 36 * 36);
  for (int i = 0; i < 4; ++i) {
    id += kDigits[pid % 36];
    pid /= 36;
  }
  return id + test;
}

// Removes the network however the test ends.
class NetworkGuard {
 public:
  explicit NetworkGuard(const NetworkPlan& plan) : plan_(plan) {}
  ~NetworkGuard() { (void)remove_network(plan_); }
  NetworkGuard(const NetworkGuard&) = delete;
  NetworkGuard& operator=(const NetworkGuard&) = delete;

 private:
  NetworkPlan plan_;
};

std::string run_or_fail(const std::vector<std::string>& argv) {
  auto out = run_process(argv);
  if (!out) return "could not run: " + out.error().message();
  return out->output;
}

TEST(NetworkLiveTest, SecurityGroupsHoldOnEveryPath) {
  WG_REQUIRE_ROOT();
  const spec::Spec spec;
  const NetworkPlan plan =
      plan_network(spec, stack_id('a'),
                   {{"proxy.wg.internal", "172.31.0.20"}, {"db.wg.internal", "172.31.0.30"}});
  NetworkGuard guard(plan);
  Status created = create_network(plan, spec);
  ASSERT_TRUE(created.ok()) << created.error().message();

  // A listener on every port in every namespace, so an allowed path connects and a denied one
  // can only time out (the SYN is dropped; nothing rejects).
  std::vector<int> listeners;
  for (const auto& member : plan.members) {
    for (const int port : kPorts) {
      auto fd = open_tcp_listener_in_netns(member.netns, "0.0.0.0", port, 16);
      ASSERT_TRUE(fd.ok()) << fd.error().message();
      listeners.push_back(*fd);
    }
  }

  struct Probe {
    Component from;
    Component to;
    int port;
    std::future<Result<Reach>> reach;
  };
  std::vector<Probe> probes;
  for (const Component from : kAll) {
    for (const Component to : kAll) {
      for (const int port : kPorts) {
        probes.push_back({from, to, port, std::async(std::launch::async, [&plan, from, to, port] {
                            return probe_tcp(plan.member(from).netns, plan.member(to).address, port,
                                             kProbeTimeout);
                          })});
      }
    }
  }
  // Nor can a member reach beyond the VPC: no route leaves the subnet.
  std::vector<std::future<Result<Reach>>> outwards;
  for (const Component from : kAll) {
    outwards.push_back(std::async(std::launch::async, [&plan, from] {
      return probe_tcp(plan.member(from).netns, "192.0.2.1", 443, kProbeTimeout);
    }));
  }

  for (auto& probe : probes) {
    const Result<Reach> reach = probe.reach.get();
    const std::string path = std::string(component_name(probe.from)) + " -> " +
                             std::string(component_name(probe.to)) + " tcp/" +
                             std::to_string(probe.port);
    ASSERT_TRUE(reach.ok()) << path << ": " << reach.error().message();
    const Reach expected = security_groups_allow(spec, plan, probe.from, probe.to, probe.port)
                               ? Reach::kConnected
                               : Reach::kTimedOut;
    EXPECT_EQ(reach_name(*reach), reach_name(expected)) << path;
  }
  for (std::size_t i = 0; i < outwards.size(); ++i) {
    const Result<Reach> reach = outwards[i].get();
    ASSERT_TRUE(reach.ok()) << reach.error().message();
    EXPECT_EQ(reach_name(*reach), reach_name(Reach::kError)) << plan.members[i].netns;
  }
  for (const int fd : listeners)
    ::close(fd);

  // The names of the stack resolve inside each namespace (ip netns exec shows its hosts file).
  for (const auto& member : plan.members) {
    std::vector<std::string> argv = ip_netns_exec_prefix(member.netns);
    argv.insert(argv.end(), {"getent", "hosts", "db.wg.internal"});
    EXPECT_THAT(run_or_fail(argv), ::testing::HasSubstr("172.31.0.30")) << member.netns;
  }
  // IPv6 is off inside, the rules are readable, and the bridge has no address.
  std::string ipv6_flag;
  ASSERT_TRUE(run_in_netns(plan.member(Component::kProxy).netns, [&] {
                std::ifstream in("/proc/sys/net/ipv6/conf/all/disable_ipv6");
                std::getline(in, ipv6_flag);
              }).ok());
  EXPECT_EQ(ipv6_flag, "1");
  std::vector<std::string> list = ip_netns_exec_prefix(plan.member(Component::kAurora).netns);
  list.insert(list.end(), {"nft", "list", "table", "inet", "writegate"});
  EXPECT_THAT(run_or_fail(list),
              ::testing::HasSubstr("comment \"aurora-sg ingress tcp/5432 from rds-proxy-sg\""));
  // The host is not in the VPC: the bridge has no address, so the host has no route over it
  // to any member (what a probe from the host meets depends on the host's own default route).
  const std::string ip = ip_netns_exec_prefix("x")[0];
  EXPECT_EQ(run_or_fail({ip, "-o", "addr", "show", "dev", plan.bridge}), "");
  for (const auto& member : plan.members) {
    EXPECT_THAT(run_or_fail({ip, "route", "get", member.address}),
                ::testing::Not(::testing::HasSubstr("dev " + plan.bridge)));
  }

  Status removed = remove_network(plan);
  ASSERT_TRUE(removed.ok()) << removed.error().message();
  EXPECT_THAT(network_leftovers(plan), ::testing::IsEmpty());
}

TEST(NetworkLiveTest, FailedCreateLeavesNothingBehind) {
  WG_REQUIRE_ROOT();
  const spec::Spec spec;
  NetworkPlan plan = plan_network(spec, stack_id('b'), {});
  // The last step of the last member fails: its namespace end cannot be called "lo".
  plan.members.back().ns_veth = "lo";
  NetworkGuard guard(plan);
  Status created = create_network(plan, spec);
  ASSERT_FALSE(created.ok());
  EXPECT_THAT(created.error().message(),
              ::testing::StartsWith("create veth " + plan.members.back().host_veth + " for " +
                                    plan.members.back().netns + ": `"));
  EXPECT_THAT(network_leftovers(plan), ::testing::IsEmpty());
}

TEST(NetworkLiveTest, RefusesANamespaceThatExistsAndLeavesItAlone) {
  WG_REQUIRE_ROOT();
  const spec::Spec spec;
  const NetworkPlan plan = plan_network(spec, stack_id('c'), {});
  const std::string taken = plan.member(Component::kProxy).netns;
  const std::string ip = ip_netns_exec_prefix("x")[0];
  auto added = run_process({ip, "netns", "add", taken});
  ASSERT_TRUE(added.ok() && added->exit_code == 0) << (added ? added->output : "");
  Status created = create_network(plan, spec);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(created.error().message(),
            "create namespace " + taken +
                ": it exists already (a stack with this id is up or was not taken down: "
                "writegate down)");
  EXPECT_THAT(network_leftovers(plan), ::testing::ElementsAre("namespace " + taken));
  ASSERT_TRUE(remove_network(plan).ok());
  EXPECT_THAT(network_leftovers(plan), ::testing::IsEmpty());
}

TEST(NetnsTest, MissingNamespaceIsNotFound) {
  WG_REQUIRE_ROOT();
  auto fd = open_tcp_listener_in_netns("wg-no-such-ns", "127.0.0.1", 0, 4);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(fd.error().message(),
            "network namespace wg-no-such-ns: cannot open /run/netns/wg-no-such-ns: No such file "
            "or directory (is the stack up? `ip netns list`)");
}

}  // namespace
}  // namespace writegate::stack
