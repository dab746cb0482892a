// SigV4 signing keys, derived and cached per (secret key, date, region, service).
//
// Deriving a signing key costs four HMACs; a proxy verifying thousands of tokens a second for
// the same few keys should pay that once a day per key. The cache is thread-safe and bounded:
// when full, the oldest entry is dropped. Secrets are kept only as a SHA-256 fingerprint.
//
//   SigningKeyCache cache(1024);
//   SigningKey key = cache.get(secret, "20260102", "us-east-1", "rds-db");
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace writegate::sigv4 {

struct SigningKey {
  std::array<std::uint8_t, 32> bytes{};
};

// HMAC chain: kDate = HMAC("AWS4"+secret, date), kRegion, kService, HMAC(kService, "aws4_request").
SigningKey derive_signing_key(std::string_view secret_access_key, std::string_view date,
                              std::string_view region, std::string_view service);

class SigningKeyCache {
 public:
  explicit SigningKeyCache(std::size_t capacity = 4096);
  SigningKeyCache(const SigningKeyCache&) = delete;
  SigningKeyCache& operator=(const SigningKeyCache&) = delete;
  ~SigningKeyCache();

  SigningKey get(std::string_view secret_access_key, std::string_view date, std::string_view region,
                 std::string_view service);

  std::size_t size() const;
  std::size_t capacity() const { return capacity_; }
  std::uint64_t hits() const;
  std::uint64_t misses() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, SigningKey> entries_;
  std::deque<std::string> order_;  // insertion order, for eviction
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
};

}  // namespace writegate::sigv4
