// CloudWatch Logs filter patterns for unstructured log events (FilterLogEvents' filterPattern,
// `writegate logs tail --filter`):
//
//   ""                      every event
//   ERROR                   events containing ERROR (terms are case-sensitive)
//   ERROR connect           events containing both (AND)
//   "permission denied"     the quoted phrase (double quotes; \" and \\ inside)
//   ?refused ?failed        events containing any of the ?-terms (OR)
//   ERROR -timeout          ERROR but not timeout
//   %authentication fail%   the regular expression between the percent signs (observe/regex.h)
//
// An event matches when it has every plain term, none of the -terms, and (when there are any)
// at least one ?-term. JSON ({ $.x = ... }) and space-delimited ([a, b]) patterns are refused
// with an error saying so.
//
//   auto pattern = FilterPattern::parse("\"authentication failed\" -debug");
//   if (pattern && pattern->matches(line)) ...
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "observe/regex.h"

namespace writegate::observe {

class FilterPattern {
 public:
  // Patterns up to 1024 bytes (CloudWatch's limit).
  static Result<FilterPattern> parse(std::string_view text);
  bool matches(std::string_view message) const;

 private:
  struct Term {
    enum class Kind { kRequired, kAny, kExcluded };
    Kind kind = Kind::kRequired;
    std::string text;
  };
  std::vector<Term> terms_;
  std::vector<Regex> regexes_;
};

}  // namespace writegate::observe
