// ISO 8601 date-times in UTC, with <chrono> (no gmtime/strftime, no time zone database).
//
//   format_iso8601(now)          -> "2026-11-28T06:30:01Z"     (AWS's Expiration, CreateDate)
//   format_iso8601_millis(now)   -> "2026-11-28T06:30:01.123Z" (log lines)
//   parse_iso8601("2026-11-28T07:30:01+01:00")  -> the same instant as "...06:30:01Z"
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"

namespace writegate {

using SystemTime = std::chrono::system_clock::time_point;

// Seconds precision (the fraction is truncated), 'Z' for UTC.
std::string format_iso8601(SystemTime time);
// Milliseconds precision (truncated), 'Z' for UTC.
std::string format_iso8601_millis(SystemTime time);

// YYYY-MM-DD, optionally followed by T (or t) hh:mm[:ss[.fraction]] and a zone: Z, +hh:mm,
// +hhmm or -...; no zone means UTC. Fractions beyond milliseconds are truncated. Leap second
// 60 is accepted (as the next second). The error names the text.
Result<SystemTime> parse_iso8601(std::string_view text);

}  // namespace writegate
