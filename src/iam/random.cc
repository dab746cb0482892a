#include "iam/random.h"

#include <openssl/rand.h>

#include <vector>

namespace writegate::iam {
namespace {

constexpr std::string_view kBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::string_view kBase64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kHex = "0123456789abcdef";

Status fill_random(unsigned char* data, size_t size) {
  if (RAND_bytes(data, static_cast<int>(size)) != 1) {
    return Error::internal("the system random generator (OpenSSL RAND_bytes) failed");
  }
  return {};
}

}  // namespace

Result<std::string> random_string(size_t length, std::string_view alphabet) {
  if (alphabet.empty() || alphabet.size() > 256) {
    return Error::internal("random_string: alphabet must have 1..256 characters");
  }
  // Rejection sampling keeps every character equally likely.
  const unsigned limit = 256 - (256 % alphabet.size());
  std::string out;
  out.reserve(length);
  std::vector<unsigned char> buffer(length + 16);
  while (out.size() < length) {
    WG_RETURN_IF_ERROR(fill_random(buffer.data(), buffer.size()));
    for (unsigned char byte : buffer) {
      if (byte >= limit) continue;
      out.push_back(alphabet[byte % alphabet.size()]);
      if (out.size() == length) break;
    }
  }
  return out;
}

Result<std::string> new_access_key_id(KeyKind kind) {
  WG_ASSIGN_OR_RETURN(auto tail, random_string(16, kBase32));
  return std::string(kind == KeyKind::kLongTerm ? "AKIA" : "ASIA") + tail;
}

Result<std::string> new_secret_access_key() {
  return random_string(40, kBase64);
}

Result<std::string> new_session_token() {
  unsigned char bytes[128];
  WG_RETURN_IF_ERROR(fill_random(bytes, sizeof bytes));
  std::string out;
  for (size_t i = 0; i < sizeof bytes; i += 3) {
    uint32_t chunk = (uint32_t{bytes[i]} << 16) |
                     (i + 1 < sizeof bytes ? uint32_t{bytes[i + 1]} << 8 : 0) |
                     (i + 2 < sizeof bytes ? uint32_t{bytes[i + 2]} : 0);
    out.push_back(kBase64[(chunk >> 18) & 63]);
    out.push_back(kBase64[(chunk >> 12) & 63]);
    out.push_back(i + 1 < sizeof bytes ? kBase64[(chunk >> 6) & 63] : '=');
    out.push_back(i + 2 < sizeof bytes ? kBase64[chunk & 63] : '=');
  }
  return out;
}

Result<std::string> new_unique_id(std::string_view prefix) {
  WG_ASSIGN_OR_RETURN(auto tail, random_string(16, kBase32));
  return std::string(prefix) + tail;
}

Result<std::string> new_proxy_resource_id() {
  WG_ASSIGN_OR_RETURN(auto tail, random_string(17, kHex));
  return "prx-" + tail;
}

Result<std::string> new_cluster_resource_id() {
  WG_ASSIGN_OR_RETURN(auto tail, random_string(26, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"));
  return "cluster-" + tail;
}

Result<std::string> new_kms_key_id() {
  unsigned char bytes[16];
  WG_RETURN_IF_ERROR(fill_random(bytes, sizeof bytes));
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);
  std::string out;
  for (size_t i = 0; i < sizeof bytes; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 15]);
  }
  return out;
}

bool is_access_key_id(std::string_view text) {
  if (text.size() != 20) return false;
  if (text.substr(0, 4) != "AKIA" && text.substr(0, 4) != "ASIA") return false;
  for (char c : text.substr(4)) {
    if (kBase32.find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace writegate::iam
