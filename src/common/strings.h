// Small text helpers used across modules: ASCII case folding, case-insensitive comparison,
// quoting for messages, constant-time comparison. ASCII only on purpose: HTTP header names, AWS
// action names and SigV4 canonical forms are ASCII, and locale-dependent folding would change
// a signature or a policy decision with the environment.
//
//   if (iequals(header.name, "authorization")) ...
//   std::string key = ascii_lowercase("X-Amz-Date");          // "x-amz-date"
//   return Error::invalid_argument(double_quoted(name) + " is not a user name");
//
// SQL quoting lives with the database client (pgclient::quote_ident, quote_literal).
#pragma once

#include <string>
#include <string_view>

namespace writegate {

constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string ascii_lowercase(std::string_view text);

// Equal ignoring ASCII case.
bool iequals(std::string_view a, std::string_view b);

// `text` starts with `prefix`, ignoring ASCII case.
bool istarts_with(std::string_view text, std::string_view prefix);

// "text" in double quotes, for messages (no escaping: not for JSON or SQL).
std::string double_quoted(std::string_view text);

// Equal, in time that depends only on the lengths (for signatures, tokens, keys).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace writegate
