// Log lines from the stack's files (a client's user name ends up in the proxy's and PostgreSQL's
// logs): the timestamp parsers of every format must take any bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "observe/logs.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace writegate::observe;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  for (LogFormat f : {LogFormat::kJsonTime, LogFormat::kPostgres, LogFormat::kLambda}) {
    if (auto t = line_timestamp(f, line)) (void)format_insights_time(*t);
  }
  (void)parse_postgres_timestamp(line);
  return 0;
}
