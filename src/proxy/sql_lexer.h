// writegate::proxy::SqlLexer — PostgreSQL's lexical rules (src/backend/parser/scan.l), no parser.
//
// What the pooler needs to find statement boundaries and leading keywords without being fooled
// by text that merely looks like SQL: whitespace and comments (`--` to end of line, `/* */`
// nested) are skipped; '...' strings with '' escapes (standard_conforming_strings on, the
// default since PostgreSQL 9.1: a backslash is an ordinary character), E'...' strings with
// backslash escapes, B'', X'', N'' and U&'...' strings, "quoted identifiers" (with "" escapes)
// and U&"...", $tag$ dollar quotes $tag$, numbers, $n parameters, operators and punctuation.
// Pure and allocation-free: tokens are views into the caller's text, which must outlive them.
//
// Input that cannot be tokenized (an unterminated string, comment, quoted identifier or dollar
// quote; a zero-length quoted identifier) ends the token stream with an error kind and the
// offset where the bad token starts, as PostgreSQL reports "unterminated quoted string at or
// near ...". The lexer never reads past the input, whatever its bytes.
//
//   SqlLexer lexer(sql);
//   SqlToken token;
//   while (lexer.next(token)) {
//     if (token.kind == SqlTokenKind::kSemicolon) ...;
//     if (token.is_keyword("set")) ...;
//   }
//   if (lexer.error() != SqlLexError::kNone) ...;  // lexer.error_offset() says where
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace writegate::proxy {

enum class SqlTokenKind : std::uint8_t {
  kIdentifier,        // unquoted: a keyword or a name, compared case-insensitively
  kQuotedIdentifier,  // "name" or U&"name"; case-sensitive, never a keyword
  kString,            // 'x', E'x', B'x', X'x', N'x', U&'x'
  kDollarString,      // $$x$$, $tag$x$tag$
  kNumber,            // 42, 3.5, .5e-3, 0x1F, 1_000
  kParameter,         // $1
  kOperator,          // + - * / < > = ~ ! @ # % ^ & | ` ? and runs of them (<=, ->>, ...)
  kPunctuation,       // ( ) [ ] , . : ::
  kSemicolon,         // ;
};

std::string_view sql_token_kind_name(SqlTokenKind kind);

struct SqlToken {
  SqlTokenKind kind = SqlTokenKind::kIdentifier;
  std::string_view text;   // the token as written, quotes and prefixes included
  std::size_t offset = 0;  // of text in the lexed input

  // An unquoted identifier spelled `word` in any case (`word` must be lower case ASCII).
  bool is_keyword(std::string_view word) const;
  // The name an identifier denotes: an unquoted one folded to lower case (ASCII, as PostgreSQL
  // does for identifiers), a quoted one with its quotes removed and "" undone. Empty for other
  // kinds. U&"..." has its \XXXX and \+XXXXXX escapes decoded (UTF-8); a UESCAPE clause
  // naming another escape character is not looked at.
  std::string identifier_name() const;
  // The value of a plain '...' or E'...' string ('' and the common backslash escapes undone);
  // empty for other kinds. Good enough for the short literals the classifier inspects.
  std::string string_value() const;
  bool is_punctuation(char c) const {
    return kind == SqlTokenKind::kPunctuation && text.size() == 1 && text[0] == c;
  }
};

enum class SqlLexError : std::uint8_t {
  kNone,
  kUnterminatedBlockComment,      // "unterminated /* comment"
  kUnterminatedString,            // "unterminated quoted string"
  kUnterminatedQuotedIdentifier,  // "unterminated quoted identifier"
  kUnterminatedDollarQuote,       // "unterminated dollar-quoted string"
  kZeroLengthQuotedIdentifier,    // "zero-length delimited identifier"
};

// PostgreSQL's wording of the error, e.g. "unterminated quoted string".
std::string_view sql_lex_error_message(SqlLexError error);

class SqlLexer {
 public:
  explicit SqlLexer(std::string_view input) : input_(input) {}

  // The next token into `token`; false at the end of the input or on an error (then error()
  // is not kNone, and every later call answers false again).
  bool next(SqlToken& token);

  SqlLexError error() const { return error_; }
  // Where the token that could not be finished starts.
  std::size_t error_offset() const { return error_offset_; }

 private:
  bool skip_space_and_comments();  // false: unterminated block comment
  bool fail(SqlLexError error, std::size_t at);
  bool lex_quoted(SqlToken& token, std::size_t start, std::size_t body, char quote,
                  bool backslash_escapes);
  bool lex_dollar_string(SqlToken& token, std::size_t start, std::size_t tag_end);

  std::string_view input_;
  std::size_t pos_ = 0;
  SqlLexError error_ = SqlLexError::kNone;
  std::size_t error_offset_ = 0;
};

// Every token of `sql`, or an invalid_argument error with SQLSTATE 42601 (syntax_error) as its
// subcode, whose message says what is unterminated and where ("unterminated quoted string at
// offset 7").
Result<std::vector<SqlToken>> tokenize_sql(std::string_view sql);

}  // namespace writegate::proxy
