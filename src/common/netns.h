// Sockets and work inside Linux network namespaces (`ip netns add NAME`, /run/netns/NAME).
//
// The local stack runs the function, the proxy and the database in three namespaces joined by
// a bridge (src/stack/network.h). A socket belongs for life to the namespace of the thread that
// created it, and network namespaces are per thread: so these helpers join the namespace on a
// short-lived thread of their own, make the socket (or run the work) there and return. The
// calling thread never changes namespace, and the socket works from any thread afterwards.
//
//   auto fd = writegate::open_tcp_listener_in_netns("wg3fa2-proxy", "127.0.0.1", 4566, 64);
//   if (!fd) return fd.error();
//   acceptor.assign(asio::ip::tcp::v4(), *fd);          // Asio adopts it; accepts as usual
//
//   auto reach = writegate::probe_tcp("wg3fa2-lambda", "172.31.0.30", 5432,
//                                     std::chrono::milliseconds(1500));
//   // Reach::kTimedOut: the security groups dropped the SYN
//
// An empty namespace name means the caller's own namespace. Joining a namespace needs
// CAP_SYS_ADMIN (root).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace writegate {

// "/run/netns/NAME", where `ip netns add NAME` pins the namespace.
std::string netns_path(const std::string& netns);

// A listening IPv4 TCP socket (SO_REUSEADDR, close-on-exec, blocking) bound to host:port
// inside `netns`. `host` is a dotted IPv4 address; port 0 picks a free port (read it back with
// getsockname). The caller owns the descriptor.
Result<int> open_tcp_listener_in_netns(const std::string& netns, const std::string& host, int port,
                                       int backlog);

// Runs fn on a thread that joined `netns` and waits for it; sockets fn creates (libpq's
// PQconnectdb, say) live in that namespace. fn must not throw (an exception is reported as an
// internal error). Empty netns: fn runs on the calling thread.
Status run_in_netns(const std::string& netns, const std::function<void()>& fn);

enum class Reach {
  kConnected,  // the three-way handshake completed
  kRefused,    // a RST came back: reachable, nothing listening (or a firewall rejecting)
  kTimedOut,   // no answer before the timeout: the SYN (or its answer) was dropped
  kError,      // another failure: no route to the network or host, ...
};
std::string_view reach_name(Reach reach);  // "connected", "refused", "timed out", "error"

// A non-blocking TCP connect to address:port (dotted IPv4) from inside `netns`, waiting at most
// `timeout`. The connection is closed at once. Errors: a bad address, a missing namespace.
Result<Reach> probe_tcp(const std::string& netns, const std::string& address, int port,
                        std::chrono::milliseconds timeout);

// {"/usr/sbin/ip", "netns", "exec", netns}: put in front of an argv to run a program inside the
// namespace. `ip netns exec` execs in place (same pid, so signals and waits still work) and
// bind-mounts /etc/netns/NAME/hosts over /etc/hosts. Empty netns: an empty vector.
std::vector<std::string> ip_netns_exec_prefix(const std::string& netns);

}  // namespace writegate
