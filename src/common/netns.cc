#include "common/netns.h"
#include <fcntl.h>
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
}  // namespace writegate
