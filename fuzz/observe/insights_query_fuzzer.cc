// Logs Insights queries, filter patterns and regular expressions from untrusted bytes
// (StartQuery's queryString, FilterLogEvents' filterPattern): parse, and when a query compiles,
// run it over a few fixed events. Must never crash, hang or grow without bound.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "observe/filter_pattern.h"
#include "observe/insights.h"
#include "observe/regex.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace writegate::observe;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static constexpr std::string_view kLines[] = {
      "2026-11-30 21:00:00.123 UTC [7] w@db ERROR:  permission denied for table t",
      R"({"event":"connect","message":"new connection from 127.0.0.1:1 refused"})", "",
      "REPORT RequestId: 1\tDuration: 1.00 ms"};
  auto query = InsightsQuery::parse(text);
  if (auto* q = std::get_if<InsightsQuery>(&query)) {
    QueryRun run(*q);
    EpochMillis t = 1796072400000;
    for (auto line : kLines)
      run.add({t += 61000, line, "s", "0:/g"});
    (void)run.finish(100);
  }
  if (auto pattern = FilterPattern::parse(text)) {
    for (auto line : kLines)
      (void)pattern->matches(line);
  }
  if (auto re = Regex::compile(text)) {
    for (auto line : kLines)
      (void)re->search(line);
    (void)re->search(text);
  }
  return 0;
}
