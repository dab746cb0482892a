// Credentials and identifiers from a CSPRNG (OpenSSL RAND_bytes), in the formats AWS uses.
//
//   auto id = writegate::iam::new_access_key_id(writegate::iam::KeyKind::kLongTerm);  // AKIA...
//   auto secret = writegate::iam::new_secret_access_key();                           // 40 chars
//   if (!id || !secret) return ...;  // RAND_bytes failed
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace writegate::iam {

enum class KeyKind { kLongTerm, kTemporary };

// `length` characters drawn uniformly from `alphabet` (at most 256 distinct characters).
Result<std::string> random_string(size_t length, std::string_view alphabet);
// "AKIA" (long-term) or "ASIA" (STS) + 16 characters of [A-Z2-7].
Result<std::string> new_access_key_id(KeyKind kind);
// 40 characters of [A-Za-z0-9+/].
Result<std::string> new_secret_access_key();
// An opaque STS session token (base64 of 128 random bytes).
Result<std::string> new_session_token();
// "AIDA" / "AROA" + 16 characters of [A-Z2-7]: IAM unique ids of users and roles.
Result<std::string> new_unique_id(std::string_view prefix);
// "prx-" + 17 lowercase hex digits.
Result<std::string> new_proxy_resource_id();
// "cluster-" + 26 characters of [A-Z0-9] (an Aurora DbClusterResourceId).
Result<std::string> new_cluster_resource_id();
// A KMS key id: a random (version 4) UUID.
Result<std::string> new_kms_key_id();

bool is_access_key_id(std::string_view text);  // AKIA/ASIA + 16 of [A-Z2-7]

}  // namespace writegate::iam
