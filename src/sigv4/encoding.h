// Percent-encoding helpers for the hot paths of writegate_sigv4 (token parsing, canonical
// queries). Internal to the module and its tests; other modules use uri_encode()/percent_decode()
// from sigv4.h.
//
// The point of these is to work on text as it arrived, without decoding and re-encoding it: a
// query value that is already in canonical form (exactly what uri_encode() would produce from
// its decoded bytes) can be hashed as it stands.
//
//   if (!has_valid_escapes(raw)) return error;   // then every helper below may be used
//   DecodedText user(raw);                       // a view of raw, or of a decoded copy
//   CanonicalText canon(raw);                    // raw itself when it is already canonical
//   hash(canon.view());
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace writegate::sigv4::detail {

// True when every '%' in text is followed by two hex digits (what percent_decode() accepts).
bool has_valid_escapes(std::string_view text);

// True when text == uri_encode(percent_decode(text)): every byte is unreserved (A-Za-z0-9-_.~)
// or a %XX escape with uppercase hex digits of a byte that is not unreserved.
bool is_canonical_encoding(std::string_view text);

// Appends uri_encode(text, keep_slash) to out (the implementation behind uri_encode()).
void append_encoded(std::string& out, std::string_view text, bool keep_slash = false);

// Appends percent_decode(text) to out. Precondition: has_valid_escapes(text).
void append_percent_decoded(std::string& out, std::string_view text);

// Compares percent_decode(raw) with expected without making the decoded copy. The time taken
// depends only on raw (its length and where its escapes are), never on where the two differ.
// Precondition: has_valid_escapes(raw).
bool decoded_equals_constant_time(std::string_view raw, std::string_view expected);

// percent_decode(raw), borrowed from raw when it holds no escape, else decoded into a small
// inline buffer (or the heap beyond it). Neither copyable nor movable: view() may point into it.
// Precondition: has_valid_escapes(raw).
class DecodedText {
 public:
  DecodedText() = default;
  explicit DecodedText(std::string_view raw) { assign(raw); }
  DecodedText(const DecodedText&) = delete;
  DecodedText& operator=(const DecodedText&) = delete;

  void assign(std::string_view raw);
  std::string_view view() const { return view_; }

 private:
  static constexpr std::size_t kInline = 128;
  std::array<char, kInline> inline_;  // not zeroed: only the first view_.size() bytes are read
  std::string heap_;
  std::string_view view_;
};

// uri_encode(percent_decode(raw)), borrowed from raw when raw is already canonical.
// Precondition: has_valid_escapes(raw).
class CanonicalText {
 public:
  explicit CanonicalText(std::string_view raw);
  CanonicalText(const CanonicalText&) = delete;
  CanonicalText& operator=(const CanonicalText&) = delete;

  std::string_view view() const { return view_; }

 private:
  std::string storage_;
  std::string_view view_;
};

}  // namespace writegate::sigv4::detail
