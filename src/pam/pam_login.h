// What pam_writegate.so decides, without PAM: the module's arguments, and one login verified as
// an RDS IAM token for the database endpoint against the local IAM store. pam_writegate.cc is the
// thin C shell around it; tests call it directly as well as through libpam.
//
//   auto options = writegate::pam::parse_module_arguments(
//       {"state=/var/lib/writegate", "region=us-east-1", "account=000000000000",
//        "resource=cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ", "host=db.example.com", "port=5432"});
//   if (!options) return PAM_SERVICE_ERR;                 // names the bad argument
//   LoginDecision d = writegate::pam::verify_login(*options, "lambda_writer", password, now);
//   // d.verdict: kAllow, kDeny or kUnavailable; d.reason a stable code ("expired", ...);
//   // d.detail why, for the log (never the token)
//
// A login is allowed when the password is an RDS token (at most kMaxTokenBytes printable ASCII
// characters, checked before any parsing) signed for host:port, the region and DBUser = the
// login user, by an active key or unexpired session of the IAM store (STATE/iam/iam.json) whose
// policies allow rds-db:connect on arn:aws:rds-db:REGION:ACCOUNT:dbuser:RESOURCE/USER: exactly
// the checks of writegate::proxy::IamAuthenticator, which does the work. Everything else is
// refused (fails closed); no step waits on anything but reading the store file.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace writegate::pam {

// RDS tokens are 1 to 2 KiB (a session token included); anything longer is refused unread.
inline constexpr std::size_t kMaxTokenBytes = 8192;
// PostgreSQL's NAMEDATALEN - 1.
inline constexpr std::size_t kMaxUserBytes = 63;

struct ModuleOptions {
  std::string state_dir;    // state=   absolute path of the writegate state folder
  std::string region;       // region=  us-east-1
  std::string account_id;   // account= 12 digits
  std::string resource_id;  // resource= cluster-<26 of [A-Z0-9]>
  std::string host;         // host=    the database endpoint name the token must be signed for
  std::uint16_t port = 0;   // port=    its port
  // report_to_conversation: a refusal's reason also goes to the application as a PAM_ERROR_MSG
  // (PostgreSQL writes those to its server log, never to the client).
  bool report_to_conversation = false;
};

// Parses `name=value` arguments of the PAM service line. Errors (invalid_argument) name the
// argument: unknown, repeated, missing or malformed.
Result<ModuleOptions> parse_module_arguments(const std::vector<std::string_view>& args);

enum class Verdict {
  kAllow,
  kDeny,         // the token does not let this user in (PAM_AUTH_ERR)
  kUnavailable,  // the IAM store cannot be read (PAM_AUTHINFO_UNAVAIL)
};

struct LoginDecision {
  Verdict verdict = Verdict::kDeny;
  // "ok", "empty_token", "oversize_token", "malformed_token", "bad_user", "store_unavailable",
  // or IamAuthenticator's reasons ("expired", "wrong_endpoint", "wrong_user",
  // "policy_implicit_deny", ...).
  std::string reason;
  std::string detail;         // why, for the log; never the token
  std::string principal_arn;  // the signer, when known
};

// Verifies one login; reads the store afresh (PostgreSQL runs each login in a new process).
LoginDecision verify_login(const ModuleOptions& options, std::string_view user,
                           std::string_view token, std::chrono::system_clock::time_point now);

}  // namespace writegate::pam
