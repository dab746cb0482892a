#include "common/netns.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sched.h>
#include <unistd.h>
#include <cstring>
#include <thread>
namespace writegate {
Status run_in_netns(const std::string& netns, const std::function<void()>& fn) {
  if (netns.empty()) { fn(); return {}; }
  Status result;
  std::thread t([&] {
    const int fd = ::open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      result = Error::unavailable("cannot enter network namespace " + netns + ": " + std::strerror(errno));
      if (fd >= 0) ::close(fd);
      return;
    }
    ::close(fd);
    fn();
  });
  t.join();
  return result;
}
std::vector<std::string> ip_netns_exec_prefix(const std::string& netns) {
  if (netns.empty()) return {};
  return {"/usr/sbin/ip", "netns", "exec", netns};
}
Result<Reach> probe_tcp(const std::string& netns, const std::string& address, int port,
                        std::chrono::milliseconds timeout) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    return Error::invalid_argument("probe_tcp: not an IPv4 address: " + address);
  }
  Reach reach = Reach::kError;
  WG_RETURN_IF_ERROR(run_in_netns(netns, [&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int err = rc == 0 ? 0 : errno;
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
      if (ready == 0) {
        err = ETIMEDOUT;
      } else {
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
    }
    ::close(fd);
    reach = err == 0              ? Reach::kConnected
            : err == ECONNREFUSED ? Reach::kRefused
            : err == ETIMEDOUT    ? Reach::kTimedOut
                                  : Reach::kError;
  }));
  return reach;
}
}  // namespace writegate
