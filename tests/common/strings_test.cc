#include "common/strings.h"

#include <gtest/gtest.h>

namespace writegate {
namespace {

TEST(Strings, AsciiCaseFolding) {
  EXPECT_EQ(ascii_lower('A'), 'a');
  EXPECT_EQ(ascii_lower('z'), 'z');
  EXPECT_EQ(ascii_lower('['), '[');  // just after 'Z'
  EXPECT_EQ(ascii_lower('@'), '@');  // just before 'A'
  EXPECT_EQ(ascii_lowercase("X-Amz-Date: 1"), "x-amz-date: 1");
  // Bytes outside ASCII are left alone (no locale).
  EXPECT_EQ(ascii_lowercase("\xC3\x89t\xC3\xA9"), "\xC3\x89t\xC3\xA9");
  EXPECT_EQ(ascii_lowercase(""), "");
}

TEST(Strings, CaseInsensitiveComparison) {
  struct Case {
    std::string_view a, b;
    bool equal;
  };
  const Case cases[] = {
      {"Authorization", "authorization", true},
      {"rds-db:Connect", "RDS-DB:connect", true},
      {"", "", true},
      {"a", "", false},
      {"abc", "abd", false},
      {"[", "{", false},
      {"\xC3\x89", "\xC3\xA9", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(iequals(c.a, c.b), c.equal) << c.a << " vs " << c.b;
  }
  EXPECT_TRUE(istarts_with("Application/X-WWW-Form-Urlencoded; charset=utf-8",
                           "application/x-www-form-urlencoded"));
  EXPECT_FALSE(istarts_with("app", "application"));
  EXPECT_TRUE(istarts_with("anything", ""));
}

TEST(Strings, QuotingAndConstantTimeEquality) {
  EXPECT_EQ(double_quoted("alice"), "\"alice\"");
  EXPECT_EQ(double_quoted(""), "\"\"");
  EXPECT_TRUE(constant_time_equal("signature", "signature"));
  EXPECT_FALSE(constant_time_equal("signature", "signaturf"));
  EXPECT_FALSE(constant_time_equal("sig", "signature"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

}  // namespace
}  // namespace writegate
