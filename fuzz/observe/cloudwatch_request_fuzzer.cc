// CloudWatch query-API requests (GetMetricStatistics, GetMetricData) come from any signed
// caller: the form decoding and both request parsers must take any bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "observe/cloudwatch_service.h"
#include "sigv4/sigv4.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string form(reinterpret_cast<const char*>(data), size);
  for (char& c : form)
    if (c == '+') c = ' ';
  auto params = writegate::sigv4::parse_query(form);
  if (!params) return 0;
  (void)writegate::observe::parse_metric_statistics_request(*params);
  (void)writegate::observe::parse_metric_data_request(*params);
  return 0;
}
