// The spec parser reads files users (and, in CI, pull requests) write: it must reject anything
// malformed with an error, never crash or hang.
#include <cstdint>
#include <string_view>

#include "spec/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = writegate::spec::parse(text, "fuzz.yaml");
  if (spec) {
    // Whatever parses must print and parse back to the same spec.
    auto again = writegate::spec::parse(writegate::spec::to_yaml(*spec), "again.yaml");
    if (!again || writegate::spec::to_yaml(*again) != writegate::spec::to_yaml(*spec)) {
      __builtin_trap();
    }
  }
  return 0;
}
