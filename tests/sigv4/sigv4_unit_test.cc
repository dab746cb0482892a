// SigV4 building blocks and every rejection reason of verify_request().
#include <gtest/gtest.h>

#include <thread>

#include "sigv4/crypto.h"
#include "sigv4/encoding.h"
#include "sigv4/sigv4.h"

namespace writegate::sigv4 {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

const Credentials kSuite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
const TimePoint kSuiteTime = *parse_amz_date("20150830T123600Z");

TEST(Encoding, EscapesAllButUnreserved) {
  EXPECT_EQ(uri_encode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(uri_encode("a b+c/d=e&f%"), "a%20b%2Bc%2Fd%3De%26f%25");
  EXPECT_EQ(uri_encode("a/b", /*keep_slash=*/true), "a/b");
  EXPECT_EQ(uri_encode("\xe1\x88\xb4"), "%E1%88%B4");
}

TEST(Encoding, PercentDecodeIsStrict) {
  EXPECT_EQ(*percent_decode("a%20b%2fc+d"), "a b/c+d");
  auto bad = percent_decode("abc%2");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "'%' at offset 3 is not followed by two hex digits");
  EXPECT_FALSE(percent_decode("%zz").ok());
}

TEST(Encoding, PercentDecodeReportsTheFirstBadEscape) {
  auto bad = percent_decode("%41%4G%zz");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "'%' at offset 3 is not followed by two hex digits");
  EXPECT_EQ(percent_decode("ab%").error().message(),
            "'%' at offset 2 is not followed by two hex digits");
  EXPECT_EQ(*percent_decode("%25%2541"), "%%41");  // decoded once, never twice
}

TEST(Encoding, CanonicalFormIsRecognised) {
  using detail::is_canonical_encoding;
  // Exactly what uri_encode() makes of the decoded bytes.
  for (const char* yes : {"", "abc-_.~XYZ09", "a%20b", "%2F%2B%3D", "%E1%88%B4", "%25"}) {
    EXPECT_TRUE(is_canonical_encoding(yes)) << yes;
    EXPECT_EQ(uri_encode(*percent_decode(yes)), yes);
  }
  // Anything else: lowercase hex, an escaped unreserved byte, a raw reserved byte, a bad escape.
  for (const char* no : {"a%2fb", "%41", "%7E", "a+b", "a/b", "a b", "%", "%2", "%G0", "=", "*"}) {
    EXPECT_FALSE(is_canonical_encoding(no)) << no;
  }
  detail::CanonicalText over("lambda%5Fwriter%2f%2B");
  EXPECT_EQ(over.view(), "lambda_writer%2F%2B");
  std::string raw = "abc%2Fdef";
  detail::CanonicalText same(raw);
  EXPECT_EQ(same.view().data(), raw.data()) << "canonical text is borrowed, not copied";
}

TEST(Encoding, DecodedTextAndConstantTimeCompare) {
  EXPECT_TRUE(detail::has_valid_escapes("a%20b%ff"));
  EXPECT_FALSE(detail::has_valid_escapes("a%2"));
  EXPECT_FALSE(detail::has_valid_escapes("%g0"));
  std::string plain = "no-escapes";
  detail::DecodedText a(plain);
  EXPECT_EQ(a.view().data(), plain.data());
  detail::DecodedText b("x%2Fy");
  EXPECT_EQ(b.view(), "x/y");
  std::string long_raw;
  for (int i = 0; i < 100; ++i)
    long_raw += "ab%2B";
  detail::DecodedText c(long_raw);  // beyond the inline buffer
  EXPECT_EQ(c.view(), *percent_decode(long_raw));

  using detail::decoded_equals_constant_time;
  EXPECT_TRUE(decoded_equals_constant_time("abc%2Fdef%2Bghi%3D", "abc/def+ghi="));
  EXPECT_TRUE(decoded_equals_constant_time("abc%2fdef+ghi=", "abc/def+ghi="));
  EXPECT_FALSE(decoded_equals_constant_time("abc%2Fdef", "abc/deg"));
  EXPECT_FALSE(decoded_equals_constant_time("abc%2F", "abc/x"));
  EXPECT_FALSE(decoded_equals_constant_time("abc", "ab"));
  EXPECT_TRUE(decoded_equals_constant_time("", ""));
}

