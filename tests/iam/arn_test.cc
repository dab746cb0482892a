#include "iam/arn.h"

#include <gtest/gtest.h>

namespace writegate::iam {
namespace {

TEST(Arn, ParseAndFormat) {
  auto arn = parse_arn("arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/w");
  ASSERT_TRUE(arn.ok()) << arn.error().message();
  EXPECT_EQ(arn->partition, "aws");
  EXPECT_EQ(arn->service, "rds-db");
  EXPECT_EQ(arn->region, "us-east-1");
  EXPECT_EQ(arn->account, "123456789012");
  EXPECT_EQ(arn->resource, "dbuser:prx-0123456789abcdef0/w");
  EXPECT_EQ(arn->to_string(),
            "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/w");
}

TEST(Arn, ParseErrors) {
  EXPECT_EQ(parse_arn("arn:aws:iam::123").error().message(),
            "ARN \"arn:aws:iam::123\" has 5 ':'-separated parts; expected "
            "arn:partition:service:region:account:resource");
  EXPECT_EQ(parse_arn("urn:aws:iam::1:x").error().message(),
            "ARN \"urn:aws:iam::1:x\" does not start with \"arn:\"");
  EXPECT_EQ(parse_arn("arn::iam::1:x").error().message(),
            "ARN \"arn::iam::1:x\" has an empty partition");
  EXPECT_EQ(parse_arn("arn:aws:::1:x").error().message(),
            "ARN \"arn:aws:::1:x\" has an empty service");
  EXPECT_EQ(parse_arn("arn:aws:iam::1:").error().message(),
            "ARN \"arn:aws:iam::1:\" has an empty resource");
}

TEST(Arn, Builders) {
  EXPECT_EQ(user_arn("123456789012", "alice"), "arn:aws:iam::123456789012:user/alice");
  EXPECT_EQ(role_arn("123456789012", "r"), "arn:aws:iam::123456789012:role/r");
  EXPECT_EQ(account_root_arn("123456789012"), "arn:aws:iam::123456789012:root");
  EXPECT_EQ(assumed_role_arn("123456789012", "r", "s"),
            "arn:aws:sts::123456789012:assumed-role/r/s");
  EXPECT_EQ(rds_db_user_arn("eu-west-1", "123456789012", "prx-0123456789abcdef0", "lambda_writer"),
            "arn:aws:rds-db:eu-west-1:123456789012:dbuser:prx-0123456789abcdef0/lambda_writer");
}

TEST(Arn, Ids) {
  EXPECT_TRUE(is_proxy_resource_id("prx-0123456789abcdef0"));
  EXPECT_FALSE(is_proxy_resource_id("prx-0123456789abcdef"));    // 16 digits
  EXPECT_FALSE(is_proxy_resource_id("prx-0123456789ABCDEF0"));   // upper case
  EXPECT_FALSE(is_proxy_resource_id("prxy-0123456789abcdef0"));  // the document's typo
  EXPECT_TRUE(is_account_id("000000000000"));
  EXPECT_FALSE(is_account_id("12345678901"));
  EXPECT_FALSE(is_account_id("12345678901a"));
}

TEST(Arn, WildcardMatch) {
  EXPECT_TRUE(wildcard_match("*", ""));
  EXPECT_TRUE(wildcard_match("a*c", "abbbc"));
  EXPECT_TRUE(wildcard_match("a?c", "abc"));
  EXPECT_FALSE(wildcard_match("a?c", "ac"));
  EXPECT_TRUE(wildcard_match("*a*b*", "xxaxxbxx"));
  EXPECT_FALSE(wildcard_match("*a*b", "xxaxxbxxc"));
  EXPECT_TRUE(wildcard_match("\\*", "*"));
  EXPECT_FALSE(wildcard_match("\\*", "x"));
  EXPECT_TRUE(wildcard_match("S3:get*", "s3:GetObject", true));
  EXPECT_FALSE(wildcard_match("S3:get*", "s3:GetObject", false));
}

TEST(Arn, ResourceMatchFollowsSegments) {
  // A trailing * in a segment crosses ':' (IAM User Guide, Resource element).
  EXPECT_TRUE(resource_matches("arn:aws:s3:*", "arn:aws:s3:::bucket/key"));
  EXPECT_TRUE(resource_matches("arn:aws:logs:*:*:log-group:*",
                               "arn:aws:logs:us-east-1:1:log-group:g:log-stream:s"));
  // A * inside a segment does not.
  EXPECT_FALSE(
      resource_matches("arn:aws:rds-db:r:1:dbuser:prx-*/u", "arn:aws:rds-db:r:1:dbuser:prx-a:b/u"));
  EXPECT_TRUE(
      resource_matches("arn:aws:rds-db:r:1:dbuser:prx-*/u", "arn:aws:rds-db:r:1:dbuser:prx-ab/u"));
  EXPECT_FALSE(resource_matches("arn:aws:iam::1:user/a?c", "arn:aws:iam::1:user/a:c"));
  EXPECT_TRUE(resource_matches("arn:aws:iam::1:user/a?c", "arn:aws:iam::1:user/abc"));
  EXPECT_TRUE(resource_matches("*", "anything"));
  EXPECT_FALSE(resource_matches("arn:aws:s3:::B/*", "arn:aws:s3:::b/x"));  // case-sensitive
}

TEST(Arn, ArnLike) {
  EXPECT_TRUE(arn_like("arn:aws:iam::*:role/x", "arn:aws:iam::123456789012:role/x"));
  EXPECT_FALSE(arn_like("arn:aws:iam::*:role/x", "arn:aws:iam::123456789012:role/y"));
  EXPECT_FALSE(arn_like("arn:aws:*:role/x", "arn:aws:iam::123456789012:role/x"));
  EXPECT_TRUE(arn_like("arn:aws:logs:*:*:*", "arn:aws:logs:us-east-1:1:log-group:g:x"));
}

}  // namespace
}  // namespace writegate::iam
