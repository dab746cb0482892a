#include "common/time.h"

#include <cstdio>

namespace writegate {

namespace {

using namespace std::chrono;

std::string format(SystemTime time, bool millis) {
  const auto ms = floor<milliseconds>(time);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  char text[40];
  int n = std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d",
                        static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                        static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                        static_cast<int>(hms.minutes().count()),
                        static_cast<int>(hms.seconds().count()));
  std::string out(text, n > 0 ? static_cast<size_t>(n) : 0);
  if (millis) {
    std::snprintf(text, sizeof text, ".%03d", static_cast<int>(hms.subseconds().count()));
    out += text;
  }
  out += 'Z';
  return out;
}

bool read_digits(std::string_view text, size_t& pos, size_t count, int& out) {
  if (pos + count > text.size()) return false;
  int value = 0;
  for (size_t i = 0; i < count; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  pos += count;
  out = value;
  return true;
}

}  // namespace

std::string format_iso8601(SystemTime time) {
  return format(time, false);
}

std::string format_iso8601_millis(SystemTime time) {
  return format(time, true);
}

Result<SystemTime> parse_iso8601(std::string_view text) {
  auto bad = [&] {
    return Error::invalid_argument("\"" + std::string(text.substr(0, 64)) +
                                   "\" is not an ISO 8601 date-time");
  };
  size_t pos = 0;
  int y = 0, mo = 0, d = 0, hour = 0, minute = 0, second = 0, millis = 0;
  if (!read_digits(text, pos, 4, y) || pos >= text.size() || text[pos++] != '-' ||
      !read_digits(text, pos, 2, mo) || pos >= text.size() || text[pos++] != '-' ||
      !read_digits(text, pos, 2, d)) {
    return bad();
  }
  int offset_minutes = 0;
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != 't') return bad();
    ++pos;
    if (!read_digits(text, pos, 2, hour) || pos >= text.size() || text[pos++] != ':' ||
        !read_digits(text, pos, 2, minute)) {
      return bad();
    }
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!read_digits(text, pos, 2, second)) return bad();
      if (pos < text.size() && text[pos] == '.') {
        ++pos;
        size_t digits = 0;
        int scale = 100;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
          if (digits < 3) millis += (text[pos] - '0') * scale;
          scale /= 10;
          ++digits;
          ++pos;
        }
        if (digits == 0) return bad();
      }
    }
    if (pos < text.size()) {
      const char zone = text[pos++];
      if (zone == 'Z' || zone == 'z') {
        if (pos != text.size()) return bad();
      } else if (zone == '+' || zone == '-') {
        int oh = 0, om = 0;
        if (!read_digits(text, pos, 2, oh)) return bad();
        if (pos < text.size() && text[pos] == ':') ++pos;
        if (!read_digits(text, pos, 2, om) || pos != text.size() || oh > 23 || om > 59) {
          return bad();
        }
        offset_minutes = (zone == '+' ? 1 : -1) * (oh * 60 + om);
      } else {
        return bad();
      }
    }
  }
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) return bad();
  return SystemTime(sys_days(ymd)) + hours(hour) + minutes(minute) + seconds(second) +
         milliseconds(millis) - minutes(offset_minutes);
}

}  // namespace writegate
