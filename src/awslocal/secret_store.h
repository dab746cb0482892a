// The secrets of the local Secrets Manager, kept in STATE_DIR/secretsmanager/secrets.json
// (folder 0700, file 0600) with every value encrypted at rest (AES-256-GCM, LocalKmsKey) under
// the store's local KMS key, bound to the secret's ARN and version id. Plaintext values exist
// only in memory, only for the caller that asked.
//
// Secret ARNs are made as AWS makes them: arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX
// (6 random characters). A secret id may be the name, the full ARN, or the ARN without the
// random suffix. Writers take an flock and replace the file atomically; readers re-read it, so
// `writegate secrets put` is seen by a running endpoint at once.
//
//   auto secrets = SecretStore::open(".writegate/state");   // region, account, key from iam
//   (void)secrets->create("aurora-master-secret", SecretPayload::text(json), "", now);
//   auto value = secrets->get_value("aurora-master-secret");
//   if (value) use(value->secret_string->reveal());         // never log it
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awslocal/kms.h"
#include "common/result.h"
#include "common/secret_string.h"

namespace writegate::awslocal {

using SecretClock = std::chrono::system_clock;

inline constexpr std::string_view kCurrentStage = "AWSCURRENT";
inline constexpr std::string_view kPreviousStage = "AWSPREVIOUS";

// The value of a secret: text (SecretString) or bytes (SecretBinary).
// The plaintext is a SecretString: wiped when the payload goes.
struct SecretPayload {
  bool binary = false;
  SecretString data;
  static SecretPayload text(SecretString value) { return {false, std::move(value)}; }
  static SecretPayload bytes(SecretString value) { return {true, std::move(value)}; }
};

struct SecretVersionInfo {
  std::string version_id;  // a UUID
  std::vector<std::string> stages;
  SecretClock::time_point created;
};

struct SecretMetadata {
  std::string name;
  std::string arn;
  std::string description;
  std::string kms_key_arn;
  SecretClock::time_point created;
  SecretClock::time_point last_changed;
  std::vector<SecretVersionInfo> versions;  // newest first
};

struct SecretValue {
  std::string name;
  std::string arn;
  std::string version_id;
  std::vector<std::string> stages;
  SecretClock::time_point created;
  std::optional<SecretString> secret_string;  // wiped when the value goes
  std::optional<SecretString> secret_binary;  // raw bytes; wiped when the value goes
};

// Secret names: 1..512 of A-Za-z0-9/_+=.@- (as Secrets Manager).
Status validate_secret_name(std::string_view name);

class SecretStore {
 public:
  // Region, account and KMS key id come from the IAM store in STATE_DIR (made by `writegate iam
  // seed`); a store without a KMS key id gets one. The key file is created on first use.
  static Result<std::unique_ptr<SecretStore>> open(const std::string& state_dir);
  // Explicit settings (tests, tools).
  static Result<std::unique_ptr<SecretStore>> open(const std::string& state_dir, std::string region,
                                                   std::string account, std::string kms_key_id);
  static std::string file_path(const std::string& state_dir);

  const LocalKmsKey& key() const { return key_; }
  const std::string& region() const { return region_; }
  const std::string& account() const { return account_; }
  // arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME (no suffix): what a policy sees for a
  // secret id that names no secret.
  std::string partial_arn(std::string_view name) const;

  // not_found ("Secrets Manager can't find the specified secret.") when there is none.
  Result<SecretMetadata> describe(std::string_view secret_id) const;
  std::vector<SecretMetadata> list() const;
  // Errors: not_found; failed_precondition with subcode "DecryptionFailure" when the stored
  // ciphertext does not decrypt (altered file, another key).
  Result<SecretValue> get_value(std::string_view secret_id, std::string_view version_id = {},
                                std::string_view version_stage = {}) const;

  // Creates a secret with a first AWSCURRENT version; already_exists if the name is taken.
  Result<SecretMetadata> create(std::string_view name, const SecretPayload& value,
                                std::string_view description, SecretClock::time_point now);
  // A new AWSCURRENT version (the old one becomes AWSPREVIOUS); returns the new version id.
  Result<std::string> put_value(std::string_view secret_id, const SecretPayload& value,
                                SecretClock::time_point now);
  // create() or put_value(), whichever applies (the admin command).
  Result<SecretMetadata> upsert(std::string_view name, const SecretPayload& value,
                                SecretClock::time_point now);

 private:
  SecretStore(std::string state_dir, std::string region, std::string account, LocalKmsKey key)
      : state_dir_(std::move(state_dir)),
        region_(std::move(region)),
        account_(std::move(account)),
        key_(std::move(key)) {}
  struct Data;
  Result<Data> load() const;
  Status save(const Data& data) const;
  Result<std::string> seal(const std::string& arn, const std::string& version_id,
                           const SecretPayload& value) const;

  std::string state_dir_;
  std::string region_;
  std::string account_;
  LocalKmsKey key_;
};

}  // namespace writegate::awslocal
