// The proxy's front-door decision: is this cleartext password a valid RDS IAM token that lets
// its signer log in as this user through this proxy? Pure logic over the IAM store: no sockets,
// thread-safe. authenticate() may re-read the store (a file read): the proxy calls it on its
// verification thread pool, never on the event loop; authenticate_if_current() never reads
// the file, so the event loop can call it and go to the pool only when the store changed.
//
//   IamAuthenticator auth(store, {.region = "us-east-1", .account_id = "000000000000",
//                                 .resource_id = "prx-0123456789abcdef0",
//                                 .endpoint_hosts = {"localhost"}, .port = 5432});
//   AuthOutcome outcome = auth.authenticate(password, "lambda_writer", now);
//   if (!outcome.ok) log(outcome.reason);   // "expired", "policy_implicit_deny", ...
//
// Checks: token shape, signature, expiry, scope (rds-db, the region), host:port equal to one of
// the proxy's endpoint names and its port, DBUser equal to the login user, the key known and
// active (session not expired), and an IAM Allow of rds-db:connect on
// arn:aws:rds-db:REGION:ACCOUNT:dbuser:<resource id>/<user> for the signer. The store is
// re-read when it changed, so a revoked key or changed policy counts for the next login.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "iam/store.h"
#include "sigv4/rds_token.h"
#include "sigv4/signing_key_cache.h"

namespace writegate::proxy {

struct AuthOutcome {
  bool ok = false;
  std::string reason;         // "ok" or a stable reason code for logs and metrics
  std::string detail;         // why, for the proxy's log (never the token)
  std::string principal_arn;  // who signed, when known
};

class IamAuthenticator {
 public:
  struct Options {
    std::string region;
    std::string account_id;
    std::string resource_id;
    std::vector<std::string> endpoint_hosts;
    std::uint16_t port = 5432;
  };

  IamAuthenticator(iam::IamStore& store, Options options);
  ~IamAuthenticator();

  AuthOutcome authenticate(std::string_view token, std::string_view user,
                           std::chrono::system_clock::time_point now);

  // The same decision over the store as last read, when the file has not changed since
  // (one stat); nullopt when it has: then authenticate() is the call, where a read may wait.
  std::optional<AuthOutcome> authenticate_if_current(std::string_view token, std::string_view user,
                                                     std::chrono::system_clock::time_point now);

  // The ARN a principal needs rds-db:connect on to log in as `user`.
  std::string dbuser_arn(std::string_view user) const;

 private:
  AuthOutcome decide(std::string_view token, std::string_view user,
                     std::chrono::system_clock::time_point now);

  iam::IamStore& store_;
  Options options_;
  sigv4::RdsVerifyOptions verify_options_;
  sigv4::SigningKeyCache signing_keys_{4096};
};

}  // namespace writegate::proxy
