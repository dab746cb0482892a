// SHA-256, HMAC-SHA256, hex and a constant-time compare for the SigV4 code (OpenSSL 3 EVP).
//
// Internal to writegate_sigv4 and its tests/benchmarks; other modules use sigv4.h instead.
//
//   Digest d = sha256("abc");
//   std::string h = to_hex(d);                   // "ba7816bf..."
//   Digest mac = hmac_sha256(key_bytes, "data");
//   std::string_view parts[] = {"GET\n", path, "\n", query};
//   Digest whole = sha256(parts);                // as if hashing the joined text
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/strings.h"

namespace writegate::sigv4::detail {

using Digest = std::array<std::uint8_t, 32>;

Digest sha256(std::string_view data);
// SHA-256 of the concatenation of parts, without making the concatenation.
Digest sha256(std::span<const std::string_view> parts);
Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view data);
// HMAC-SHA256 of the concatenation of parts.
Digest hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::string_view> parts);

// Lowercase hex, 64 characters for a Digest.
std::string to_hex(std::span<const std::uint8_t> bytes);
void append_hex(std::string& out, std::span<const std::uint8_t> bytes);

// True when a and b are equal; the time taken depends only on the lengths (CRYPTO_memcmp).
using writegate::constant_time_equal;

}  // namespace writegate::sigv4::detail
