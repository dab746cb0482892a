#include "proxy/sql_lexer.h"

#include <string>

namespace writegate::proxy {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
// scan.l: ident_start [A-Za-z\200-\377_], ident_cont adds [0-9\$].
bool is_ident_start(char c) {
  return is_alpha(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool is_ident_cont(char c) {
  return is_ident_start(c) || is_digit(c) || c == '$';
}
// Dollar-quote tags: like identifiers, but without '$'.
bool is_tag_cont(char c) {
  return is_ident_start(c) || is_digit(c);
}
// scan.l: op_chars [\~\!\@\#\^\&\|\`\?\+\-\*\/\%\<\>\=]
bool is_op_char(char c) {
  return c != '\0' && std::string_view("~!@#^&|`?+-*/%<>=").find(c) != std::string_view::npos;
}
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
void append_utf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

std::string_view sql_token_kind_name(SqlTokenKind kind) {
  switch (kind) {
    case SqlTokenKind::kIdentifier:
      return "identifier";
    case SqlTokenKind::kQuotedIdentifier:
      return "quoted identifier";
    case SqlTokenKind::kString:
      return "string";
    case SqlTokenKind::kDollarString:
      return "dollar-quoted string";
    case SqlTokenKind::kNumber:
      return "number";
    case SqlTokenKind::kParameter:
      return "parameter";
    case SqlTokenKind::kOperator:
      return "operator";
    case SqlTokenKind::kPunctuation:
      return "punctuation";
    case SqlTokenKind::kSemicolon:
      return "semicolon";
  }
  return "unknown";
}

std::string_view sql_lex_error_message(SqlLexError error) {
  switch (error) {
    case SqlLexError::kNone:
      return "no error";
    case SqlLexError::kUnterminatedBlockComment:
      return "unterminated /* comment";
    case SqlLexError::kUnterminatedString:
      return "unterminated quoted string";
    case SqlLexError::kUnterminatedQuotedIdentifier:
      return "unterminated quoted identifier";
    case SqlLexError::kUnterminatedDollarQuote:
      return "unterminated dollar-quoted string";
    case SqlLexError::kZeroLengthQuotedIdentifier:
      return "zero-length delimited identifier";
  }
  return "unknown error";
}

bool SqlToken::is_keyword(std::string_view word) const {
  if (kind != SqlTokenKind::kIdentifier || text.size() != word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (lower(text[i]) != word[i]) return false;
  }
  return true;
}

std::string SqlToken::identifier_name() const {
  std::string out;
  if (kind == SqlTokenKind::kIdentifier) {
    out.reserve(text.size());
    for (char c : text)
      out.push_back(lower(c));
  } else if (kind == SqlTokenKind::kQuotedIdentifier) {
    std::size_t open = text.find('"');
    const bool unicode = open == 2;  // U&"..."
    // The lexer guarantees "...": an opening and a closing quote.
    std::string_view body = text.substr(open + 1, text.size() - open - 2);
    for (std::size_t i = 0; i < body.size(); ++i) {
      if (unicode && body[i] == '\\') {
        // U&"\0073et" is "set": \XXXX and \+XXXXXX escapes, \\ for a backslash.
        std::size_t digits = (i + 1 < body.size() && body[i + 1] == '+') ? 6 : 4;
        std::size_t first = i + 1 + (digits == 6 ? 1 : 0);
        std::uint32_t code = 0;
        bool ok = first + digits <= body.size();
        for (std::size_t k = 0; ok && k < digits; ++k) {
          int v = hex_value(body[first + k]);
          ok = v >= 0;
          code = code * 16 + static_cast<std::uint32_t>(v < 0 ? 0 : v);
        }
        if (ok && code != 0 && code <= 0x10FFFF) {
          append_utf8(out, code);
          i = first + digits - 1;
          continue;
        }
        if (i + 1 < body.size() && body[i + 1] == '\\') ++i;  // \\ stands for one backslash
      }
      out.push_back(body[i]);
      if (body[i] == '"') ++i;  // "" stands for one "
    }
  }
  return out;
}

std::string SqlToken::string_value() const {
  std::string out;
  if (kind != SqlTokenKind::kString || text.empty()) return out;
  bool escapes = text[0] == 'e' || text[0] == 'E';
  if (text[0] != '\'' && !escapes) return out;  // B'', X'', N'', U&'' are not decoded
  std::string_view body = text.substr(escapes ? 2 : 1, text.size() - (escapes ? 3 : 2));
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '\'') {
      ++i;  // '' stands for one '
    } else if (escapes && c == '\\' && i + 1 < body.size()) {
      char e = body[++i];
      switch (e) {
        case 'n':
          c = '\n';
          break;
        case 't':
          c = '\t';
          break;
        case 'r':
          c = '\r';
          break;
        case 'b':
          c = '\b';
          break;
        case 'f':
          c = '\f';
          break;
        default:
          c = e;
          break;  // \\, \', and octal/hex/unicode escapes kept as their letter
      }
    }
    out.push_back(c);
  }
  return out;
}

bool SqlLexer::fail(SqlLexError error, std::size_t at) {
  error_ = error;
  error_offset_ = at;
  pos_ = input_.size();
  return false;
}

bool SqlLexer::skip_space_and_comments() {
  const std::size_t n = input_.size();
  while (pos_ < n) {
    char c = input_[pos_];
    if (is_space(c)) {
      ++pos_;
    } else if (c == '-' && pos_ + 1 < n && input_[pos_ + 1] == '-') {
      while (pos_ < n && input_[pos_] != '\n' && input_[pos_] != '\r')
        ++pos_;
    } else if (c == '/' && pos_ + 1 < n && input_[pos_ + 1] == '*') {
      // Block comments nest, unlike the SQL standard's.
      std::size_t start = pos_;
      std::size_t depth = 1;
      pos_ += 2;
      while (depth > 0) {
        if (pos_ + 1 >= n) return fail(SqlLexError::kUnterminatedBlockComment, start);
        if (input_[pos_] == '/' && input_[pos_ + 1] == '*') {
          ++depth;
          pos_ += 2;
        } else if (input_[pos_] == '*' && input_[pos_ + 1] == '/') {
          --depth;
          pos_ += 2;
        } else {
          ++pos_;
        }
      }
    } else {
      return true;
    }
  }
  return true;
}

bool SqlLexer::lex_quoted(SqlToken& token, std::size_t start, std::size_t body, char quote,
                          bool backslash_escapes) {
  const std::size_t n = input_.size();
  const bool identifier = quote == '"';
  // B'' and X'' end at the first quote: they have no '' escape (it would be a second string).
  const bool doubling = !(input_[start] == 'b' || input_[start] == 'B' || input_[start] == 'x' ||
                          input_[start] == 'X');
  std::size_t i = body;
  for (;;) {
    if (i >= n) {
      return fail(identifier ? SqlLexError::kUnterminatedQuotedIdentifier
                             : SqlLexError::kUnterminatedString,
                  start);
    }
    char c = input_[i];
    if (backslash_escapes && c == '\\') {
      i += 2;  // the escaped character, whatever it is (a quote included)
    } else if (c == quote) {
      if (doubling && i + 1 < n && input_[i + 1] == quote) {
        i += 2;
      } else {
        break;
      }
    } else {
      ++i;
    }
  }
  if (identifier && i == body) return fail(SqlLexError::kZeroLengthQuotedIdentifier, start);
  pos_ = i + 1;
  token.kind = identifier ? SqlTokenKind::kQuotedIdentifier : SqlTokenKind::kString;
  token.offset = start;
  token.text = input_.substr(start, pos_ - start);
  return true;
}

bool SqlLexer::lex_dollar_string(SqlToken& token, std::size_t start, std::size_t tag_end) {
  // input_[start, tag_end] is the opening delimiter "$tag$"; the body ends at the same delimiter.
  std::string_view delimiter = input_.substr(start, tag_end + 1 - start);
  std::size_t close = input_.find(delimiter, tag_end + 1);
  if (close == std::string_view::npos) return fail(SqlLexError::kUnterminatedDollarQuote, start);
  pos_ = close + delimiter.size();
  token.kind = SqlTokenKind::kDollarString;
  token.offset = start;
  token.text = input_.substr(start, pos_ - start);
  return true;
}

bool SqlLexer::next(SqlToken& token) {
  if (error_ != SqlLexError::kNone) return false;
  if (!skip_space_and_comments()) return false;
  const std::size_t n = input_.size();
  if (pos_ >= n) return false;
  const std::size_t start = pos_;
  const char c = input_[start];
  const char c1 = start + 1 < n ? input_[start + 1] : '\0';
  const char c2 = start + 2 < n ? input_[start + 2] : '\0';
  auto emit = [&](SqlTokenKind kind, std::size_t end) {
    token.kind = kind;
    token.offset = start;
    token.text = input_.substr(start, end - start);
    pos_ = end;
    return true;
  };

  // Strings and quoted identifiers, with their prefixes.
  if (c == '\'') return lex_quoted(token, start, start + 1, '\'', false);
  if (c == '"') return lex_quoted(token, start, start + 1, '"', false);
  if (c1 == '\'') {
    if (c == 'e' || c == 'E') return lex_quoted(token, start, start + 2, '\'', true);
    if (c == 'b' || c == 'B' || c == 'x' || c == 'X' || c == 'n' || c == 'N') {
      return lex_quoted(token, start, start + 2, '\'', false);
    }
  }
  if ((c == 'u' || c == 'U') && c1 == '&' && (c2 == '\'' || c2 == '"')) {
    return lex_quoted(token, start, start + 3, c2, false);
  }

  if (is_ident_start(c)) {
    std::size_t i = start + 1;
    while (i < n && is_ident_cont(input_[i]))
      ++i;
    return emit(SqlTokenKind::kIdentifier, i);
  }

  if (c == '$') {
    if (is_digit(c1)) {
      std::size_t i = start + 1;
      while (i < n && is_digit(input_[i]))
        ++i;
      return emit(SqlTokenKind::kParameter, i);
    }
    if (c1 == '$') return lex_dollar_string(token, start, start + 1);
    if (is_ident_start(c1)) {
      std::size_t i = start + 1;
      while (i < n && is_tag_cont(input_[i]))
        ++i;
      if (i < n && input_[i] == '$') return lex_dollar_string(token, start, i);
    }
    // scan.l's dolqfailed: the "$" alone, the rest lexed again.
    return emit(SqlTokenKind::kPunctuation, start + 1);
  }

  if (is_digit(c) || (c == '.' && is_digit(c1))) {
    std::size_t i = start;
    if (c == '0' && (c1 == 'x' || c1 == 'X' || c1 == 'o' || c1 == 'O' || c1 == 'b' || c1 == 'B')) {
      i += 2;
      while (i < n && (is_digit(input_[i]) || is_alpha(input_[i]) || input_[i] == '_'))
        ++i;
      return emit(SqlTokenKind::kNumber, i);
    }
    while (i < n && (is_digit(input_[i]) || input_[i] == '_'))
      ++i;
    // "1..5" is 1 followed by "..": a '.' belongs to the number only when not doubled.
    if (i < n && input_[i] == '.' && !(i + 1 < n && input_[i + 1] == '.')) {
      ++i;
      while (i < n && (is_digit(input_[i]) || input_[i] == '_'))
        ++i;
    }
    if (i < n && (input_[i] == 'e' || input_[i] == 'E')) {
      std::size_t j = i + 1;
      if (j < n && (input_[j] == '+' || input_[j] == '-')) ++j;
      if (j < n && is_digit(input_[j])) {
        while (j < n && is_digit(input_[j]))
          ++j;
        i = j;
      }
    }
    return emit(SqlTokenKind::kNumber, i);
  }

  if (c == ';') return emit(SqlTokenKind::kSemicolon, start + 1);
  // "::" (a cast) and ".." (scan.l's DOT_DOT, as in "1..2") are one token each.
  if ((c == ':' && c1 == ':') || (c == '.' && c1 == '.')) {
    return emit(SqlTokenKind::kPunctuation, start + 2);
  }

  if (is_op_char(c)) {
    // A run of operator characters, cut before a comment start inside it ("a*/*x*/b").
    std::size_t i = start + 1;
    while (i < n && is_op_char(input_[i])) {
      if ((input_[i] == '-' && i + 1 < n && input_[i + 1] == '-') ||
          (input_[i] == '/' && i + 1 < n && input_[i + 1] == '*')) {
        break;
      }
      ++i;
    }
    return emit(SqlTokenKind::kOperator, i);
  }

  // ( ) [ ] , . : and anything PostgreSQL's grammar would reject later: one character each.
  return emit(SqlTokenKind::kPunctuation, start + 1);
}

Result<std::vector<SqlToken>> tokenize_sql(std::string_view sql) {
  std::vector<SqlToken> tokens;
  SqlLexer lexer(sql);
  SqlToken token;
  while (lexer.next(token))
    tokens.push_back(token);
  if (lexer.error() != SqlLexError::kNone) {
    return Error::invalid_argument(std::string(sql_lex_error_message(lexer.error())) +
                                   " at offset " + std::to_string(lexer.error_offset()))
        .with_subcode("42601");
  }
  return tokens;
}

}  // namespace writegate::proxy
