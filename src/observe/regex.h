// A small regular-expression matcher for the untrusted patterns of Logs Insights queries
// (`filter @message like /authentication failed/`) and FilterLogEvents (`%regex%`): a Pike VM
// over bytes, so matching is linear in the text's length for every pattern (no backtracking, no
// recursion on the input; a query cannot make the endpoint spin or overflow its stack).
//
//   auto re = Regex::compile("(?i)permission denied for (table|schema) \\w+");
//   if (!re) return re.error();                    // says what and where, e.g. "unmatched ("
//   bool hit = re->search(line);                  // anywhere in line, like RE2::PartialMatch
//
// Syntax (the RE2/ECMAScript subset log queries use): literals, `.`, classes `[a-z_]`/`[^...]`,
// escapes \d \D \w \W \s \S and escaped punctuation, `^` `$`, groups `(...)` `(?:...)`, `|`,
// `*` `+` `?` `{m}` `{m,}` `{m,n}` (lazy `?` suffix accepted; only match/no match is computed),
// and a leading `(?i)` for case-insensitive matching. Backreferences and lookaround are errors.
#pragma once

#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace writegate::observe {

class Regex {
 public:
  // Limits: pattern ≤ 4096 bytes, nesting ≤ 64, program ≤ 20000 instructions, {m,n} ≤ 1000.
  static Result<Regex> compile(std::string_view pattern);

  // True when the pattern matches somewhere in text.
  bool search(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  enum class Op : uint8_t { kSet, kSplit, kJump, kBegin, kEnd, kMatch };
  struct Inst {
    Op op = Op::kMatch;
    int x = 0;  // kSplit/kJump target; kSet: index into sets_
    int y = 0;  // kSplit second target
  };
  friend class RegexCompiler;

  std::string pattern_;
  std::vector<Inst> program_;
  std::vector<std::bitset<256>> sets_;
};

}  // namespace writegate::observe
