// Hand-written wire bytes for the pgwire tests, built without the encoder under test.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace writegate::pgwire::testing {

inline std::string be16(uint16_t v) {
  return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}
inline std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff),
          static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}
// A NUL-terminated string.
inline std::string cstr(std::string_view s) {
  return std::string(s) + '\0';
}
// A typed message: type byte, Int32 length (body + 4), body.
inline std::string typed(char type, std::string_view body) {
  return std::string(1, type) + be32(static_cast<uint32_t>(body.size() + 4)) + std::string(body);
}
// An untyped first packet: Int32 length (body + 4), body.
inline std::string untyped(std::string_view body) {
  return be32(static_cast<uint32_t>(body.size() + 4)) + std::string(body);
}

}  // namespace writegate::pgwire::testing
