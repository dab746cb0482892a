#include "sigv4/encoding.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace writegate::sigv4::detail {
namespace {

constexpr std::array<bool, 256> make_unreserved() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
  }
  return t;
}
constexpr std::array<bool, 256> kUnreserved = make_unreserved();

// Hex digit value, or -1.
constexpr std::array<std::int8_t, 256> make_hex() {
  std::array<std::int8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = (c >= '0' && c <= '9')   ? static_cast<std::int8_t>(c - '0')
           : (c >= 'a' && c <= 'f') ? static_cast<std::int8_t>(c - 'a' + 10)
           : (c >= 'A' && c <= 'F') ? static_cast<std::int8_t>(c - 'A' + 10)
                                    : std::int8_t{-1};
  }
  return t;
}
constexpr std::array<std::int8_t, 256> kHex = make_hex();

int hex_at(std::string_view text, std::size_t i) {
  return kHex[static_cast<unsigned char>(text[i])];
}

bool is_upper_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

}  // namespace

bool has_valid_escapes(std::string_view text) {
  for (std::size_t i = text.find('%'); i != std::string_view::npos; i = text.find('%', i + 3)) {
    if (i + 2 >= text.size() || hex_at(text, i + 1) < 0 || hex_at(text, i + 2) < 0) return false;
  }
  return true;
}

bool is_canonical_encoding(std::string_view text) {
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (kUnreserved[c]) continue;
    if (c != '%' || i + 2 >= n || !is_upper_hex(text[i + 1]) || !is_upper_hex(text[i + 2])) {
      return false;
    }
    auto decoded = static_cast<unsigned char>(hex_at(text, i + 1) * 16 + hex_at(text, i + 2));
    if (kUnreserved[decoded]) return false;  // an over-encoded letter, digit or -_.~
    i += 2;
  }
  return true;
}

void append_percent_decoded(std::string& out, std::string_view text) {
  std::size_t at = out.size();
  out.resize(at + text.size());  // decoding never grows the text
  char* dst = out.data() + at;
  std::size_t i = 0;
  while (i < text.size()) {
    const void* pct = std::memchr(text.data() + i, '%', text.size() - i);
    std::size_t run =
        pct == nullptr ? text.size() - i : static_cast<const char*>(pct) - text.data() - i;
    std::memcpy(dst, text.data() + i, run);
    dst += run;
    i += run;
    if (i >= text.size()) break;
    // has_valid_escapes() holds: two hex digits follow.
    *dst++ = static_cast<char>(hex_at(text, i + 1) * 16 + hex_at(text, i + 2));
    i += 3;
  }
  out.resize(static_cast<std::size_t>(dst - out.data()));
}

bool decoded_equals_constant_time(std::string_view raw, std::string_view expected) {
  std::size_t escapes = 0;
  for (char c : raw)
    escapes += c == '%' ? 1 : 0;
  if (raw.size() - 2 * escapes != expected.size()) return false;
  unsigned char diff = 0;
  std::size_t j = 0;
  for (std::size_t i = 0; i < raw.size(); ++j) {
    unsigned char byte;
    if (raw[i] == '%') {
      byte = static_cast<unsigned char>(hex_at(raw, i + 1) * 16 + hex_at(raw, i + 2));
      i += 3;
    } else {
      byte = static_cast<unsigned char>(raw[i]);
      i += 1;
    }
    diff |= static_cast<unsigned char>(byte ^ static_cast<unsigned char>(expected[j]));
  }
  return diff == 0;
}

void DecodedText::assign(std::string_view raw) {
  if (raw.find('%') == std::string_view::npos) {
    view_ = raw;
    return;
  }
  heap_.clear();
  append_percent_decoded(heap_, raw);
  if (heap_.size() <= inline_.size()) {
    std::memcpy(inline_.data(), heap_.data(), heap_.size());
    view_ = std::string_view(inline_.data(), heap_.size());
  } else {
    view_ = heap_;
  }
}

CanonicalText::CanonicalText(std::string_view raw) {
  if (is_canonical_encoding(raw)) {
    view_ = raw;
    return;
  }
  std::string decoded;
  append_percent_decoded(decoded, raw);
  storage_.reserve(decoded.size() * 3);
  append_encoded(storage_, decoded);
  view_ = storage_;
}

void append_encoded(std::string& out, std::string_view text, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  const std::size_t at = out.size();
  out.resize(at + text.size() * 3);  // the worst case: every byte escaped
  char* dst = out.data() + at;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (kUnreserved[c] || (keep_slash && c == '/')) {
      *dst++ = ch;
    } else {
      dst[0] = '%';
      dst[1] = kDigits[c >> 4];
      dst[2] = kDigits[c & 0xf];
      dst += 3;
    }
  }
  out.resize(static_cast<std::size_t>(dst - out.data()));
}

}  // namespace writegate::sigv4::detail
