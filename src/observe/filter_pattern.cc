#include "observe/filter_pattern.h"

#include <algorithm>

namespace writegate::observe {

Result<FilterPattern> FilterPattern::parse(std::string_view text) {
  if (text.size() > 1024) {
    return Error::invalid_argument("the filter pattern is longer than 1024 bytes");
  }
  FilterPattern pattern;
  std::size_t i = 0;
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (i < text.size()) {
    while (i < text.size() && space(text[i]))
      ++i;
    if (i >= text.size()) break;
    const char first = text[i];
    if (first == '{' || first == '[') {
      return Error::invalid_argument(
          "JSON ({ ... }) and space-delimited ([ ... ]) filter patterns are not supported here; "
          "use terms, \"quoted phrases\", ?any, -exclude or %regex%");
    }
    if (first == '%') {
      const std::size_t end = text.find('%', i + 1);
      if (end == std::string_view::npos) {
        return Error::invalid_argument("the filter pattern's %regex% has no closing %");
      }
      WG_ASSIGN_OR_RETURN(Regex re, Regex::compile(text.substr(i + 1, end - i - 1)));
      pattern.regexes_.push_back(std::move(re));
      i = end + 1;
      continue;
    }
    Term term;
    if (first == '?' || first == '-') {
      term.kind = first == '?' ? Term::Kind::kAny : Term::Kind::kExcluded;
      ++i;
    }
    if (i < text.size() && text[i] == '"') {
      ++i;
      bool closed = false;
      while (i < text.size()) {
        char c = text[i++];
        if (c == '\\' && i < text.size()) {
          term.text += text[i++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          term.text += c;
        }
      }
      if (!closed) return Error::invalid_argument("the filter pattern has an unterminated \"");
    } else {
      while (i < text.size() && !space(text[i]))
        term.text += text[i++];
    }
    if (term.text.empty()) {
      return Error::invalid_argument("the filter pattern has an empty term at offset " +
                                     std::to_string(i));
    }
    pattern.terms_.push_back(std::move(term));
  }
  return pattern;
}

bool FilterPattern::matches(std::string_view message) const {
  bool any_seen = false;
  bool any_hit = false;
  for (const Term& t : terms_) {
    const bool has = message.find(t.text) != std::string_view::npos;
    switch (t.kind) {
      case Term::Kind::kRequired:
        if (!has) return false;
        break;
      case Term::Kind::kExcluded:
        if (has) return false;
        break;
      case Term::Kind::kAny:
        any_seen = true;
        any_hit = any_hit || has;
        break;
    }
  }
  if (any_seen && !any_hit) return false;
  return std::all_of(regexes_.begin(), regexes_.end(),
                     [&](const Regex& re) { return re.search(message); });
}

}  // namespace writegate::observe
