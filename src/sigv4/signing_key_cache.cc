#include "sigv4/signing_key_cache.h"

#include <openssl/crypto.h>

#include "sigv4/crypto.h"

namespace writegate::sigv4 {

SigningKey derive_signing_key(std::string_view secret_access_key, std::string_view date,
                              std::string_view region, std::string_view service) {
  std::string first_key = "AWS4";
  first_key.append(secret_access_key);
  auto bytes = [](const std::string& s) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  detail::Digest k = detail::hmac_sha256(bytes(first_key), date);
  OPENSSL_cleanse(first_key.data(), first_key.size());
  k = detail::hmac_sha256(k, region);
  k = detail::hmac_sha256(k, service);
  k = detail::hmac_sha256(k, "aws4_request");
  SigningKey key;
  key.bytes = k;
  return key;
}

SigningKeyCache::SigningKeyCache(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

SigningKeyCache::~SigningKeyCache() {
  for (auto& [name, key] : entries_)
    OPENSSL_cleanse(key.bytes.data(), key.bytes.size());
}

SigningKey SigningKeyCache::get(std::string_view secret_access_key, std::string_view date,
                                std::string_view region, std::string_view service) {
  // The map key holds a fingerprint of the secret, never the secret itself.
  detail::Digest fingerprint = detail::sha256(secret_access_key);
  std::string id(reinterpret_cast<const char*>(fingerprint.data()), fingerprint.size());
  id.append(date).push_back('\n');
  id.append(region).push_back('\n');
  id.append(service);
  {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(id); it != entries_.end()) {
      ++hits_;
      return it->second;
    }
    ++misses_;
  }
  SigningKey key = derive_signing_key(secret_access_key, date, region, service);
  std::lock_guard lock(mutex_);
  if (entries_.emplace(id, key).second) {
    order_.push_back(std::move(id));
    while (entries_.size() > capacity_) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
  }
  return key;
}

std::size_t SigningKeyCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}
std::uint64_t SigningKeyCache::hits() const {
  std::lock_guard lock(mutex_);
  return hits_;
}
std::uint64_t SigningKeyCache::misses() const {
  std::lock_guard lock(mutex_);
  return misses_;
}

}  // namespace writegate::sigv4
