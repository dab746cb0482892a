// Fuzzes the SQL lexer and the pinning classifier with arbitrary query text. Beyond not
// crashing, the invariants a pooler relies on: tokens lie inside the input, in order, without
// overlap, each non-empty and beginning where it says; after an error nothing more comes and the
// error points inside the input; classify() agrees with the lexer on errors, keeps statement
// texts inside the input, and gives a reason and a message exactly when it pins. query_digest()
// (debug logging) is capped, empty after a lexing error, and shows no string literal: no single
// quote unless a quoted name holds one.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/pinning.h"
#include "proxy/sql_lexer.h"

namespace {

[[noreturn]] void invariant_failed(const char* what) {
  std::fprintf(stderr, "sql lexer fuzz invariant failed: %s\n", what);
  std::abort();
}

#define WG_FUZZ_CHECK(cond)               \
  do {                                    \
    if (!(cond)) invariant_failed(#cond); \
  } while (false)

bool inside(std::string_view outer, std::string_view inner) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace writegate::proxy;
  std::string_view sql(reinterpret_cast<const char*>(data), size);

  SqlLexer lexer(sql);
  SqlToken token;
  std::size_t end = 0;
  std::size_t count = 0;
  bool quote_in_name = false;
  while (lexer.next(token)) {
    WG_FUZZ_CHECK(!token.text.empty());
    WG_FUZZ_CHECK(token.offset >= end);
    WG_FUZZ_CHECK(token.offset + token.text.size() <= sql.size());
    WG_FUZZ_CHECK(token.text.data() == sql.data() + token.offset);
    end = token.offset + token.text.size();
    ++count;
    WG_FUZZ_CHECK(count <= sql.size());
    switch (token.kind) {
      case SqlTokenKind::kString:
        WG_FUZZ_CHECK(token.text.size() >= 2 && token.text.back() == '\'');
        (void)token.string_value();
        break;
      case SqlTokenKind::kQuotedIdentifier:
        WG_FUZZ_CHECK(token.text.size() >= 3 && token.text.back() == '"');
        WG_FUZZ_CHECK(!token.identifier_name().empty());
        quote_in_name |= token.text.find('\'') != std::string_view::npos;
        break;
      case SqlTokenKind::kDollarString:
        WG_FUZZ_CHECK(token.text.size() >= 4 && token.text.front() == '$' &&
                      token.text.back() == '$');
        break;
      case SqlTokenKind::kSemicolon:
        WG_FUZZ_CHECK(token.text == ";");
        break;
      case SqlTokenKind::kIdentifier:
        WG_FUZZ_CHECK(token.identifier_name().size() == token.text.size());
        break;
      default:
        break;
    }
  }
  const SqlLexError error = lexer.error();
  if (error != SqlLexError::kNone) {
    WG_FUZZ_CHECK(lexer.error_offset() < sql.size());
    WG_FUZZ_CHECK(lexer.error_offset() >= end);
  }
  WG_FUZZ_CHECK(!lexer.next(token));
  WG_FUZZ_CHECK(lexer.error() == error);

  Classification c = classify(sql);
  WG_FUZZ_CHECK(c.pins == (c.reason != PinReason::kNone));
  WG_FUZZ_CHECK(c.pins == !c.message.empty());
  if (error != SqlLexError::kNone) WG_FUZZ_CHECK(c.pins);
  WG_FUZZ_CHECK(c.pins || c.digest.empty());
  WG_FUZZ_CHECK(c.digest.size() <= 203);
  WG_FUZZ_CHECK(c.statements.size() <= count);
  bool any_pins = false;
  bool any_scoped = false;
  for (const StatementClassification& s : c.statements) {
    WG_FUZZ_CHECK(!s.text.empty() && inside(sql, s.text));
    WG_FUZZ_CHECK((s.effect == StatementEffect::kPins) == (s.reason != PinReason::kNone));
    any_pins |= s.effect == StatementEffect::kPins;
    any_scoped |= s.effect == StatementEffect::kTransactionScoped;
  }
  WG_FUZZ_CHECK(any_scoped == c.transaction_scoped_state);
  if (any_pins) WG_FUZZ_CHECK(c.pins);
  const std::string digest = query_digest(sql);
  WG_FUZZ_CHECK(digest.size() <= 203);
  if (error != SqlLexError::kNone) WG_FUZZ_CHECK(digest.empty());
  if (!quote_in_name) WG_FUZZ_CHECK(digest.find('\'') == std::string::npos);
  // The same text classifies the same way (no hidden state).
  Classification again = classify(sql);
  WG_FUZZ_CHECK(again.reason == c.reason && again.statements.size() == c.statements.size());
  return 0;
}
