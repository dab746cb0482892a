// Secrets Manager on the local AWS endpoint (JSON 1.1, X-Amz-Target: secretsmanager.<Op>):
// GetSecretValue, DescribeSecret, and as an admin path CreateSecret and PutSecretValue.
//
// GetSecretValue is allowed only when the caller's identity policies allow
// secretsmanager:GetSecretValue on the secret's ARN AND kms:Decrypt on the local KMS key's ARN
// with kms:ViaService = secretsmanager.REGION.amazonaws.com (plus kms:CallerAccount and
// kms:EncryptionContext:SecretARN / :SecretVersionId), as the architecture document's proxy
// role policy expects. Secret values never appear in logs or errors.
//
//   auto secrets = SecretStore::open(state_dir);
//   router.add(std::make_shared<SecretsManagerService>(std::move(*secrets)));
#pragma once

#include <memory>

#include "awslocal/router.h"
#include "awslocal/secret_store.h"

namespace writegate::awslocal {

class SecretsManagerService : public Service {
 public:
  explicit SecretsManagerService(std::shared_ptr<SecretStore> secrets);
  const ServiceRoute& route() const override { return route_; }
  ApiResult handle(const ServiceCall& call) override;

  // "secretsmanager.us-east-1.amazonaws.com"
  static std::string via_service(std::string_view region);

 private:
  ServiceRoute route_;
  std::shared_ptr<SecretStore> secrets_;
};

}  // namespace writegate::awslocal
