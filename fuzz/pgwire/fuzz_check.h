// Shared by the pgwire fuzz targets: invariants that must hold for any input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/result.h"
#include "pgwire/encode.h"

namespace writegate::pgwire::fuzz {

[[noreturn]] inline void invariant_failed(const char* what, const std::string& detail) {
  std::fprintf(stderr, "pgwire fuzz invariant failed: %s: %s\n", what, detail.c_str());
  std::abort();
}

#define WG_FUZZ_CHECK(cond, detail)                                            \
  do {                                                                         \
    if (!(cond)) ::writegate::pgwire::fuzz::invariant_failed(#cond, (detail)); \
  } while (false)

inline std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff),
          static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}

// The wire bytes a typed message with this body has ('\0' type: an untyped first packet).
inline std::string frame_bytes(char type, std::string_view body) {
  std::string out;
  if (type != '\0') out.push_back(type);
  out += be32(static_cast<uint32_t>(body.size() + 4));
  out += body;
  return out;
}

// What a parser accepts, the builder writes back byte for byte.
template <typename T>
void check_round_trip(const Result<T>& parsed, char type, std::string_view body) {
  if (!parsed.ok()) return;
  Result<std::string> bytes = encode(*parsed);
  WG_FUZZ_CHECK(bytes.ok(), bytes.ok() ? "" : bytes.error().to_string());
  WG_FUZZ_CHECK(*bytes == frame_bytes(type, body), std::string(1, type));
}

// The control byte at the front of every input: how to chunk the stream, and a mode bit.
struct Control {
  size_t chunk = 0;  // 0: the whole stream at once
  bool mode = false;
};
inline Control control(uint8_t b) {
  return {static_cast<size_t>(b & 0x0f), (b & 0x10) != 0};
}

}  // namespace writegate::pgwire::fuzz
