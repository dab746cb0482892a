#include "common/netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <optional>
#include <thread>

#include "common/process.h"

namespace writegate {
namespace {

std::string errno_text(int error) {
  return std::strerror(error);
}

// Names `ip netns` accepts and that stay inside /run/netns.
Status check_netns_name(const std::string& netns) {
  const bool plain =
      !netns.empty() && netns.size() <= 255 && netns != "." && netns != ".." &&
      netns.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == std::string::npos;
  if (!plain) {
    return Error::invalid_argument("'" + netns +
                                   "' is not a network namespace name (letters, digits, '_', "
                                   "'.', '-')");
  }
  return {};
}

Result<sockaddr_in> ipv4_address(const std::string& host, int port) {
  if (port < 0 || port > 65535) {
    return Error::invalid_argument("port " + std::to_string(port) + " is out of range");
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    return Error::invalid_argument("'" + host + "' is not an IPv4 address (dotted, like 10.0.0.1)");
  }
  return address;
}

// Runs `work` on the calling thread (empty netns) or on a fresh thread inside `netns`.
template <typename T, typename Work>
Result<T> in_netns(const std::string& netns, Work&& work) {
  if (netns.empty()) return work();
  WG_RETURN_IF_ERROR(check_netns_name(netns));
  std::optional<Result<T>> result;
  std::thread thread([&] {
    const std::string path = netns_path(netns);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      result.emplace(Error(error == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                           "network namespace " + netns + ": cannot open " + path + ": " +
                               errno_text(error) +
                               (error == ENOENT ? " (is the stack up? `ip netns list`)" : "")));
      return;
    }
    const int joined = ::setns(fd, CLONE_NEWNET);
    const int error = errno;
    ::close(fd);
    if (joined != 0) {
      result.emplace(Error(error == EPERM ? ErrorCode::kPermissionDenied : ErrorCode::kIo,
                           "network namespace " + netns + ": cannot join it: " + errno_text(error) +
                               (error == EPERM ? " (needs root)" : "")));
      return;
    }
    try {
      Result<T> outcome = work();
      if (!outcome)
        outcome = std::move(outcome).error().with_context("in network namespace " + netns);
      result.emplace(std::move(outcome));
    } catch (const std::exception& e) {
      result.emplace(Error::internal("in network namespace " + netns + ": " + e.what()));
    } catch (...) {
      result.emplace(Error::internal("in network namespace " + netns + ": unknown exception"));
    }
  });
  thread.join();
  return std::move(*result);
}

Result<int> open_listener_here(const std::string& host, int port, int backlog) {
  WG_ASSIGN_OR_RETURN(const sockaddr_in address, ipv4_address(host, port));
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::io("socket: " + errno_text(errno));
  const int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    const int error = errno;
    ::close(fd);
    return Error::io("setsockopt(SO_REUSEADDR): " + errno_text(error));
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd);
    return Error(error == EADDRINUSE ? ErrorCode::kAlreadyExists : ErrorCode::kIo,
                 "bind " + host + ":" + std::to_string(port) + ": " + errno_text(error));
  }
  if (::listen(fd, backlog) != 0) {
    const int error = errno;
    ::close(fd);
    return Error::io("listen " + host + ":" + std::to_string(port) + ": " + errno_text(error));
  }
  return fd;
}

Result<Reach> probe_here(const std::string& address_text, int port,
                         std::chrono::milliseconds timeout) {
  WG_ASSIGN_OR_RETURN(const sockaddr_in address, ipv4_address(address_text, port));
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Error::io("socket: " + errno_text(errno));
  auto classify = [](int error) {
    if (error == 0) return Reach::kConnected;
    if (error == ECONNREFUSED) return Reach::kRefused;
    if (error == ETIMEDOUT) return Reach::kTimedOut;
    return Reach::kError;
  };
  Reach reach = Reach::kError;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    reach = Reach::kConnected;
  } else if (errno != EINPROGRESS) {
    reach = classify(errno);
  } else {
    pollfd waiting{fd, POLLOUT, 0};
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int ready = 0;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      ready = ::poll(&waiting, 1, static_cast<int>(std::max<long long>(0, left.count())));
      if (ready >= 0 || errno != EINTR) break;
    }
    if (ready == 0) {
      reach = Reach::kTimedOut;
    } else if (ready < 0) {
      const int error = errno;
      ::close(fd);
      return Error::io("poll: " + errno_text(error));
    } else {
      int error = 0;
      socklen_t length = sizeof error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      reach = classify(error);
    }
  }
  ::close(fd);
  return reach;
}

}  // namespace

std::string netns_path(const std::string& netns) {
  return "/run/netns/" + netns;
}

Result<int> open_tcp_listener_in_netns(const std::string& netns, const std::string& host, int port,
                                       int backlog) {
  return in_netns<int>(netns, [&] { return open_listener_here(host, port, backlog); });
}

Status run_in_netns(const std::string& netns, const std::function<void()>& fn) {
  auto done = in_netns<bool>(netns, [&]() -> Result<bool> {
    fn();
    return true;
  });
  if (!done) return std::move(done).error();
  return {};
}

std::string_view reach_name(Reach reach) {
  switch (reach) {
    case Reach::kConnected:
      return "connected";
    case Reach::kRefused:
      return "refused";
    case Reach::kTimedOut:
      return "timed out";
    case Reach::kError:
      return "error";
  }
  return "error";
}

Result<Reach> probe_tcp(const std::string& netns, const std::string& address, int port,
                        std::chrono::milliseconds timeout) {
  return in_netns<Reach>(netns, [&] { return probe_here(address, port, timeout); });
}

std::vector<std::string> ip_netns_exec_prefix(const std::string& netns) {
  if (netns.empty()) return {};
  const std::string ip =
      find_program("ip", {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}).value_or("/usr/sbin/ip");
  return {ip, "netns", "exec", netns};
}

}  // namespace writegate
