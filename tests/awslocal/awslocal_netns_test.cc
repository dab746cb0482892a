// The endpoint's extra listeners in network namespaces (root): the proxy's namespace reaches the
// local AWS endpoint on its own loopback, with no route to the host.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>

#include "awslocal/endpoint.h"
#include "awslocal/fixture.h"
#include "common/netns.h"
#include "common/process.h"
#include "support/root_only.h"

namespace writegate::awslocal {
namespace {

std::string ip_program() {
  return ip_netns_exec_prefix("x")[0];
}

// A namespace with loopback up, removed when the test ends.
class TestNamespace {
 public:
  explicit TestNamespace(const std::string& name) : name_(name) {
    auto added = run_process({ip_program(), "netns", "add", name_});
    ok_ = added.ok() && added->exit_code == 0;
    auto lo = run_process({ip_program(), "-n", name_, "link", "set", "dev", "lo", "up"});
    ok_ = ok_ && lo.ok() && lo->exit_code == 0;
  }
  ~TestNamespace() { (void)run_process({ip_program(), "netns", "del", name_}); }
  TestNamespace(const TestNamespace&) = delete;
  TestNamespace& operator=(const TestNamespace&) = delete;
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  bool ok_ = false;
};

// An unsigned GET / to 127.0.0.1:port from inside `netns`; the raw response ("" on failure).
std::string http_get_in(const std::string& netns, int port) {
  std::string response;
  Status ran = run_in_netns(netns, [&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
      const std::string request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
      if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
        char buffer[4096];
        for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;)
          response.append(buffer, static_cast<std::size_t>(n));
      }
    }
    ::close(fd);
  });
  EXPECT_TRUE(ran.ok()) << (ran.ok() ? "" : ran.error().message());
  return response;
}

TEST(EndpointNetnsTest, AnExtraListenerServesInsideTheNamespace) {
  WG_REQUIRE_ROOT();
  TestNamespace ns("wgep" + std::to_string(::getpid()));
  ASSERT_TRUE(ns.ok());
  auto state = testing::make_seeded_state();
  EndpointOptions options;
  options.state_dir = state.dir;
  options.extra_listeners = {{ns.name(), "127.0.0.1", 0}};
  auto endpoint = Endpoint::start(options);
  ASSERT_TRUE(endpoint.ok()) << endpoint.error().message();
  ASSERT_EQ((*endpoint)->extra_ports().size(), 1u);
  const int extra_port = (*endpoint)->extra_ports()[0];
  EXPECT_NE(extra_port, 0);
  // The router answers an unsigned request with an AWS error: the request reached it.
  EXPECT_THAT(http_get_in(ns.name(), extra_port), ::testing::StartsWith("HTTP/1.1 4"));
  // The main listener is on the host's loopback, which the namespace does not see.
  auto main_port =
      probe_tcp(ns.name(), "127.0.0.1", (*endpoint)->port(), std::chrono::milliseconds(1000));
  ASSERT_TRUE(main_port.ok());
  if ((*endpoint)->port() != extra_port) {
    EXPECT_EQ(reach_name(*main_port), "refused");
  }
  (*endpoint)->stop();
}

TEST(EndpointNetnsTest, AMissingNamespaceFailsTheStart) {
  WG_REQUIRE_ROOT();
  auto state = testing::make_seeded_state();
  EndpointOptions options;
  options.state_dir = state.dir;
  options.extra_listeners = {{"wg-no-such-ns", "127.0.0.1", 4566}};
  auto endpoint = Endpoint::start(options);
  ASSERT_FALSE(endpoint.ok());
  EXPECT_EQ(endpoint.error().message(),
            "cannot listen on 127.0.0.1:4566 in network namespace wg-no-such-ns: network "
            "namespace wg-no-such-ns: cannot open /run/netns/wg-no-such-ns: No such file or "
            "directory (is the stack up? `ip netns list`)");
}

TEST(EndpointNetnsTest, ServeListenNetnsFlag) {
  WG_REQUIRE_ROOT();
  TestNamespace ns("wgcl" + std::to_string(::getpid()));
  ASSERT_TRUE(ns.ok());
  auto state = testing::make_seeded_state();
  const char* bin = std::getenv("WRITEGATE_BIN_DIR");
  auto server = ChildProcess::start({std::string(bin ? bin : ".") + "/writegate", "--state",
                                     state.dir, "endpoint", "serve", "--listen", "127.0.0.1:0",
                                     "--listen-netns", ns.name() + "=127.0.0.1:0", "--quiet"});
  ASSERT_TRUE(server.ok()) << server.error().message();
  auto first = (*server)->read_line(std::chrono::seconds(20));
  ASSERT_TRUE(first.ok()) << (*server)->output_so_far();
  EXPECT_THAT(*first, ::testing::StartsWith("writegate endpoint listening on http://127.0.0.1:"));
  auto second = (*server)->read_line(std::chrono::seconds(5));
  ASSERT_TRUE(second.ok()) << (*server)->output_so_far();
  const std::string prefix = "writegate endpoint also listening on 127.0.0.1:";
  ASSERT_THAT(*second, ::testing::StartsWith(prefix));
  EXPECT_THAT(*second, ::testing::EndsWith(" in network namespace " + ns.name()));
  const int port = std::stoi(second->substr(prefix.size()));
  EXPECT_THAT(http_get_in(ns.name(), port), ::testing::StartsWith("HTTP/1.1 4"));
  // A malformed flag is refused with the form it expects.
  auto bad = run_process({std::string(bin ? bin : ".") + "/writegate", "--state", state.dir,
                          "endpoint", "serve", "--listen-netns", "127.0.0.1:4566"});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_code, 2) << bad->output;
  EXPECT_THAT(bad->output, ::testing::HasSubstr("--listen-netns '127.0.0.1:4566' is not "
                                                "NAMESPACE=HOST:PORT"));
}

}  // namespace
}  // namespace writegate::awslocal