TEST(Crypto, HashOfPartsIsHashOfTheJoinedText) {
  const std::string_view parts[] = {"GET\n/\n", "", "Action=connect", "&x=", std::string_view()};
  EXPECT_EQ(detail::sha256(parts), detail::sha256("GET\n/\nAction=connect&x="));
  std::string key = "key";
  auto k = std::span(reinterpret_cast<const std::uint8_t*>(key.data()), key.size());
  EXPECT_EQ(detail::hmac_sha256(k, parts), detail::hmac_sha256(k, "GET\n/\nAction=connect&x="));
}

TEST(Encoding, ParseQueryKeepsOrderAndEmptyValues) {
  auto q = parse_query("b=2&a&c=&a=1");
  ASSERT_TRUE(q.ok());
  std::vector<QueryParam> want{{"b", "2"}, {"a", ""}, {"c", ""}, {"a", "1"}};
  EXPECT_EQ(*q, want);
  EXPECT_EQ(canonical_query(*q), "a=&a=1&b=2&c=");
}

TEST(Canonical, QuerySortsByEncodedKeyThenValue) {
  // '%' sorts before letters: the sort is on encoded forms.
  std::vector<QueryParam> q{{"b", "x"}, {"a b", "1"}, {"a", "2"}, {"a", "10"}};
  EXPECT_EQ(canonical_query(q), "a=10&a=2&a%20b=1&b=x");
  EXPECT_EQ(canonical_query(q, "b"), "a=10&a=2&a%20b=1");
}

TEST(Canonical, UriNormalizationAndS3Mode) {
  EXPECT_EQ(canonical_uri("", PathMode::kNormalize), "/");
  EXPECT_EQ(canonical_uri("/a/./b/../c//d/", PathMode::kNormalize), "/a/c/d/");
  EXPECT_EQ(canonical_uri("/%20x", PathMode::kNormalize), "/%2520x");  // double encoding
  EXPECT_EQ(canonical_uri("/%20x y", PathMode::kS3), "/%20x%20y");     // single encoding
  EXPECT_EQ(canonical_uri("//a/../b", PathMode::kS3), "//a/../b");     // no normalization
}

TEST(Canonical, HeadersTrimCollapseSortAndJoin) {
  std::vector<Header> h{{"X-B", "  two   words  "}, {"Host", "h"}, {"x-b", "second"}, {"X-A", "a"}};
  auto c = canonical_headers(h);
  EXPECT_EQ(c.canonical, "host:h\nx-a:a\nx-b:two words,second\n");
  EXPECT_EQ(c.signed_headers, "host;x-a;x-b");
  auto only = canonical_headers(h, {"host"});
  EXPECT_EQ(only.canonical, "host:h\n");
}

TEST(Dates, FormatAndStrictParse) {
  EXPECT_EQ(format_amz_date(kSuiteTime), "20150830T123600Z");
  for (const char* bad : {"20150830T123600", "2015083OT123600Z", "20150230T123600Z",
                          "20151330T123600Z", "20150830T243600Z", "20150830 123600Z",
                          // Beyond the 64-bit nanosecond clock (found by fuzzing: overflowed).
                          "22010101T000000Z", "99991231T235959Z", "19691231T235959Z"}) {
    auto r = parse_amz_date(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().message(),
              std::string("date '") + bad + "' is not of the form yyyymmddThhmmssZ");
  }
  for (const char* d : {"19700101T000000Z", "20000229T235959Z", "20240229T120000Z",
                        "20991231T235959Z", "21000301T000001Z"}) {
    auto t = parse_amz_date(d);
    ASSERT_TRUE(t.ok()) << d;
    EXPECT_EQ(format_amz_date(*t + std::chrono::milliseconds(999)), d);
  }
  auto last = parse_amz_date("22001231T235959Z");
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(format_amz_date(*last), "22001231T235959Z");
}

