// TEMPORARY stand-in until the network helper's version lands (replaced at merge).
#pragma once
#include <functional>
#include <string>
#include <vector>
#include "common/result.h"
namespace writegate {
Status run_in_netns(const std::string& netns, const std::function<void()>& fn);
std::vector<std::string> ip_netns_exec_prefix(const std::string& netns);
}  // namespace writegate
