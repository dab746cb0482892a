// Where the proxy gets a database user's own password for its standard (SECRETS) backend
// login. Called on the verification thread pool, never on the event loop; implementations are
// thread-safe and never log the secret.
//
//   auto source = proxy::make_file_secret_source("passwords.json");   // tests and development
//   auto password = (*source)->password_for("lambda_writer");
//
// A remote source (Secrets Manager) is wrapped in a caching source: the network call runs with
// no lock held, at most one fetch per user is in flight, and a cached password is served at
// once while it is fresh, while it is being refreshed and, when the service fails, for a
// bounded grace period after it expired (SecretCachePolicy):
//
//   auto cached = proxy::make_caching_secret_source(
//       [](const std::string& user) -> Result<std::string> { return fetch_somehow(user); },
//       "my secrets");
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"

namespace writegate::proxy {

class SecretSource {
 public:
  virtual ~SecretSource() = default;
  // The password of `user`; not_found when there is none for that user.
  virtual Result<std::string> password_for(const std::string& user) = 0;
  // Forgets a cached password of `user`: the database refused it (the secret was rotated).
  virtual void invalidate(const std::string& user) { (void)user; }
  virtual std::string describe() const = 0;  // "secrets file passwords.json", ...
};

// A JSON object {"user": "password", ...} in a file that must be mode 0600 (0400) and owned by
// the proxy's user: for tests and development. Re-read when it changes, and after invalidate().
Result<std::unique_ptr<SecretSource>> make_file_secret_source(const std::string& path);

// How a caching source keeps a password, counted from the moment its fetch returned (age):
//   age < refresh_after          served at once;
//   refresh_after <= age < ttl   served at once; the first such caller starts a refresh in the
//                                background (callers never wait for it);
//   age >= ttl (expired)         a caller waits for a fresh one. If that fetch fails, the
//                                expired password is served instead while age < ttl + grace,
//                                at once and without waiting for the retries, which go on in the
//                                background. Beyond the grace the fetch's error is returned.
// After a failed fetch the next one starts no sooner than retry_after_failure later (callers in
// between get the stale password within the grace, else that failure), so a failing service
// sees one request per interval, not one per login. invalidate() drops the password at once:
// it is never served again, not even within the grace, and the next caller fetches afresh.
struct SecretCachePolicy {
  std::chrono::milliseconds refresh_after{24'000};  // 80% of the ttl
  std::chrono::milliseconds ttl{30'000};
  // Five minutes: long enough to ride out a Secrets Manager outage or throttling spell, short
  // enough that a password rotated while the service was unreachable is not used for long
  // (and a refused one is invalidated at once anyway).
  std::chrono::milliseconds grace{std::chrono::minutes(5)};
  std::chrono::milliseconds retry_after_failure{1'000};
};

// Fetches the password of one user; called with no lock held, from the caller's thread or the
// source's refresh thread, for one user at a time (at most one call per user in flight). It
// must bound its own time (the Secrets Manager client has a deadline on every step): the
// source's destructor waits for a refresh in flight. It may call password_for() of the same
// source for another user; for its own user that call gets the cached password if one may be
// served, else failed_precondition (never a deadlock).
using SecretFetcher = std::function<Result<std::string>(const std::string& user)>;
// The cache's clock (tests move it); empty means std::chrono::steady_clock::now.
using SecretCacheClock = std::function<std::chrono::steady_clock::time_point()>;

// A SecretSource over `fetch` with the caching rules above. It keeps one entry per user asked
// for (failures included): put it behind a check of which users exist. It owns one refresh
// thread, stopped and joined by its destructor, which blocks the process's asynchronous
// signals (SIGTERM, SIGINT, SIGHUP, ...): they stay for the threads that wait for them.
std::unique_ptr<SecretSource> make_caching_secret_source(SecretFetcher fetch,
                                                         std::string description,
                                                         SecretCachePolicy policy = {},
                                                         SecretCacheClock clock = {});

struct ProxyConfig;

// Secrets Manager, as RDS Proxy's standard mode uses it: the proxy takes a session of its own
// role (locally the proxy stands in for the RDS service, which the role's trust policy must
// allow: Service rds.amazonaws.com), signs GetSecretValue with it, and the endpoint decides with
// the role's policies (secretsmanager:GetSecretValue on the secret, kms:Decrypt via Secrets
// Manager). The secret is {"username": ..., "password": ...} and must name the user. Passwords
// are cached by `policy` (30 s, refreshed from 24 s, 5 minutes of grace); the role session is
// renewed 5 minutes before it expires, by one caller while the others keep using the current
// session (a failed renewal keeps the current one while it has a minute left).
Result<std::unique_ptr<SecretSource>> make_secrets_manager_source(const ProxyConfig& config,
                                                                  SecretCachePolicy policy = {});

// End-to-end IAM (backend.auth iam): each call returns a fresh RDS token for the login user,
// signed for backend.server_name:backend.port in the region with a session of the proxy role
// (as in make_secrets_manager_source; the role needs rds-db:connect on the database's dbuser
// ARN). The database checks it (src/pam locally, Aurora on AWS).
Result<std::unique_ptr<SecretSource>> make_iam_token_source(const ProxyConfig& config);

// The source a proxy config names: IAM tokens (backend.auth iam), else Secrets Manager
// (secrets.endpoint) or a secrets file.
Result<std::unique_ptr<SecretSource>> make_secret_source(const ProxyConfig& config);

}  // namespace writegate::proxy
