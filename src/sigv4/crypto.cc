#include "sigv4/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>
#include <memory>

namespace writegate::sigv4::detail {
namespace {

constexpr std::size_t kBlockSize = 64;  // SHA-256 block size, the HMAC pad length

// The fetched SHA-256 implementation, once per process: EVP_get_digestbyname-style lookups on
// every call cost more than hashing a short canonical request.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// One digest context per thread, reset for every use.
EVP_MD_CTX* thread_ctx() {
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  return ctx.get();
}

// Hashes prefix followed by the parts. Failure of OpenSSL's SHA-256 on in-memory data means
// the library is broken (allocation failure); the digest is then all zero and can never match.
Digest hash_parts(std::string_view prefix, std::span<const std::string_view> parts) {
  Digest out{};
  EVP_MD_CTX* ctx = thread_ctx();
  if (ctx == nullptr || sha256_md() == nullptr) return out;
  if (EVP_DigestInit_ex2(ctx, sha256_md(), nullptr) != 1) return out;
  if (!prefix.empty() && EVP_DigestUpdate(ctx, prefix.data(), prefix.size()) != 1) return Digest{};
  for (std::string_view part : parts) {
    if (part.empty()) continue;
    if (EVP_DigestUpdate(ctx, part.data(), part.size()) != 1) return Digest{};
  }
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != out.size()) return Digest{};
  return out;
}

std::string_view as_view(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace

Digest sha256(std::string_view data) {
  return hash_parts({}, {&data, 1});
}

Digest sha256(std::span<const std::string_view> parts) {
  return hash_parts({}, parts);
}

Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view data) {
  return hmac_sha256(key, {&data, 1});
}

Digest hmac_sha256(std::span<const std::uint8_t> key, std::span<const std::string_view> parts) {
  // RFC 2104 written out over the cached EVP digest: HMAC() in OpenSSL 3 fetches the algorithm
  // on every call, which would dominate the cost of signing a token.
  std::array<std::uint8_t, kBlockSize> block{};
  if (key.size() > kBlockSize) {
    Digest hashed = sha256(as_view(key));
    std::memcpy(block.data(), hashed.data(), hashed.size());
  } else {
    std::memcpy(block.data(), key.data(), key.size());
  }
  std::array<std::uint8_t, kBlockSize> ipad{};
  std::array<std::uint8_t, kBlockSize> opad{};
  for (std::size_t i = 0; i < kBlockSize; ++i) {
    ipad[i] = block[i] ^ 0x36;
    opad[i] = block[i] ^ 0x5c;
  }
  Digest inner = hash_parts(as_view(ipad), parts);
  std::string_view inner_view = as_view(inner);
  Digest outer = hash_parts(as_view(opad), {&inner_view, 1});
  OPENSSL_cleanse(block.data(), block.size());
  OPENSSL_cleanse(ipad.data(), ipad.size());
  OPENSSL_cleanse(opad.data(), opad.size());
  return outer;
}

void append_hex(std::string& out, std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::size_t at = out.size();
  out.resize(at + bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out[at++] = kDigits[b >> 4];
    out[at++] = kDigits[b & 0xf];
  }
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string out;
  append_hex(out, bytes);
  return out;
}

}  // namespace writegate::sigv4::detail
