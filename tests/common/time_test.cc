#include "common/time.h"

#include <gtest/gtest.h>

namespace writegate {
namespace {

using namespace std::chrono;

SystemTime at(int y, unsigned m, unsigned d, int hh, int mm, int ss, int ms = 0) {
  return SystemTime(sys_days(year{y} / month{m} / day{d})) + hours(hh) + minutes(mm) + seconds(ss) +
         milliseconds(ms);
}

TEST(Iso8601, Formats) {
  EXPECT_EQ(format_iso8601(at(2026, 11, 28, 6, 30, 1, 999)), "2026-11-28T06:30:01Z");
  EXPECT_EQ(format_iso8601_millis(at(2026, 11, 28, 6, 30, 1, 7)), "2026-11-28T06:30:01.007Z");
  EXPECT_EQ(format_iso8601(SystemTime{}), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_iso8601(at(2024, 2, 29, 23, 59, 59)), "2024-02-29T23:59:59Z");
  EXPECT_EQ(format_iso8601(at(1969, 12, 31, 23, 59, 59)), "1969-12-31T23:59:59Z");
}

TEST(Iso8601, ParsesWhatItFormatsAndTheVariantsAwsAccepts) {
  struct Case {
    std::string_view text;
    SystemTime expected;
  };
  const Case cases[] = {
      {"2026-11-28T06:30:01Z", at(2026, 11, 28, 6, 30, 1)},
      {"2026-11-28t06:30:01z", at(2026, 11, 28, 6, 30, 1)},
      {"2026-11-28", at(2026, 11, 28, 0, 0, 0)},
      {"2026-11-28T06:30", at(2026, 11, 28, 6, 30, 0)},
      {"2026-11-28T06:30:01.123456Z", at(2026, 11, 28, 6, 30, 1, 123)},
      {"2026-11-28T07:30:01+01:00", at(2026, 11, 28, 6, 30, 1)},
      {"2026-11-28T01:00:01-0530", at(2026, 11, 28, 6, 30, 1)},
      {"2024-02-29T00:00:00Z", at(2024, 2, 29, 0, 0, 0)},
  };
  for (const Case& c : cases) {
    auto parsed = parse_iso8601(c.text);
    ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.error().message();
    EXPECT_EQ(*parsed, c.expected) << c.text;
  }
  const SystemTime t = at(2031, 7, 4, 12, 0, 9, 250);
  EXPECT_EQ(*parse_iso8601(format_iso8601_millis(t)), t);
}

TEST(Iso8601, RefusesNonDates) {
  for (std::string_view bad :
       {"", "2026", "2026-13-01", "2026-02-30", "2023-02-29", "2026-11-28T24:00:00Z",
        "2026-11-28T06:60:00Z", "2026-11-28T06:30:01.Z", "2026-11-28T06:30:01+25:00",
        "2026-11-28T06:30:01Zjunk", "2026-11-28 06:30:01", "1700000000"}) {
    auto parsed = parse_iso8601(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().message(),
              "\"" + std::string(bad) + "\" is not an ISO 8601 date-time");
  }
}

}  // namespace
}  // namespace writegate
