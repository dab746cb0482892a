// The local AWS endpoint: an HTTP(S) server (Boost.Beast) that feeds every request to a Router
// serving STS and Secrets Manager from a state folder. Runs in-process (tests, the stack) or as
// `writegate endpoint serve` in the foreground.
//
//   EndpointOptions options;
//   options.state_dir = ".writegate/state";           // `writegate iam seed` made it
//   options.port = 0;                                  // ephemeral
//   options.tls_cert_file = "endpoint.crt";            // optional: HTTPS
//   options.tls_key_file = "endpoint.key";
//   auto endpoint = Endpoint::start(options);
//   if (!endpoint) return endpoint.error();
//   std::cout << (*endpoint)->url() << "\n";           // https://127.0.0.1:41234
//   ...
//   (*endpoint)->stop();                               // also done by the destructor
//
// Extra listeners serve the same router on sockets opened inside other network namespaces:
// `options.extra_listeners = {{"wg3fa2-proxy", "127.0.0.1", 4566}}` lets the proxy in that
// namespace reach https://127.0.0.1:4566 on its own loopback, with no traffic over the VPC
// (RDS Proxy reaches Secrets Manager through the AWS service network, not its security group).
//
// Limits: request line + headers 16 KiB (431), body 1 MiB (413; 6 MB on the Lambda Invoke route), a
// request must arrive within read_timeout, an idle keep-alive connection is closed after
// idle_timeout, at most max_connections at once. Malformed input gets an AWS-style error, never a
// crash.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "awslocal/http_codec.h"
#include "awslocal/router.h"
#include "common/result.h"

namespace writegate::awslocal {

// A socket opened in a network namespace (common/netns.h) that serves the same router.
struct NetnsListener {
  std::string netns;  // /run/netns/<netns>; empty: the endpoint's own namespace
  std::string host;   // dotted IPv4
  uint16_t port = 0;  // 0: ephemeral (see Endpoint::extra_ports())
};

struct EndpointOptions {
  std::string state_dir = std::string(iam::kDefaultStateDir);
  std::string listen_host = "127.0.0.1";
  uint16_t port = 0;          // 0: an ephemeral port (see Endpoint::port())
  std::string tls_cert_file;  // PEM; both or neither
  std::string tls_key_file;
  int threads = 2;
  HttpLimits limits;
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds idle_timeout{60};
  size_t max_connections = 512;
  RouterOptions router;  // regions, clock, access log
  std::vector<NetnsListener> extra_listeners;
};

// "127.0.0.1:4566", "[::1]:4566", "localhost:0" -> host and port.
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};
Result<ListenAddress> parse_listen_address(std::string_view text);

// A Router over the IAM store in state_dir with STS and Secrets Manager registered.
Result<std::shared_ptr<Router>> make_default_router(const std::string& state_dir,
                                                    RouterOptions options = {});

class Endpoint {
 public:
  // Opens the stores (make_default_router), binds and starts serving.
  static Result<std::unique_ptr<Endpoint>> start(const EndpointOptions& options);
  // Serves a router made by the caller (more services, a test router).
  static Result<std::unique_ptr<Endpoint>> start(const EndpointOptions& options,
                                                 std::shared_ptr<Router> router);

  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;
  ~Endpoint();

  uint16_t port() const;
  // The ports of options.extra_listeners, in their order.
  std::vector<uint16_t> extra_ports() const;
  bool tls() const;
  // "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT" ([::1] for IPv6).
  std::string url() const;
  Router& router();

  // Stops accepting, closes connections and joins the threads. Idempotent.
  void stop();

 private:
  struct Impl;
  explicit Endpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace writegate::awslocal
