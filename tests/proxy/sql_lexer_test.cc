// SqlLexer against PostgreSQL's lexical rules (scan.l): each case is the input and the tokens
// expected, as "kind:text" — or the error expected, with its offset.
#include "proxy/sql_lexer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace writegate::proxy {
namespace {

std::string kind_letter(SqlTokenKind kind) {
  switch (kind) {
    case SqlTokenKind::kIdentifier:
      return "id";
    case SqlTokenKind::kQuotedIdentifier:
      return "qid";
    case SqlTokenKind::kString:
      return "str";
    case SqlTokenKind::kDollarString:
      return "dol";
    case SqlTokenKind::kNumber:
      return "num";
    case SqlTokenKind::kParameter:
      return "param";
    case SqlTokenKind::kOperator:
      return "op";
    case SqlTokenKind::kPunctuation:
      return "punct";
    case SqlTokenKind::kSemicolon:
      return "semi";
  }
  return "?";
}

std::vector<std::string> lex_all(std::string_view sql, SqlLexError* error = nullptr,
                                 std::size_t* error_offset = nullptr) {
  std::vector<std::string> out;
  SqlLexer lexer(sql);
  SqlToken token;
  while (lexer.next(token)) {
    EXPECT_EQ(sql.substr(token.offset, token.text.size()), token.text)
        << "offset of " << token.text;
    out.push_back(kind_letter(token.kind) + ":" + std::string(token.text));
  }
  EXPECT_FALSE(lexer.next(token)) << "the end stays the end";
  if (error) *error = lexer.error();
  if (error_offset) *error_offset = lexer.error_offset();
  return out;
}

struct TokenCase {
  const char* name;
  std::string sql;
  std::vector<std::string> tokens;
};

class SqlLexerTokens : public ::testing::TestWithParam<TokenCase> {};

TEST_P(SqlLexerTokens, Tokens) {
  SqlLexError error = SqlLexError::kNone;
  EXPECT_EQ(lex_all(GetParam().sql, &error), GetParam().tokens);
  EXPECT_EQ(error, SqlLexError::kNone);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SqlLexerTokens,
    ::testing::Values(
        TokenCase{"empty", "", {}},
        TokenCase{"only_space_and_comments", " \t\n-- x\n/* y */\f\v", {}},
        TokenCase{"keywords_and_names",
                  "SELECT a_1$x FROM t",
                  {"id:SELECT", "id:a_1$x", "id:FROM", "id:t"}},
        TokenCase{"line_comment_hides_rest_of_line",
                  "SELECT 1 -- ; SET x = 1\n;",
                  {"id:SELECT", "num:1", "semi:;"}},
        TokenCase{"line_comment_ends_at_cr", "a--x\rb", {"id:a", "id:b"}},
        TokenCase{"nested_block_comment", "a /* x /* y */ SET z; */ b", {"id:a", "id:b"}},
        TokenCase{"block_comment_stars", "a/***/b/*/ x */c", {"id:a", "id:b", "id:c"}},
        TokenCase{"string_with_doubled_quote", "'it''s; SET'", {"str:'it''s; SET'"}},
        TokenCase{"standard_string_backslash_is_plain",
                  R"('a\'; SET x = 1; --')",
                  {R"(str:'a\')", "semi:;", "id:SET", "id:x", "op:=", "num:1", "semi:;"}},
        TokenCase{"escape_string_backslash_quote",
                  R"(E'a\'; SET x' ;)",
                  {R"(str:E'a\'; SET x')", "semi:;"}},
        TokenCase{"escape_string_doubled_quote", "e'a''b'", {"str:e'a''b'"}},
        TokenCase{"escape_string_backslash_backslash", R"(E'\\' x)", {R"(str:E'\\')", "id:x"}},
        TokenCase{"prefixed_strings",
                  "B'101' X'1F' N'n' U&'d\\0061t' u&\"x\"",
                  {"str:B'101'", "str:X'1F'", "str:N'n'", "str:U&'d\\0061t'", "qid:u&\"x\""}},
        TokenCase{"bit_string_has_no_doubling", "B'1''0'", {"str:B'1'", "str:'0'"}},
        TokenCase{"prefix_letter_inside_identifier", "abe'x'", {"id:abe", "str:'x'"}},
        TokenCase{"quoted_identifier",
                  "\"Set\" \"a\"\"b\" \"semi;colon\"",
                  {"qid:\"Set\"", "qid:\"a\"\"b\"", "qid:\"semi;colon\""}},
        TokenCase{"dollar_quote_empty_tag", "$$ SET x; $$;", {"dol:$$ SET x; $$", "semi:;"}},
        TokenCase{
            "dollar_quote_tag", "$fn$ a $$ b $x$ c $fn$ d", {"dol:$fn$ a $$ b $x$ c $fn$", "id:d"}},
        TokenCase{"dollar_quote_tag_is_case_sensitive", "$a$ x $A$ y $a$", {"dol:$a$ x $A$ y $a$"}},
        TokenCase{"dollar_inside_identifier_is_not_a_quote", "a$b$ c", {"id:a$b$", "id:c"}},
        TokenCase{"parameters", "$1 + $23", {"param:$1", "op:+", "param:$23"}},
        TokenCase{"lone_dollar", "$ x", {"punct:$", "id:x"}},
        TokenCase{"dollar_without_closing_tag_char", "$a b", {"punct:$", "id:a", "id:b"}},
        TokenCase{"numbers",
                  "1 1.5 .5 1e10 2.5E-3 0x1F 1_000 1..2",
                  {"num:1", "num:1.5", "num:.5", "num:1e10", "num:2.5E-3", "num:0x1F", "num:1_000",
                   "num:1", "punct:..", "num:2"}},
        TokenCase{"operators",
                  "a<=b->>'k' c::int d!=e",
                  {"id:a", "op:<=", "id:b", "op:->>", "str:'k'", "id:c", "punct:::", "id:int",
                   "id:d", "op:!=", "id:e"}},
        TokenCase{"operator_stops_at_comment",
                  "a+/*x*/b *--c\nd",
                  {"id:a", "op:+", "id:b", "op:*", "id:d"}},
        TokenCase{"named_argument_arrow",
                  "f(a => 1)",
                  {"id:f", "punct:(", "id:a", "op:=>", "num:1", "punct:)"}},
        TokenCase{"punctuation",
                  "(a[1],b.c);",
                  {"punct:(", "id:a", "punct:[", "num:1", "punct:]", "punct:,", "id:b", "punct:.",
                   "id:c", "punct:)", "semi:;"}},
        TokenCase{"high_bit_identifier", "SELECT caf\xc3\xa9", {"id:SELECT", "id:caf\xc3\xa9"}},
        TokenCase{"nul_and_control_bytes",
                  std::string("a\0b\x01", 4),
                  {"id:a", std::string("punct:\0", 7), "id:b", "punct:\x01"}}),
    [](const auto& test) { return std::string(test.param.name); });

struct ErrorCase {
  const char* name;
  std::string sql;
  SqlLexError error;
  std::size_t offset;
  std::size_t tokens_before;
};

class SqlLexerErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(SqlLexerErrors, Error) {
  SqlLexError error = SqlLexError::kNone;
  std::size_t offset = 0;
  std::vector<std::string> tokens = lex_all(GetParam().sql, &error, &offset);
  EXPECT_EQ(error, GetParam().error) << sql_lex_error_message(error);
  EXPECT_EQ(offset, GetParam().offset);
  EXPECT_EQ(tokens.size(), GetParam().tokens_before);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SqlLexerErrors,
    ::testing::Values(
        ErrorCase{"string", "SELECT 'abc", SqlLexError::kUnterminatedString, 7, 1},
        ErrorCase{"string_ending_in_doubled_quote", "'a''", SqlLexError::kUnterminatedString, 0, 0},
        ErrorCase{"escape_string_escaped_last_quote", R"(E'a\')", SqlLexError::kUnterminatedString,
                  0, 0},
        ErrorCase{"escape_string_trailing_backslash", "E'a\\", SqlLexError::kUnterminatedString, 0,
                  0},
        ErrorCase{"block_comment", "a /* b", SqlLexError::kUnterminatedBlockComment, 2, 1},
        ErrorCase{"nested_block_comment", "/* /* */", SqlLexError::kUnterminatedBlockComment, 0, 0},
        ErrorCase{"block_comment_lone_star", "/*", SqlLexError::kUnterminatedBlockComment, 0, 0},
        ErrorCase{"quoted_identifier", "x \"ab", SqlLexError::kUnterminatedQuotedIdentifier, 2, 1},
        ErrorCase{"zero_length_identifier", "\"\"", SqlLexError::kZeroLengthQuotedIdentifier, 0, 0},
        ErrorCase{"dollar_quote", "DO $body$ BEGIN $b$", SqlLexError::kUnterminatedDollarQuote, 3,
                  1},
        ErrorCase{"dollar_quote_empty_tag", "$$", SqlLexError::kUnterminatedDollarQuote, 0, 0},
        ErrorCase{"unicode_string", "U&'x", SqlLexError::kUnterminatedString, 0, 0}),
    [](const auto& test) { return std::string(test.param.name); });

TEST(SqlLexer, ErrorIsSticky) {
  SqlLexer lexer("'x");
  SqlToken token;
  EXPECT_FALSE(lexer.next(token));
  EXPECT_FALSE(lexer.next(token));
  EXPECT_EQ(lexer.error(), SqlLexError::kUnterminatedString);
}

TEST(SqlLexer, TokenizeReportsSyntaxError) {
  Result<std::vector<SqlToken>> tokens = tokenize_sql("SELECT $$x");
  ASSERT_FALSE(tokens.ok());
  EXPECT_EQ(tokens.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(tokens.error().subcode(), "42601");
  EXPECT_EQ(tokens.error().message(), "unterminated dollar-quoted string at offset 7");
  Result<std::vector<SqlToken>> ok = tokenize_sql("SELECT 1;");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), 3u);
}

