// TEMPORARY stand-in until the network helper's version lands (replaced at merge).
#pragma once
#include <chrono>
#include <functional>
#include <string>
#include <vector>
#include "common/result.h"
namespace writegate {
Status run_in_netns(const std::string& netns, const std::function<void()>& fn);
std::vector<std::string> ip_netns_exec_prefix(const std::string& netns);
// Stand-in (verify branch): same signature as the real one. A TCP connect from inside `netns`
// (empty: here) to address:port, ended after `timeout`.
enum class Reach { kConnected, kRefused, kTimedOut, kError };
Result<Reach> probe_tcp(const std::string& netns, const std::string& address, int port,
                        std::chrono::milliseconds timeout);
}  // namespace writegate
