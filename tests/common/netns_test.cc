// The namespace helpers in the caller's own namespace (no root needed); the live test of
// tests/stack uses them inside real namespaces.
#include "common/netns.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace writegate {
namespace {

int bound_port(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

TEST(NetnsTest, ListenerInTheOwnNamespaceAcceptsAndProbeSaysConnected) {
  auto fd = open_tcp_listener_in_netns("", "127.0.0.1", 0, 4);
  ASSERT_TRUE(fd.ok()) << fd.error().message();
  const int port = bound_port(*fd);
  auto reach = probe_tcp("", "127.0.0.1", port, std::chrono::milliseconds(1000));
  ASSERT_TRUE(reach.ok()) << reach.error().message();
  EXPECT_EQ(reach_name(*reach), "connected");
  ::close(*fd);
  // Nothing listens any more: the kernel answers with a RST.
  reach = probe_tcp("", "127.0.0.1", port, std::chrono::milliseconds(1000));
  ASSERT_TRUE(reach.ok()) << reach.error().message();
  EXPECT_EQ(reach_name(*reach), "refused");
}

TEST(NetnsTest, BadInputsAreErrorsThatSayWhy) {
  auto host = open_tcp_listener_in_netns("", "localhost", 0, 4);
  ASSERT_FALSE(host.ok());
  EXPECT_EQ(host.error().message(), "'localhost' is not an IPv4 address (dotted, like 10.0.0.1)");
  auto name = probe_tcp("../etc", "127.0.0.1", 1, std::chrono::milliseconds(10));
  ASSERT_FALSE(name.ok());
  EXPECT_EQ(name.error().message(),
            "'../etc' is not a network namespace name (letters, digits, '_', '.', '-')");
  Status run = run_in_netns("a/b", [] {});
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.error().code(), ErrorCode::kInvalidArgument);
}

TEST(NetnsTest, RunInTheOwnNamespaceRunsOnTheCallingThread) {
  const auto caller = std::this_thread::get_id();
  std::thread::id ran_on;
  ASSERT_TRUE(run_in_netns("", [&] { ran_on = std::this_thread::get_id(); }).ok());
  EXPECT_EQ(ran_on, caller);
}

TEST(NetnsTest, IpNetnsExecPrefix) {
  EXPECT_THAT(ip_netns_exec_prefix(""), ::testing::IsEmpty());
  const auto prefix = ip_netns_exec_prefix("wg1-proxy");
  ASSERT_EQ(prefix.size(), 4u);
  EXPECT_THAT(prefix[0], ::testing::EndsWith("/ip"));
  EXPECT_THAT(prefix, ::testing::ElementsAre(prefix[0], "netns", "exec", "wg1-proxy"));
  EXPECT_EQ(netns_path("wg1-proxy"), "/run/netns/wg1-proxy");
}

}  // namespace
}  // namespace writegate
