// Runs every case folder of tests/sigv4/cases (aws-c-auth's aws-signing-test-suite layout):
// signs request.txt with context.json's credentials and checks each intermediate against the
// files (header-canonical-request.txt, header-string-to-sign.txt, header-signature.txt, the
// Authorization of header-signed-request.txt; the query-* files for presigning), then
// verifies the signed requests, also with their query parameters reversed.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sigv4/sigv4.h"

namespace writegate::sigv4 {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path cases_dir() {
  const char* src = std::getenv("WRITEGATE_SOURCE_DIR");
  return fs::path(src ? src : ".") / "tests" / "sigv4" / "cases";
}

// "GET /path?query HTTP/1.1\nName:value\n...\n\nbody" -> HttpRequest (query decoded).
HttpRequest parse_request_file(const std::string& text) {
  HttpRequest r;
  std::size_t head_end = text.find("\n\n");
  std::string head = text.substr(0, head_end);
  r.body = head_end == std::string::npos ? "" : text.substr(head_end + 2);
  std::istringstream lines(head);
  std::string line;
  std::getline(lines, line);
  std::size_t sp = line.find(' ');
  std::size_t last = line.rfind(' ');
  r.method = line.substr(0, sp);
  std::string target = line.substr(sp + 1, last - sp - 1);
  std::size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) {
    auto params = parse_query(target.substr(q + 1));
    EXPECT_TRUE(params.ok());
    if (params) r.query = *params;
  }
  while (std::getline(lines, line)) {
    std::size_t colon = line.find(':');
    r.headers.push_back({line.substr(0, colon), line.substr(colon + 1)});
  }
  return r;
}

TimePoint parse_iso(const std::string& s) {  // 2015-08-30T12:36:00Z
  std::string amz = s.substr(0, 4) + s.substr(5, 2) + s.substr(8, 2) + "T" + s.substr(11, 2) +
                    s.substr(14, 2) + s.substr(17, 2) + "Z";
  return *parse_amz_date(amz);
}

class OneKey : public KeyResolver {
 public:
  OneKey(Credentials c) : c_(std::move(c)) {}
  Result<ResolvedKey> resolve(std::string_view id, TimePoint) const override {
    if (id != c_.access_key_id) return Error::not_found("no such key");
    ResolvedKey k{c_.secret_access_key, std::nullopt, std::nullopt, "arn:aws:iam::123:user/t"};
    if (!c_.session_token.empty()) k.session_token = c_.session_token;
    return k;
  }

 private:
  Credentials c_;
};

struct Case {
  std::string name;
  fs::path dir;
};

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (const auto& e : fs::directory_iterator(cases_dir())) {
    if (e.is_directory()) out.push_back({e.path().filename().string(), e.path()});
  }
  std::sort(out.begin(), out.end(), [](const Case& a, const Case& b) { return a.name < b.name; });
  return out;
}

class SuiteTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const fs::path& d = GetParam().dir;
    auto ctx = nlohmann::json::parse(read(d / "context.json"));
    creds_.access_key_id = ctx["credentials"]["access_key_id"];
    creds_.secret_access_key = ctx["credentials"]["secret_access_key"].get<std::string>();
    if (ctx["credentials"].contains("token")) {
      creds_.session_token = ctx["credentials"]["token"].get<std::string>();
    }
    params_.region = ctx["region"];
    params_.service = ctx["service"];
    params_.time = parse_iso(ctx["timestamp"]);
    params_.path_mode = ctx["normalize"].get<bool>() ? PathMode::kNormalize : PathMode::kS3;
    params_.add_content_sha256_header = ctx.value("sign_body", false);
    params_.expires = std::chrono::seconds(ctx["expiration_in_seconds"].get<int>());
    request_ = parse_request_file(read(d / "request.txt"));
    options_.service = params_.service;
    options_.regions = {params_.region};
    options_.now = params_.time + std::chrono::seconds(30);
    options_.path_mode = params_.path_mode;
  }
  Credentials creds_;
  SigningParams params_;
  HttpRequest request_;
  VerifyOptions options_;
};