TEST(Crypto, KnownDigestsAndSigningKey) {
  EXPECT_EQ(detail::to_hex(detail::sha256("")), kEmptyPayloadHash);
  // RFC 4231 test case 2.
  std::string key = "Jefe";
  EXPECT_EQ(detail::to_hex(detail::hmac_sha256(
                std::span(reinterpret_cast<const std::uint8_t*>(key.data()), key.size()),
                "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 4231 test case 6: a key longer than the block size is hashed first.
  std::string long_key(131, '\xaa');
  EXPECT_EQ(detail::to_hex(detail::hmac_sha256(
                std::span(reinterpret_cast<const std::uint8_t*>(long_key.data()), long_key.size()),
                "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // AWS docs "Examples of how to derive a signing key": 20120215 / us-east-1 / iam.
  EXPECT_EQ(detail::to_hex(derive_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                              "20120215", "us-east-1", "iam")
                               .bytes),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
  EXPECT_TRUE(detail::constant_time_equal("abc", "abc"));
  EXPECT_FALSE(detail::constant_time_equal("abc", "abd"));
  EXPECT_FALSE(detail::constant_time_equal("abc", "abcd"));
}

TEST(SigningKeyCache, HitsMissesAndBound) {
  SigningKeyCache cache(2);
  SigningKey a = cache.get("s", "20150830", "us-east-1", "svc");
  EXPECT_EQ(cache.get("s", "20150830", "us-east-1", "svc").bytes, a.bytes);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 1u);
  EXPECT_NE(cache.get("t", "20150830", "us-east-1", "svc").bytes, a.bytes);
  (void)cache.get("s", "20150831", "us-east-1", "svc");
  EXPECT_EQ(cache.size(), 2u);
  (void)cache.get("s", "20150830", "us-east-1", "svc");  // evicted: a miss again
  EXPECT_EQ(cache.misses(), 4u);
  EXPECT_EQ(a.bytes, derive_signing_key("s", "20150830", "us-east-1", "svc").bytes);
}

TEST(SigningKeyCache, ThreadSafe) {
  SigningKeyCache cache(8);
  const SigningKey want = derive_signing_key("s", "20150830", "r", "svc");
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        std::string region = "r" + std::to_string((i + t) % 12);
        (void)cache.get("s", "20150830", region, "svc");
        if (cache.get("s", "20150830", "r", "svc").bytes != want.bytes) ++wrong;
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(cache.size(), 8u);
}

// ---- verification failures -------------------------------------------------------------------

class Store : public KeyResolver {
 public:
  Result<ResolvedKey> resolve(std::string_view id, TimePoint) const override {
    if (id == "AKIDEXAMPLE") {
      return ResolvedKey{kSuite.secret_access_key, std::nullopt, std::nullopt,
                         "arn:aws:iam::111122223333:user/suite"};
    }
    if (id == "ASIASESSION") {
      return ResolvedKey{"sessionsecret", std::string("tok"), session_end,
                         "arn:aws:sts::111122223333:assumed-role/r/s"};
    }
    return Error::not_found("no access key " + std::string(id));
  }
  TimePoint session_end = kSuiteTime + minutes(60);
};

HttpRequest base_request() {
  HttpRequest r;
  r.method = "GET";
  r.path = "/";
  r.query = {{"Action", "GetCallerIdentity"}, {"Version", "2011-06-15"}};
  r.headers = {{"Host", "127.0.0.1:4566"}};
  return r;
}

SigningParams sts_params(TimePoint t = kSuiteTime) {
  return {.region = "us-east-1", .service = "sts", .time = t};
}

VerifyOptions sts_options(TimePoint now = kSuiteTime) {
  return {.service = "sts", .regions = {"us-east-1"}, .now = now};
}

AuthFailure failure_of(const AuthResult<VerifiedRequest>& r) {
  EXPECT_FALSE(r.ok());
  return r.ok() ? AuthFailure::kMalformed : r.rejection().reason;
}

TEST(Verify, HeaderSignedRoundTripAndSkew) {
  Store store;
  HttpRequest r = base_request();
  ASSERT_TRUE(sign_request(r, kSuite, sts_params()).ok());
  auto ok = verify_request(r, store, sts_options(kSuiteTime + minutes(15)));
  ASSERT_TRUE(ok.ok()) << ok.rejection().error.to_string();
  EXPECT_EQ(ok->principal_arn, "arn:aws:iam::111122223333:user/suite");
  EXPECT_EQ(failure_of(verify_request(r, store, sts_options(kSuiteTime + minutes(16)))),
            AuthFailure::kExpired);
  EXPECT_EQ(failure_of(verify_request(r, store, sts_options(kSuiteTime - minutes(16)))),
            AuthFailure::kNotYetValid);
}

TEST(Verify, EachRejectionHasItsReason) {
  Store store;
  HttpRequest signed_r = base_request();
  ASSERT_TRUE(sign_request(signed_r, kSuite, sts_params()).ok());

  EXPECT_EQ(failure_of(verify_request(base_request(), store, sts_options())),
            AuthFailure::kMalformed);

  VerifyOptions other_service = sts_options();
  other_service.service = "secretsmanager";
  EXPECT_EQ(failure_of(verify_request(signed_r, store, other_service)), AuthFailure::kWrongService);

  VerifyOptions other_region = sts_options();
  other_region.regions = {"eu-west-1"};
  EXPECT_EQ(failure_of(verify_request(signed_r, store, other_region)), AuthFailure::kWrongRegion);

  HttpRequest unknown = base_request();
  ASSERT_TRUE(sign_request(unknown, {"AKIAUNKNOWN", "x", ""}, sts_params()).ok());
  auto u = verify_request(unknown, store, sts_options());
  EXPECT_EQ(failure_of(u), AuthFailure::kUnknownKey);
  EXPECT_EQ(u.rejection().error.message(),
            "access key AKIAUNKNOWN is not known: no access key AKIAUNKNOWN");
  EXPECT_EQ(u.rejection().error.code(), ErrorCode::kUnauthenticated);

  HttpRequest wrong_secret = base_request();
  ASSERT_TRUE(sign_request(wrong_secret, {"AKIDEXAMPLE", "not-the-secret", ""}, sts_params()).ok());
  EXPECT_EQ(failure_of(verify_request(wrong_secret, store, sts_options())),
            AuthFailure::kBadSignature);

  HttpRequest tampered = signed_r;
  tampered.query[1].value = "2011-06-16";
  EXPECT_EQ(failure_of(verify_request(tampered, store, sts_options())), AuthFailure::kBadSignature);

  HttpRequest reordered = signed_r;
  std::swap(reordered.query[0], reordered.query[1]);
  EXPECT_TRUE(verify_request(reordered, store, sts_options()).ok());

  HttpRequest sigv2 = signed_r;
  for (auto& h : sigv2.headers) {
    if (h.name == "Authorization") h.value = "AWS AKIDEXAMPLE:abc";
  }
  EXPECT_EQ(failure_of(verify_request(sigv2, store, sts_options())),
            AuthFailure::kUnsupportedAlgorithm);

  HttpRequest bad_date = signed_r;
  for (auto& h : bad_date.headers) {
    if (h.name == "X-Amz-Date") h.value = "20150831T123600Z";  // not the scope's date
  }
  EXPECT_EQ(failure_of(verify_request(bad_date, store, sts_options())), AuthFailure::kBadDate);
}

TEST(Verify, SessionCredentials) {
  Store store;
  const Credentials session{"ASIASESSION", "sessionsecret", "tok"};
  HttpRequest r = base_request();
  ASSERT_TRUE(sign_request(r, session, sts_params()).ok());
  auto ok = verify_request(r, store, sts_options());
  ASSERT_TRUE(ok.ok()) << ok.rejection().error.to_string();
  EXPECT_TRUE(ok->session);

  HttpRequest other_token = base_request();
  ASSERT_TRUE(
      sign_request(other_token, {"ASIASESSION", "sessionsecret", "tok2"}, sts_params()).ok());
  EXPECT_EQ(failure_of(verify_request(other_token, store, sts_options())),
            AuthFailure::kBadSecurityToken);

  HttpRequest no_token = base_request();
  ASSERT_TRUE(sign_request(no_token, {"ASIASESSION", "sessionsecret", ""}, sts_params()).ok());
  EXPECT_EQ(failure_of(verify_request(no_token, store, sts_options())),
            AuthFailure::kBadSecurityToken);

  HttpRequest token_on_long_term = base_request();
  ASSERT_TRUE(sign_request(token_on_long_term,
                           {kSuite.access_key_id, kSuite.secret_access_key, "t"}, sts_params())
                  .ok());
  EXPECT_EQ(failure_of(verify_request(token_on_long_term, store, sts_options())),
            AuthFailure::kBadSecurityToken);

  Store ended;
  ended.session_end = kSuiteTime - seconds(1);
  EXPECT_EQ(failure_of(verify_request(r, ended, sts_options())), AuthFailure::kSessionExpired);
}

TEST(Verify, PresignedExpiryAndFuture) {
  Store store;
  HttpRequest r = base_request();
  SigningParams p = sts_params();
  p.expires = seconds(60);
  ASSERT_TRUE(presign_request(r, kSuite, p).ok());
  EXPECT_TRUE(verify_request(r, store, sts_options(kSuiteTime + seconds(60))).ok());
  EXPECT_EQ(failure_of(verify_request(r, store, sts_options(kSuiteTime + seconds(61)))),
            AuthFailure::kExpired);
  EXPECT_TRUE(verify_request(r, store, sts_options(kSuiteTime - minutes(5))).ok());
  EXPECT_EQ(failure_of(verify_request(r, store, sts_options(kSuiteTime - minutes(5) - seconds(1)))),
            AuthFailure::kNotYetValid);

  HttpRequest twice = r;
  twice.query.push_back({"X-Amz-Date", "20150830T123600Z"});
  EXPECT_EQ(failure_of(verify_request(twice, store, sts_options())), AuthFailure::kMalformed);

  HttpRequest long_lived = base_request();
  p.expires = seconds(604800);
  ASSERT_TRUE(presign_request(long_lived, kSuite, p).ok());
  VerifyOptions short_limit = sts_options();
  short_limit.max_expires = seconds(3600);
  EXPECT_EQ(failure_of(verify_request(long_lived, store, short_limit)),
            AuthFailure::kExpiresTooLong);
}

TEST(Verify, ContentSha256MustMatchBody) {
  Store store;
  HttpRequest r = base_request();
  r.method = "POST";
  r.body = "Action=GetCallerIdentity";
  SigningParams p = sts_params();
  p.add_content_sha256_header = true;
  ASSERT_TRUE(sign_request(r, kSuite, p).ok());
  EXPECT_TRUE(verify_request(r, store, sts_options()).ok());
  r.body = "Action=AssumeRole";
  EXPECT_EQ(failure_of(verify_request(r, store, sts_options())), AuthFailure::kPayloadHashMismatch);
}

TEST(Verify, UnsignedPayloadOnlyWhereAllowed) {
  Store store;
  for (const std::string& declared :
       {std::string(kUnsignedPayload), std::string("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        std::string("STREAMING-UNSIGNED-PAYLOAD-TRAILER")}) {
    HttpRequest r = base_request();
    r.method = "POST";
    r.body = "Action=GetCallerIdentity";
    r.payload_hash = declared;
    SigningParams p = sts_params();
    p.add_content_sha256_header = true;
    ASSERT_TRUE(sign_request(r, kSuite, p).ok());
    ASSERT_EQ(r.header("x-amz-content-sha256"), declared);
    // The signature is good, but the body is not covered by it: refused by default.
    auto refused = verify_request(r, store, sts_options());
    EXPECT_EQ(failure_of(refused), AuthFailure::kUnsignedPayload) << declared;
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.rejection().error.message(),
              "x-amz-content-sha256 '" + declared +
                  "' leaves the body unsigned; this service needs the body's SHA-256");
    VerifyOptions s3_like = sts_options();
    s3_like.allow_unsigned_payload = true;
    EXPECT_TRUE(verify_request(r, store, s3_like).ok()) << declared;
  }
  EXPECT_EQ(auth_failure_name(AuthFailure::kUnsignedPayload), "unsigned_payload");
}

TEST(Sign, RefusesBadInput) {
  HttpRequest no_host;
  auto r = sign_request(no_host, kSuite, sts_params());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "the request has no Host header to sign");
  HttpRequest h = base_request();
  auto e = sign_request(h, {"", "", ""}, sts_params());
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace writegate::sigv4