struct NameCase {
  std::string sql;
  std::string name;
};

TEST(SqlLexer, IdentifierNames) {
  for (const NameCase& c :
       {NameCase{"SeT", "set"}, NameCase{"\"SeT\"", "SeT"}, NameCase{"\"a\"\"b\"", "a\"b"},
        NameCase{"U&\"x\"", "x"}, NameCase{"'str'", ""},
        NameCase{R"(U&"\0073et_config")", "set_config"},
        NameCase{R"(U&"caf\00E9 \+01F600 a\\b")", "caf\xc3\xa9 \xf0\x9f\x98\x80 a\\b"},
        NameCase{R"(U&"\00zz")", R"(\00zz)"}, NameCase{R"("\0073")", R"(\0073)"}}) {
    Result<std::vector<SqlToken>> t = tokenize_sql(c.sql);
    ASSERT_TRUE(t.ok() && t->size() == 1) << c.sql;
    EXPECT_EQ((*t)[0].identifier_name(), c.name) << c.sql;
  }
}

TEST(SqlLexer, StringValues) {
  for (const NameCase& c :
       {NameCase{"'a''b'", "a'b"}, NameCase{R"(E'a\'b\n')", "a'b\n"}, NameCase{"'true'", "true"},
        NameCase{R"('a\n')", R"(a\n)"}, NameCase{"B'10'", ""}, NameCase{"x", ""}}) {
    Result<std::vector<SqlToken>> t = tokenize_sql(c.sql);
    ASSERT_TRUE(t.ok() && t->size() == 1) << c.sql;
    EXPECT_EQ((*t)[0].string_value(), c.name) << c.sql;
  }
}

TEST(SqlLexer, KeywordMatchIgnoresCaseOnlyWhenUnquoted) {
  Result<std::vector<SqlToken>> t = tokenize_sql("sEt \"set\" 'set'");
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->size(), 3u);
  EXPECT_TRUE((*t)[0].is_keyword("set"));
  EXPECT_FALSE((*t)[1].is_keyword("set"));
  EXPECT_FALSE((*t)[2].is_keyword("set"));
}

}  // namespace
}  // namespace writegate::proxy