TEST_P(SuiteTest, HeaderSigningMatchesEveryIntermediate) {
  const fs::path& d = GetParam().dir;
  HttpRequest r = request_;
  auto details = sign_request(r, creds_, params_);
  ASSERT_TRUE(details.ok()) << details.error().to_string();
  EXPECT_EQ(details->canonical_request, read(d / "header-canonical-request.txt"));
  EXPECT_EQ(details->string_to_sign, read(d / "header-string-to-sign.txt"));
  EXPECT_EQ(details->signature, read(d / "header-signature.txt"));
  HttpRequest expected = parse_request_file(read(d / "header-signed-request.txt"));
  ASSERT_TRUE(expected.header("Authorization").has_value());
  EXPECT_EQ(r.header("Authorization"), expected.header("Authorization"));
  EXPECT_EQ(r.header("X-Amz-Date"), expected.header("X-Amz-Date"));
  EXPECT_EQ(r.header("X-Amz-Security-Token"), expected.header("X-Amz-Security-Token"));
}

TEST_P(SuiteTest, HeaderSignedRequestVerifies) {
  HttpRequest signed_request =
      parse_request_file(read(GetParam().dir / "header-signed-request.txt"));
  OneKey keys(creds_);
  auto v = verify_request(signed_request, keys, options_);
  ASSERT_TRUE(v.ok()) << v.rejection().error.to_string();
  EXPECT_EQ(v->principal_arn, "arn:aws:iam::123:user/t");
  EXPECT_FALSE(v->presigned);
  EXPECT_EQ(v->details.signature, read(GetParam().dir / "header-signature.txt"));
  std::reverse(signed_request.query.begin(), signed_request.query.end());
  EXPECT_TRUE(verify_request(signed_request, keys, options_).ok());

  // A changed path is a bad signature, not anything else.
  signed_request.path += "x";
  auto bad = verify_request(signed_request, keys, options_);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.rejection().reason, AuthFailure::kBadSignature);
}

// The cases that have a presigned form (those with a request body have none).
std::vector<Case> presigned_cases() {
  std::vector<Case> out;
  for (const Case& c : all_cases()) {
    if (fs::exists(c.dir / "query-signature.txt")) out.push_back(c);
  }
  return out;
}

class PresignSuiteTest : public SuiteTest {};

TEST_P(PresignSuiteTest, PresigningMatchesEveryIntermediate) {
  const fs::path& d = GetParam().dir;
  HttpRequest r = request_;
  auto details = presign_request(r, creds_, params_);
  ASSERT_TRUE(details.ok()) << details.error().to_string();
  EXPECT_EQ(details->canonical_request, read(d / "query-canonical-request.txt"));
  EXPECT_EQ(details->string_to_sign, read(d / "query-string-to-sign.txt"));
  EXPECT_EQ(details->signature, read(d / "query-signature.txt"));
  // The URL botocore printed: path + query in its order (params, auth params, signature).
  std::string signed_url = read(d / "query-signed-request.txt");
  EXPECT_EQ(encode_query_string(r.query), signed_url.substr(signed_url.find('?')));

  OneKey keys(creds_);
  HttpRequest from_url = request_;
  from_url.query = *parse_query(signed_url.substr(signed_url.find('?') + 1));
  auto v = verify_request(from_url, keys, options_);
  ASSERT_TRUE(v.ok()) << v.rejection().error.to_string();
  EXPECT_TRUE(v->presigned);
  EXPECT_EQ(v->session, !creds_.session_token.empty());
  std::reverse(from_url.query.begin(), from_url.query.end());
  EXPECT_TRUE(verify_request(from_url, keys, options_).ok()) << "order must not matter";
  std::rotate(from_url.query.begin(), from_url.query.begin() + 2, from_url.query.end());
  EXPECT_TRUE(verify_request(from_url, keys, options_).ok()) << "order must not matter";
}

INSTANTIATE_TEST_SUITE_P(Cases, SuiteTest, ::testing::ValuesIn(all_cases()),
                         [](const auto& param_info) {
                           std::string n = param_info.param.name;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

INSTANTIATE_TEST_SUITE_P(Cases, PresignSuiteTest, ::testing::ValuesIn(presigned_cases()),
                         [](const auto& param_info) {
                           std::string n = param_info.param.name;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST(SuiteCases, AllExpectedCasesArePresent) {
  ASSERT_GE(presigned_cases().size(), 10u);
  std::vector<std::string> names;
  for (const Case& c : all_cases())
    names.push_back(c.name);
  for (const char* want :
       {"get-vanilla", "get-vanilla-query-order-key-case", "get-utf8", "get-space-normalized",
        "post-x-www-form-urlencoded", "get-header-value-trim", "get-vanilla-with-session-token"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
}

}  // namespace
}  // namespace writegate::sigv4
