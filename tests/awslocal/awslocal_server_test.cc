// The endpoint started in-process (as the stack and the proxy's tests will): many concurrent
// clients, a stalled connection that does not block others and is closed at the read timeout,
// keep-alive, and option errors.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "awslocal/client.h"
#include "awslocal/endpoint.h"
#include "awslocal/fixture.h"

namespace writegate::awslocal {
namespace {

using testing::make_seeded_state;

int connect_to(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    out.append(buf, static_cast<size_t>(n));
  return out;
}

TEST(EndpointInProcess, ServesManyClientsConcurrently) {
  auto state = make_seeded_state();
  auto alice = state.add_user("alice");
  EndpointOptions options;
  options.state_dir = state.dir;
  options.threads = 4;
  options.read_timeout = std::chrono::seconds(1);
  auto endpoint = Endpoint::start(options);
  ASSERT_TRUE(endpoint.ok()) << endpoint.error().message();
  EXPECT_EQ((*endpoint)->url(), "http://127.0.0.1:" + std::to_string((*endpoint)->port()));
  EXPECT_FALSE((*endpoint)->tls());

  // A client that sends half a request and stalls: it must not hold up anyone.
  int stalled = connect_to((*endpoint)->port());
  ASSERT_GE(stalled, 0);
  const std::string partial = "POST / HTTP/1.1\r\nHost: x\r\nContent-Len";
  ASSERT_EQ(write(stalled, partial.data(), partial.size()), static_cast<ssize_t>(partial.size()));

  ClientOptions client_options;
  client_options.endpoint_url = (*endpoint)->url();
  StsClient sts(client_options);
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 16; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        auto who = sts.get_caller_identity(alice);
        if (who.ok() && who->arn == "arn:aws:iam::000000000000:user/alice") {
          ++ok;
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& c : clients)
    c.join();
  EXPECT_EQ(ok.load(), 80);
  EXPECT_EQ(failed.load(), 0);

  // The stalled connection is closed after read_timeout (1 s) without an answer.
  auto start = std::chrono::steady_clock::now();
  std::string answer = read_all(stalled);
  close(stalled);
  EXPECT_EQ(answer, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  // Keep-alive: two requests on one connection.
  int fd = connect_to((*endpoint)->port());
  ASSERT_GE(fd, 0);
  const std::string two =
      "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(write(fd, two.data(), two.size()), static_cast<ssize_t>(two.size()));
  std::string both = read_all(fd);
  close(fd);
  size_t first = both.find("MissingAuthenticationToken");
  ASSERT_NE(first, std::string::npos) << both;
  EXPECT_NE(both.find("MissingAuthenticationToken", first + 1), std::string::npos) << both;

  (*endpoint)->stop();
  (*endpoint)->stop();  // idempotent
  EXPECT_EQ(connect_to((*endpoint)->port()), -1);
}

TEST(EndpointInProcess, OptionErrors) {
  auto state = make_seeded_state();
  EndpointOptions options;
  options.state_dir = state.dir;
  options.tls_cert_file = "/nonexistent.crt";
  auto half = Endpoint::start(options);
  ASSERT_FALSE(half.ok());
  EXPECT_EQ(half.error().message(), "give both --tls-cert and --tls-key, or neither");
  options.tls_key_file = "/nonexistent.key";
  auto missing = Endpoint::start(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message().rfind("cannot load the TLS certificate /nonexistent.crt", 0),
            0u)
      << missing.error().message();

  EndpointOptions no_state;
  no_state.state_dir = state.dir + "-missing";
  auto absent = Endpoint::start(no_state);
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().code(), ErrorCode::kNotFound);

  // A port in use.
  EndpointOptions first;
  first.state_dir = state.dir;
  auto a = Endpoint::start(first);
  ASSERT_TRUE(a.ok());
  EndpointOptions second = first;
  second.port = (*a)->port();
  auto b = Endpoint::start(second);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code(), ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace writegate::awslocal
