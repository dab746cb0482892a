#include "pam/pam_login.h"

#include <charconv>
#include <memory>

#include "common/strings.h"
#include "iam/arn.h"
#include "iam/store.h"
#include "proxy/authenticator.h"

namespace writegate::pam {
namespace {

bool is_region(std::string_view text) {
  if (text.empty() || text.size() > 32) return false;
  for (char c : text) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool is_host_name(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  for (char c : text) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.')) {
      return false;
    }
  }
  return true;
}

LoginDecision deny(std::string reason, std::string detail) {
  return {Verdict::kDeny, std::move(reason), std::move(detail), {}};
}

}  // namespace

Result<ModuleOptions> parse_module_arguments(const std::vector<std::string_view>& args) {
  ModuleOptions options;
  std::vector<std::string_view> seen;
  for (std::string_view arg : args) {
    if (arg == "report_to_conversation") {
      options.report_to_conversation = true;
      continue;
    }
    const auto eq = arg.find('=');
    if (eq == std::string_view::npos) {
      return Error::invalid_argument("unknown argument " + double_quoted(arg) +
                                     " (expected state=, region=, account=, resource=, host=, "
                                     "port= or report_to_conversation)");
    }
    const std::string_view name = arg.substr(0, eq);
    const std::string_view value = arg.substr(eq + 1);
    for (std::string_view earlier : seen) {
      if (earlier == name)
        return Error::invalid_argument("argument " + std::string(name) + "= given twice");
    }
    seen.push_back(name);
    auto bad = [&](std::string_view expected) {
      return Error::invalid_argument("argument " + std::string(name) + "=" + double_quoted(value) +
                                     ": expected " + std::string(expected));
    };
    if (name == "state") {
      if (!value.starts_with('/')) return bad("an absolute path");
      options.state_dir = value;
    } else if (name == "region") {
      if (!is_region(value)) return bad("a region such as us-east-1");
      options.region = value;
    } else if (name == "account") {
      if (!iam::is_account_id(value)) return bad("12 digits");
      options.account_id = value;
    } else if (name == "resource") {
      if (!iam::is_cluster_resource_id(value)) {
        return bad("cluster- followed by 26 upper-case letters or digits");
      }
      options.resource_id = value;
    } else if (name == "host") {
      if (!is_host_name(value)) return bad("a host name");
      options.host = value;
    } else if (name == "port") {
      unsigned port = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), port);
      if (ec != std::errc() || end != value.data() + value.size() || port == 0 || port > 65535) {
        return bad("a port from 1 to 65535");
      }
      options.port = static_cast<std::uint16_t>(port);
    } else {
      return Error::invalid_argument("unknown argument " + double_quoted(arg) +
                                     " (expected state=, region=, account=, resource=, host=, "
                                     "port= or report_to_conversation)");
    }
  }
  for (std::string_view required : {"state", "region", "account", "resource", "host", "port"}) {
    bool given = false;
    for (std::string_view name : seen)
      given = given || name == required;
    if (!given)
      return Error::invalid_argument("argument " + std::string(required) + "= is missing");
  }
  return options;
}

LoginDecision verify_login(const ModuleOptions& options, std::string_view user,
                           std::string_view token, std::chrono::system_clock::time_point now) {
  // Refused before anything parses them.
  if (user.empty() || user.size() > kMaxUserBytes) {
    return deny("bad_user", "the user name is empty or longer than " +
                                std::to_string(kMaxUserBytes) + " bytes");
  }
  if (token.empty()) return deny("empty_token", "no password was given");
  if (token.size() > kMaxTokenBytes) {
    return deny("oversize_token", "the password is " + std::to_string(token.size()) +
                                      " bytes, over the " + std::to_string(kMaxTokenBytes) +
                                      " an RDS token may have");
  }
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return deny("malformed_token",
                  "the password has a byte outside printable ASCII: not an RDS token");
    }
  }
  auto store = iam::IamStore::open(options.state_dir);
  if (!store) {
    return {Verdict::kUnavailable,
            "store_unavailable",
            "cannot read the IAM store: " + store.error().message(),
            {}};
  }
  proxy::IamAuthenticator authenticator(**store, {.region = options.region,
                                                  .account_id = options.account_id,
                                                  .resource_id = options.resource_id,
                                                  .endpoint_hosts = {options.host},
                                                  .port = options.port});
  proxy::AuthOutcome outcome = authenticator.authenticate(token, user, now);
  LoginDecision decision;
  decision.verdict = outcome.ok                              ? Verdict::kAllow
                     : outcome.reason == "store_unavailable" ? Verdict::kUnavailable
                                                             : Verdict::kDeny;
  decision.reason = std::move(outcome.reason);
  decision.detail = std::move(outcome.detail);
  decision.principal_arn = std::move(outcome.principal_arn);
  return decision;
}

}  // namespace writegate::pam
