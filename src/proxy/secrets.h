// Where the proxy gets a database user's own password for its standard (SECRETS) backend
// login. Called on the verification thread pool, never on the event loop; implementations are
// thread-safe and never log the secret.
//
//   auto source = proxy::make_file_secret_source("passwords.json");   // tests and development
//   auto password = (*source)->password_for("lambda_writer");
#pragma once

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
// the proxy's user: for tests and development. Re-read when it changes.
Result<std::unique_ptr<SecretSource>> make_file_secret_source(const std::string& path);

struct ProxyConfig;

// Secrets Manager, as RDS Proxy's standard mode uses it: the proxy takes a session of its own
// role (locally the proxy stands in for the RDS service, which the role's trust policy must
// allow: Service rds.amazonaws.com), signs GetSecretValue with it, and the endpoint decides with
// the role's policies (secretsmanager:GetSecretValue on the secret, kms:Decrypt via Secrets
// Manager). The secret is {"username": ..., "password": ...} and must name the user. Passwords
// are cached for 30 s; the role session is renewed 5 minutes before it expires.
Result<std::unique_ptr<SecretSource>> make_secrets_manager_source(const ProxyConfig& config);

// The source a proxy config names: Secrets Manager (secrets.endpoint) or a secrets file.
Result<std::unique_ptr<SecretSource>> make_secret_source(const ProxyConfig& config);

}  // namespace writegate::proxy
