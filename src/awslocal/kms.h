// The local KMS key of the Secrets Manager emulation: AES-256-GCM envelopes under a 256-bit key
// kept in STATE_DIR/kms/<key-id>.key (folder 0700, file 0600, 32 raw bytes).
//
// The key id is a UUID (the IAM store's settings().kms_key_id, made by `writegate iam seed`);
// its ARN is arn:aws:kms:REGION:ACCOUNT:key/<uuid>, the resource of kms:Decrypt in the proxy
// role's policy. Every envelope is bound to its key and to an encryption context (Secrets
// Manager uses SecretARN and SecretVersionId, as AWS does): a changed byte, another secret's
// context or another key makes decrypt() fail.
//
// Envelope: "WGK1" | u8 n | key id (n bytes) | 12-byte nonce | ciphertext | 16-byte GCM tag.
// AAD:      "writegate-kms-v1" | key ARN | each context pair, each field length-prefixed.
//
//   auto key = LocalKmsKey::open_or_create(".writegate/state", key_id, "us-east-1", account);
//   auto sealed = key->encrypt("{\"password\":\"...\"}", {{"SecretARN", arn}});
//   auto plain = key->decrypt(*sealed, {{"SecretARN", arn}});   // or failed_precondition
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/result.h"

namespace writegate::awslocal {

using EncryptionContext = std::map<std::string, std::string>;

inline constexpr size_t kKmsKeyBytes = 32;

class LocalKmsKey {
 public:
  // Loads STATE_DIR/kms/<key_id>.key, creating it (CSPRNG, 0600) when missing.
  static Result<LocalKmsKey> open_or_create(const std::string& state_dir, std::string_view key_id,
                                            std::string_view region, std::string_view account);
  // Loads an existing key; not_found when there is none.
  static Result<LocalKmsKey> open(const std::string& state_dir, std::string_view key_id,
                                  std::string_view region, std::string_view account);
  // From raw key bytes (tests). The material must be exactly 32 bytes.
  static Result<LocalKmsKey> from_material(std::string_view key_id, std::string_view key_arn,
                                           std::string material);
  static std::string key_path(const std::string& state_dir, std::string_view key_id);
  static std::string key_arn(std::string_view region, std::string_view account,
                             std::string_view key_id);

  LocalKmsKey(LocalKmsKey&&) noexcept = default;
  LocalKmsKey& operator=(LocalKmsKey&&) noexcept = default;
  LocalKmsKey(const LocalKmsKey&) = default;
  LocalKmsKey& operator=(const LocalKmsKey&) = default;
  ~LocalKmsKey();  // wipes the key material

  const std::string& key_id() const { return key_id_; }
  const std::string& arn() const { return arn_; }

  // A fresh random nonce per call.
  Result<std::string> encrypt(std::string_view plaintext, const EncryptionContext& context) const;
  // Errors: invalid_argument (not an envelope), failed_precondition with subcode
  // "IncorrectKeyException" (another key) or "InvalidCiphertextException" (altered ciphertext or
  // another encryption context). Never shows plaintext.
  Result<std::string> decrypt(std::string_view envelope, const EncryptionContext& context) const;

 private:
  LocalKmsKey(std::string key_id, std::string arn, std::string material)
      : key_id_(std::move(key_id)), arn_(std::move(arn)), material_(std::move(material)) {}
  std::string aad(const EncryptionContext& context) const;

  std::string key_id_;
  std::string arn_;
  std::string material_;  // 32 bytes; secret
};

// Base64 (standard alphabet, padded), for envelopes kept in JSON.
std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);

// A UUID made of lowercase hex in 8-4-4-4-12 form.
bool is_uuid(std::string_view text);

}  // namespace writegate::awslocal
