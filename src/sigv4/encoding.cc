#include "sigv4/encoding.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace writegate::sigv4::detail {
namespace {

constexpr std::array<std::uint8_t, 256> make_unreserved() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
    t[c] = keep ? 1 : 0;
  }
  return t;
}
// 1 for the bytes uri_encode() keeps (bytes, not bools: run_length() ANDs eight of them).
constexpr std::array<std::uint8_t, 256> kUnreserved = make_unreserved();

constexpr std::array<std::uint8_t, 256> make_unreserved_or_slash() {
  std::array<std::uint8_t, 256> t = make_unreserved();
  t['/'] = 1;
  return t;
}
constexpr std::array<std::uint8_t, 256> kUnreservedOrSlash = make_unreserved_or_slash();

// The length of the run of bytes at the start of [p, end) that `table` accepts. Tokens are
// mostly long runs of base64 letters, so test eight bytes per branch.
std::size_t run_length(const unsigned char* p, const unsigned char* end,
                       const std::array<std::uint8_t, 256>& table) {
  const unsigned char* start = p;
  while (end - p >= 8 && (table[p[0]] & table[p[1]] & table[p[2]] & table[p[3]] & table[p[4]] &
                          table[p[5]] & table[p[6]] & table[p[7]])) {
    p += 8;
  }
  while (p < end && table[*p])
    ++p;
  return static_cast<std::size_t>(p - start);
}

const unsigned char* bytes_of(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

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
  const unsigned char* p = bytes_of(text);
  const unsigned char* end = p + text.size();
  while (true) {
    p += run_length(p, end, kUnreserved);
    if (p == end) return true;
    if (*p != '%' || end - p < 3 || !is_upper_hex(static_cast<char>(p[1])) ||
        !is_upper_hex(static_cast<char>(p[2]))) {
      return false;
    }
    auto decoded = static_cast<unsigned char>(kHex[p[1]] * 16 + kHex[p[2]]);
    if (kUnreserved[decoded]) return false;  // an over-encoded letter, digit or -_.~
    p += 3;
  }
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
  for (std::size_t i = raw.find('%'); i != std::string_view::npos; i = raw.find('%', i + 3))
    ++escapes;
  if (raw.size() - 2 * escapes != expected.size()) return false;
  // Runs between escapes are compared a word at a time; the work done depends only on raw.
  std::uint64_t diff = 0;
  const char* e = expected.data();
  std::size_t i = 0;
  while (i < raw.size()) {
    const void* pct = std::memchr(raw.data() + i, '%', raw.size() - i);
    std::size_t run =
        pct == nullptr ? raw.size() - i : static_cast<const char*>(pct) - raw.data() - i;
    std::size_t k = 0;
    for (; k + 8 <= run; k += 8) {
      std::uint64_t a, b;
      std::memcpy(&a, raw.data() + i + k, 8);
      std::memcpy(&b, e + k, 8);
      diff |= a ^ b;
    }
    for (; k < run; ++k)
      diff |= static_cast<unsigned char>(raw[i + k] ^ e[k]);
    i += run;
    e += run;
    if (i >= raw.size()) break;
    // has_valid_escapes() holds: two hex digits follow.
    auto byte = static_cast<unsigned char>(hex_at(raw, i + 1) * 16 + hex_at(raw, i + 2));
    diff |= static_cast<unsigned char>(byte ^ static_cast<unsigned char>(*e));
    ++e;
    i += 3;
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
  const std::array<std::uint8_t, 256>& keep = keep_slash ? kUnreservedOrSlash : kUnreserved;
  const unsigned char* p = bytes_of(text);
  const unsigned char* end = p + text.size();
  while (p < end) {
    std::size_t run = run_length(p, end, keep);
    out.append(reinterpret_cast<const char*>(p), run);
    p += run;
    if (p == end) break;
    const char escape[3] = {'%', kDigits[*p >> 4], kDigits[*p & 0xf]};
    out.append(escape, 3);
    ++p;
  }
}

}  // namespace writegate::sigv4::detail
