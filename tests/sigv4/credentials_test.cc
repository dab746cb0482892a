// The AWS credential and region chain, with a fake environment and fake files.
#include "sigv4/credentials.h"

#include <gtest/gtest.h>

#include <map>

namespace writegate::sigv4 {
namespace {

struct FakeWorld {
  std::map<std::string, std::string> vars{{"HOME", "/home/u"}};
  std::map<std::string, std::string> files;
  Environment env() const {
    Environment e;
    e.get = [this](std::string_view n) -> std::optional<std::string> {
      auto it = vars.find(std::string(n));
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
    e.read_file = [this](const std::string& p) -> Result<std::optional<std::string>> {
      auto it = files.find(p);
      if (it == files.end()) return std::optional<std::string>();
      return std::optional<std::string>(it->second);
    };
    return e;
  }
};

constexpr const char* kCredentialsFile = R"([default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = defaultsecret

[dev]
aws_access_key_id=AKIADEV
aws_secret_access_key=devsecret
aws_session_token = devtoken
)";

constexpr const char* kConfigFile = R"(# comment
[default]
region = eu-west-1
[profile cfgonly]
region = ap-south-1
aws_access_key_id = AKIACFG
aws_secret_access_key = cfgsecret
s3 =
  max_concurrent_requests = 10
[profile dev]
region = us-west-2
)";

FakeWorld world() {
  FakeWorld w;
  w.files["/home/u/.aws/credentials"] = kCredentialsFile;
  w.files["/home/u/.aws/config"] = kConfigFile;
  return w;
}

TEST(Credentials, EnvironmentFirst) {
  FakeWorld w = world();
  w.vars["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  w.vars["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  w.vars["AWS_SESSION_TOKEN"] = "envtoken";
  w.vars["AWS_PROFILE"] = "dev";  // AWS_PROFILE does not beat env credentials
  auto c = resolve_credentials(w.env(), "");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->credentials.access_key_id, "AKIAENV");
  EXPECT_EQ(c->credentials.session_token, "envtoken");
  EXPECT_EQ(c->source, "environment");
}

TEST(Credentials, ExplicitProfileBeatsEnvironment) {
  FakeWorld w = world();
  w.vars["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  w.vars["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  auto c = resolve_credentials(w.env(), "dev");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->credentials.access_key_id, "AKIADEV");
  EXPECT_EQ(c->credentials.session_token, "devtoken");
  EXPECT_EQ(c->source, "shared credentials file /home/u/.aws/credentials (profile dev)");
}

TEST(Credentials, ProfileFromAwsProfileThenDefault) {
  FakeWorld w = world();
  auto d = resolve_credentials(w.env(), "");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->credentials.access_key_id, "AKIADEFAULT");
  EXPECT_EQ(d->credentials.session_token, "");
  w.vars["AWS_PROFILE"] = "cfgonly";
  auto c = resolve_credentials(w.env(), "");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->credentials.access_key_id, "AKIACFG");
  EXPECT_EQ(c->source, "config file /home/u/.aws/config (profile cfgonly)");
}

TEST(Credentials, FileLocationsFromEnvironment) {
  FakeWorld w;
  w.vars["AWS_SHARED_CREDENTIALS_FILE"] = "/etc/creds";
  w.files["/etc/creds"] =
      "[default]\naws_access_key_id=A\naws_secret_access_key=B\n"
      "aws_security_token=OLD\naws_session_token=NEW\n";
  auto c = resolve_credentials(w.env(), "");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->credentials.access_key_id, "A");
  EXPECT_EQ(c->credentials.session_token, "OLD");  // botocore reads aws_security_token first
}

TEST(Credentials, PreciseErrors) {
  FakeWorld w = world();
  auto missing = resolve_credentials(w.env(), "nosuch");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message(), "the config profile (nosuch) could not be found");

  FakeWorld partial = world();
  partial.vars["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  auto p = resolve_credentials(partial.env(), "");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().message(),
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both or neither");

  FakeWorld none;
  auto n = resolve_credentials(none.env(), "");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code(), ErrorCode::kNotFound);

  FakeWorld broken;
  broken.files["/home/u/.aws/credentials"] = "[default\n";
  auto b = resolve_credentials(broken.env(), "");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().message(),
            "reading /home/u/.aws/credentials: line 1: section header without ']'");

  FakeWorld half;
  half.files["/home/u/.aws/credentials"] = "[default]\naws_access_key_id=A\n";
  auto h = resolve_credentials(half.env(), "");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().message(),
            "/home/u/.aws/credentials [default] has only one of "
            "aws_access_key_id and aws_secret_access_key");
}

TEST(Region, EnvironmentThenConfig) {
  FakeWorld w = world();
  EXPECT_EQ(*resolve_region(w.env(), ""), "eu-west-1");
  EXPECT_EQ(*resolve_region(w.env(), "dev"), "us-west-2");
  w.vars["AWS_PROFILE"] = "cfgonly";
  EXPECT_EQ(*resolve_region(w.env(), ""), "ap-south-1");
  w.vars["AWS_DEFAULT_REGION"] = "sa-east-1";
  EXPECT_EQ(*resolve_region(w.env(), ""), "sa-east-1");
  w.vars["AWS_REGION"] = "ca-central-1";
  EXPECT_EQ(*resolve_region(w.env(), ""), "ca-central-1");
  FakeWorld none;
  EXPECT_EQ(*resolve_region(none.env(), ""), "");
}

TEST(Ini, SkipsNestedBlocksAndComments) {
  auto s = parse_aws_ini(kConfigFile);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->at("profile cfgonly").at("region"), "ap-south-1");
  EXPECT_EQ(s->at("profile cfgonly").count("max_concurrent_requests"), 0u);
  auto bad = parse_aws_ini("key=value\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "line 1: key outside of any [section]");
}

}  // namespace
}  // namespace writegate::sigv4
