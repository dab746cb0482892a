// The sampler parses what writegate-proxy's admin listener answers: any bytes must be accepted
// or refused without a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "observe/prometheus_text.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)writegate::observe::parse_prometheus_text(
      std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
