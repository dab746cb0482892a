#include "iam/arn.h"

#include <array>
#include <cstddef>
#include <vector>

#include "common/strings.h"

namespace writegate::iam {
namespace {

bool chars_equal(char a, char b, bool ignore_case) {
  return ignore_case ? ascii_lower(a) == ascii_lower(b) : a == b;
}

// Splits at the first five ':'; returns the number of parts found (at most 6).
size_t split_arn_parts(std::string_view text, std::array<std::string_view, 6>& parts) {
  size_t count = 0;
  size_t start = 0;
  while (count < 5) {
    size_t colon = text.find(':', start);
    if (colon == std::string_view::npos) break;
    parts[count++] = text.substr(start, colon - start);
    start = colon + 1;
  }
  parts[count++] = text.substr(start);
  return count;
}

// Greedy glob for patterns whose every wildcard may match any character (the classic
// single-backtrack algorithm is exact when all stars are alike).
bool greedy_match(std::string_view pattern, std::string_view value, bool ignore_case) {
  size_t p = 0, v = 0;
  size_t star = std::string_view::npos, mark = 0;
  while (v < value.size()) {
    if (p < pattern.size()) {
      char c = pattern[p];
      if (c == '*') {
        star = p++;
        mark = v;
        continue;
      }
      if (c == '?') {
        ++p;
        ++v;
        continue;
      }
      size_t width = 1;
      if (c == '\\' && p + 1 < pattern.size()) {
        c = pattern[p + 1];
        width = 2;
      }
      if (chars_equal(c, value[v], ignore_case)) {
        p += width;
        ++v;
        continue;
      }
    }
    if (star == std::string_view::npos) return false;
    p = star + 1;
    v = ++mark;
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

// Dynamic-programming glob for resource patterns where some wildcards stay inside a segment.
bool segment_aware_match(std::string_view pattern, std::string_view value) {
  const size_t n = value.size();
  std::vector<char> prev(n + 1, 0), cur(n + 1, 0);
  prev[0] = 1;
  size_t p = 0;
  while (p < pattern.size()) {
    char c = pattern[p];
    if (c == '*') {
      bool crosses = p + 1 == pattern.size() || pattern[p + 1] == ':';
      cur[0] = prev[0];
      for (size_t j = 1; j <= n; ++j) {
        cur[j] = prev[j] || (cur[j - 1] && (crosses || value[j - 1] != ':'));
      }
      ++p;
    } else if (c == '?') {
      cur[0] = 0;
      for (size_t j = 1; j <= n; ++j)
        cur[j] = prev[j - 1] && value[j - 1] != ':';
      ++p;
    } else {
      if (c == '\\' && p + 1 < pattern.size()) {
        c = pattern[p + 1];
        ++p;
      }
      cur[0] = 0;
      for (size_t j = 1; j <= n; ++j)
        cur[j] = prev[j - 1] && value[j - 1] == c;
      ++p;
    }
    prev.swap(cur);
  }
  return prev[n] != 0;
}

}  // namespace

std::string Arn::to_string() const {
  std::string out = "arn:";
  out.append(partition).append(":").append(service).append(":").append(region).append(":");
  out.append(account).append(":").append(resource);
  return out;
}

Result<Arn> parse_arn(std::string_view text) {
  std::array<std::string_view, 6> parts;
  size_t count = split_arn_parts(text, parts);
  std::string quoted = "ARN \"" + std::string(text) + "\"";
  if (count != 6) {
    return Error::invalid_argument(quoted + " has " + std::to_string(count) +
                                   " ':'-separated parts; expected "
                                   "arn:partition:service:region:account:resource");
  }
  if (parts[0] != "arn") return Error::invalid_argument(quoted + " does not start with \"arn:\"");
  if (parts[1].empty()) return Error::invalid_argument(quoted + " has an empty partition");
  if (parts[2].empty()) return Error::invalid_argument(quoted + " has an empty service");
  if (parts[5].empty()) return Error::invalid_argument(quoted + " has an empty resource");
  return Arn{std::string(parts[1]), std::string(parts[2]), std::string(parts[3]),
             std::string(parts[4]), std::string(parts[5])};
}

std::string user_arn(std::string_view account, std::string_view user_name) {
  return "arn:aws:iam::" + std::string(account) + ":user/" + std::string(user_name);
}

std::string role_arn(std::string_view account, std::string_view role_name) {
  return "arn:aws:iam::" + std::string(account) + ":role/" + std::string(role_name);
}

std::string account_root_arn(std::string_view account) {
  return "arn:aws:iam::" + std::string(account) + ":root";
}

std::string assumed_role_arn(std::string_view account, std::string_view role_name,
                             std::string_view session_name) {
  return "arn:aws:sts::" + std::string(account) + ":assumed-role/" + std::string(role_name) + "/" +
         std::string(session_name);
}

std::string rds_db_user_arn(std::string_view region, std::string_view account,
                            std::string_view proxy_resource_id, std::string_view db_user) {
  return "arn:aws:rds-db:" + std::string(region) + ":" + std::string(account) +
         ":dbuser:" + std::string(proxy_resource_id) + "/" + std::string(db_user);
}

bool is_proxy_resource_id(std::string_view text) {
  if (text.size() != 4 + 17 || text.substr(0, 4) != "prx-") return false;
  for (char c : text.substr(4)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool is_cluster_resource_id(std::string_view text) {
  constexpr std::string_view kPrefix = "cluster-";
  if (text.size() != kPrefix.size() + 26 || !text.starts_with(kPrefix)) return false;
  for (char c : text.substr(kPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

bool is_account_id(std::string_view text) {
  if (text.size() != 12) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool wildcard_match(std::string_view pattern, std::string_view value, bool ignore_case) {
  return greedy_match(pattern, value, ignore_case);
}

bool resource_matches(std::string_view pattern, std::string_view resource) {
  if (pattern == "*") return true;
  // Fast path: no '?' and every '*' ends its segment, so every wildcard may cross ':'.
  bool all_crossing = true;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      ++i;
    } else if (c == '?') {
      all_crossing = false;
      break;
    } else if (c == '*' && i + 1 < pattern.size() && pattern[i + 1] != ':') {
      all_crossing = false;
      break;
    }
  }
  if (all_crossing) return greedy_match(pattern, resource, false);
  return segment_aware_match(pattern, resource);
}

bool arn_like(std::string_view pattern, std::string_view value) {
  if (pattern == "*") return true;
  std::array<std::string_view, 6> want, got;
  size_t want_count = split_arn_parts(pattern, want);
  size_t got_count = split_arn_parts(value, got);
  if (want_count != got_count) return false;
  for (size_t i = 0; i < want_count; ++i) {
    if (!greedy_match(want[i], got[i], false)) return false;
  }
  return true;
}

}  // namespace writegate::iam
