// pam_writegate.so: the C ABI PostgreSQL's PAM authentication calls (see pam_login.h for what is
// checked). The service file /etc/pam.d/writegate-<id> names it for both stacks:
//
//   auth    required /abs/path/pam_writegate.so state=/abs/state region=us-east-1
//           account=000000000000 resource=cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ
//           host=my-aurora-cluster.cluster-xxxx.us-east-1.rds.amazonaws.com port=5432
//   account required /abs/path/pam_writegate.so
//
// and pg_hba.conf sends the members of rds_iam to it, ahead of the other lines:
//
//   hostssl all +rds_iam 0.0.0.0/0 pam pamservice=writegate-<id>
//
// pam_sm_authenticate asks the application for the password (PostgreSQL asks its client for a
// cleartext password, inside TLS) and verifies it; pam_sm_acct_mgmt lets in only the user this
// module authenticated in the same PAM transaction. Every failure is a refusal: no C++
// exception leaves the module. Outcomes go to syslog (auth facility), never the token.
#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <syslog.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "pam/pam_login.h"

namespace {

using writegate::pam::LoginDecision;
using writegate::pam::ModuleOptions;
using writegate::pam::Verdict;

// pam_set_data key: the user pam_sm_authenticate let in.
constexpr const char* kAuthenticatedUser = "writegate_authenticated_user";

void free_data(pam_handle_t*, void* data, int) {
  std::free(data);
}

// One PAM_ERROR_MSG to the application (best effort: a failing conversation changes nothing).
void report(pam_handle_t* pamh, int flags, const ModuleOptions& options, const std::string& text) {
  if (!options.report_to_conversation || (flags & PAM_SILENT) != 0) return;
  pam_error(pamh, "%s", text.c_str());
}

int authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::string_view> args(argv, argv + (argc > 0 ? argc : 0));
  auto options = writegate::pam::parse_module_arguments(args);
  if (!options) {
    pam_syslog(pamh, LOG_ERR, "bad module arguments: %s", options.error().message().c_str());
    return PAM_SERVICE_ERR;
  }
  const char* user = nullptr;
  if (pam_get_user(pamh, &user, nullptr) != PAM_SUCCESS || user == nullptr) {
    pam_syslog(pamh, LOG_ERR, "no user name");
    return PAM_USER_UNKNOWN;
  }
  const void* item = nullptr;
  const char* token = nullptr;
  if (pam_get_item(pamh, PAM_AUTHTOK, &item) == PAM_SUCCESS && item != nullptr) {
    token = static_cast<const char*>(item);  // a module ahead of this one asked already
  } else {
    int rc = pam_get_authtok(pamh, PAM_AUTHTOK, &token, nullptr);
    if (rc != PAM_SUCCESS || token == nullptr) {
      pam_syslog(pamh, LOG_NOTICE, "refused user %s: no password from the application (%s)", user,
                 pam_strerror(pamh, rc));
      return rc == PAM_CONV_AGAIN ? PAM_INCOMPLETE : PAM_AUTH_ERR;
    }
  }
  // Bounded read: never walk more than the cap (plus one) of an unterminated buffer.
  const std::string_view password(token, ::strnlen(token, writegate::pam::kMaxTokenBytes + 1));
  const LoginDecision decision =
      writegate::pam::verify_login(*options, user, password, std::chrono::system_clock::now());
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
  if (decision.verdict == Verdict::kAllow) {
    char* copy = ::strdup(user);
    if (copy == nullptr || pam_set_data(pamh, kAuthenticatedUser, copy, free_data) != PAM_SUCCESS) {
      std::free(copy);
      pam_syslog(pamh, LOG_ERR, "refused user %s: out of memory", user);
      return PAM_BUF_ERR;
    }
    pam_syslog(pamh, LOG_INFO, "user %s logged in with an IAM token of %s (%lld us)", user,
               decision.principal_arn.c_str(), static_cast<long long>(micros));
    return PAM_SUCCESS;
  }
  const std::string text = "pam_writegate: refused user " + std::string(user) + ": " +
                           decision.reason + " (" + decision.detail + ")";
  pam_syslog(pamh, LOG_NOTICE, "%s (%lld us)", text.c_str(), static_cast<long long>(micros));
  report(pamh, flags, *options, text);
  return decision.verdict == Verdict::kUnavailable ? PAM_AUTHINFO_UNAVAIL : PAM_AUTH_ERR;
}

int account(pam_handle_t* pamh) {
  const char* user = nullptr;
  if (pam_get_user(pamh, &user, nullptr) != PAM_SUCCESS || user == nullptr) {
    return PAM_USER_UNKNOWN;
  }
  const void* data = nullptr;
  if (pam_get_data(pamh, kAuthenticatedUser, &data) != PAM_SUCCESS || data == nullptr ||
      std::strcmp(static_cast<const char*>(data), user) != 0) {
    pam_syslog(pamh, LOG_NOTICE, "refused account %s: not authenticated by pam_writegate", user);
    return PAM_PERM_DENIED;
  }
  return PAM_SUCCESS;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int pam_sm_authenticate(pam_handle_t* pamh, int flags,
                                                               int argc, const char** argv) {
  try {
    return authenticate(pamh, flags, argc, argv);
  } catch (const std::exception& e) {
    pam_syslog(pamh, LOG_ERR, "internal error: %s", e.what());
  } catch (...) {
    pam_syslog(pamh, LOG_ERR, "internal error");
  }
  return PAM_SERVICE_ERR;
}

__attribute__((visibility("default"))) int pam_sm_setcred(pam_handle_t*, int, int, const char**) {
  return PAM_SUCCESS;  // no credentials to set: the token was the whole login
}

__attribute__((visibility("default"))) int pam_sm_acct_mgmt(pam_handle_t* pamh, int, int,
                                                            const char**) {
  try {
    return account(pamh);
  } catch (...) {
    pam_syslog(pamh, LOG_ERR, "internal error");
  }
  return PAM_SERVICE_ERR;
}

}  // extern "C"
