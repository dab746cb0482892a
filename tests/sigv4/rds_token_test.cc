// RDS auth tokens: generation byte-compatible with `aws rds generate-db-auth-token`, strict
// parsing, and every verification outcome.
#include "sigv4/rds_token.h"

#include <gtest/gtest.h>

namespace writegate::sigv4 {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

const std::string kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

TimePoint at(const char* amz) {
  return *parse_amz_date(amz);
}

// Printed by /usr/bin/aws (awscli 2.9.19) under
// `TZ=UTC faketime -f '2026-01-02 03:04:06' aws rds generate-db-auth-token --hostname
// db.example.com --port 5432 --username lambda_writer --region us-east-1` with
// AWS_ACCESS_KEY_ID=AKIDEXAMPLE and the suite's secret.
constexpr std::string_view kAwsCliToken =
    "db.example.com:5432/?Action=connect&DBUser=lambda_writer&X-Amz-Algorithm=AWS4-HMAC-SHA256&"
    "X-Amz-Credential=AKIDEXAMPLE%2F20260102%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date="
    "20260102T030406Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature="
    "0ac44c4cae382e994ecbb09d9b198fc2de8b93e166b54c32fb7513d8e1eaf02a";
// The same at 03:04:05 with AWS_ACCESS_KEY_ID=ASIDEXAMPLE, AWS_SESSION_TOKEN='abc/def+ghi=' and
// --username 'lambda writer'.
constexpr std::string_view kAwsCliSessionToken =
    "db.example.com:5432/?Action=connect&DBUser=lambda%20writer&X-Amz-Algorithm=AWS4-HMAC-SHA256&"
    "X-Amz-Credential=ASIDEXAMPLE%2F20260102%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date="
    "20260102T030405Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token=abc%2Fdef%"
    "2Bghi%3D&X-Amz-Signature=0d752ef96d1017f8cc1eb7af8e19e8dbcf67e32852518e71d730f806bf838f1b";

TEST(Generate, MatchesTheAwsCli) {
  auto t = generate_rds_token({"db.example.com", 5432, "lambda_writer", "us-east-1"},
                              {"AKIDEXAMPLE", kSecret, ""}, at("20260102T030406Z"));
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  EXPECT_EQ(*t, kAwsCliToken);
  SigningKeyCache cache;
  auto s =
      generate_rds_token({"db.example.com", 5432, "lambda writer", "us-east-1"},
                         {"ASIDEXAMPLE", kSecret, "abc/def+ghi="}, at("20260102T030405Z"), &cache);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, kAwsCliSessionToken);
}

TEST(Generate, SameAsTheGenericPresigner) {
  // The fast path must equal presign_request() over https://host:port/?Action=connect&DBUser=.
  for (std::uint16_t port : {5432, 443}) {
    const Credentials c{"ASIAXYZ", kSecret, "FwoGZXIvYXdzE+/=="};
    HttpRequest r;
    r.query = {{"Action", "connect"}, {"DBUser", "user@x"}};
    r.headers = {{"host", rds_signed_host("Prx-1.Example.COM", port)}};
    SigningParams p{.region = "eu-west-1",
                    .service = "rds-db",
                    .time = at("20260102T030405Z"),
                    .expires = seconds(900)};
    auto d = presign_request(r, c, p);
    ASSERT_TRUE(d.ok());
    auto token = generate_rds_token({"Prx-1.Example.COM", port, "user@x", "eu-west-1"}, c,
                                    at("20260102T030405Z"));
    ASSERT_TRUE(token.ok());
    EXPECT_EQ(*token,
              "Prx-1.Example.COM:" + std::to_string(port) + "/" + encode_query_string(r.query));
  }
}

TEST(Generate, RefusesBadInput) {
  const Credentials c{"AKIDEXAMPLE", kSecret, ""};
  auto host = generate_rds_token({"db/x", 5432, "u", "us-east-1"}, c, at("20260102T030405Z"));
  ASSERT_FALSE(host.ok());
  EXPECT_EQ(host.error().message(), "hostname 'db/x' is not a DNS name or [IPv6] address");
  auto port = generate_rds_token({"db", 0, "u", "us-east-1"}, c, at("20260102T030405Z"));
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.error().message(), "port must be 1..65535");
  auto user = generate_rds_token({"db", 5432, "", "us-east-1"}, c, at("20260102T030405Z"));
  ASSERT_FALSE(user.ok());
  EXPECT_EQ(user.error().message(), "the database user is empty");
}

// ---- parsing ----------------------------------------------------------------------------------

struct BadToken {
  const char* what;
  std::string token;
  AuthFailure reason;
  std::string message;
};

std::string replace(std::string_view token, std::string_view from, std::string_view to) {
  std::string s(token);
  std::size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(Parse, AcceptsTheCliToken) {
  auto p = parse_rds_token(kAwsCliSessionToken);
  ASSERT_TRUE(p.ok()) << p.rejection().error.to_string();
  EXPECT_EQ(p->host, "db.example.com");
  EXPECT_EQ(p->port, 5432);
  EXPECT_EQ(p->db_user, "lambda writer");
  EXPECT_EQ(p->access_key_id, "ASIDEXAMPLE");
  EXPECT_EQ(p->region, "us-east-1");
  EXPECT_EQ(p->issued, at("20260102T030405Z"));
  EXPECT_EQ(p->expires, seconds(900));
  EXPECT_EQ(p->security_token, "abc/def+ghi=");
  EXPECT_EQ(p->params.size(), 9u);
}

TEST(Parse, RejectsPreciselyWhatIsWrong) {
  const std::string t(kAwsCliToken);
  const std::vector<BadToken> cases = {
      {"empty", "", AuthFailure::kMalformed, "the token is empty"},
      {"no query", "db.example.com:5432/", AuthFailure::kMalformed,
       "the token is not of the form host:port/?query"},
      {"no port", replace(t, ":5432/", "/"), AuthFailure::kBadPort,
       "the token's host has no :port"},
      {"port not numeric", replace(t, ":5432/", ":54x2/"), AuthFailure::kBadPort,
       "the token's port is not a number"},
      {"port too big", replace(t, ":5432/", ":65536/"), AuthFailure::kBadPort,
       "the token's port 65536 is not in 1..65535"},
      {"missing DBUser", replace(t, "DBUser=lambda_writer&", ""), AuthFailure::kMalformed,
       "the token has no DBUser parameter"},
      {"missing signature", t.substr(0, t.find("&X-Amz-Signature")), AuthFailure::kMalformed,
       "the token has no X-Amz-Signature parameter"},
      {"duplicated DBUser", replace(t, "DBUser=lambda_writer&", "DBUser=lambda_writer&DBUser=x&"),
       AuthFailure::kMalformed, "the token has parameter DBUser twice"},
      {"duplicated date", t + "&X-Amz-Date=20260102T030406Z", AuthFailure::kMalformed,
       "the token has parameter X-Amz-Date twice"},
      {"unknown parameter", t + "&Extra=1", AuthFailure::kMalformed,
       "the token has an unexpected parameter 'Extra'"},
      {"other action", replace(t, "Action=connect", "Action=login"), AuthFailure::kMalformed,
       "the token's Action is not 'connect'"},
      {"other algorithm", replace(t, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
       AuthFailure::kUnsupportedAlgorithm, "the token's X-Amz-Algorithm is not AWS4-HMAC-SHA256"},
      {"other service", replace(t, "%2Frds-db%2F", "%2Fs3%2F"), AuthFailure::kWrongService,
       "the token is signed for service 's3', not rds-db"},
      {"bad credential", replace(t, "%2Faws4_request", "%2Faws5_request"), AuthFailure::kMalformed,
       "the token's X-Amz-Credential is not KEY/yyyymmdd/region/rds-db/aws4_request"},
      {"bad date", replace(t, "20260102T030406Z", "20260132T030406Z"), AuthFailure::kBadDate,
       "the token's X-Amz-Date: date '20260132T030406Z' is not of the form yyyymmddThhmmssZ"},
      {"date not the scope's", replace(t, "20260102T030406Z", "20260103T030406Z"),
       AuthFailure::kBadDate, "the token's credential date is not the date of its X-Amz-Date"},
      {"expires 901", replace(t, "X-Amz-Expires=900", "X-Amz-Expires=901"),
       AuthFailure::kExpiresTooLong, "the token's X-Amz-Expires 901 is above 900 seconds"},
      {"expires not numeric", replace(t, "X-Amz-Expires=900", "X-Amz-Expires=9e2"),
       AuthFailure::kMalformed, "the token's X-Amz-Expires is not a number"},
      {"signed headers", replace(t, "SignedHeaders=host", "SignedHeaders=host%3Bx-amz-date"),
       AuthFailure::kMalformed, "the token's X-Amz-SignedHeaders is not 'host'"},
      {"short signature", t.substr(0, t.size() - 1), AuthFailure::kMalformed,
       "the token's X-Amz-Signature is not 64 hex digits"},
      {"bad escape", replace(t, "lambda_writer", "lambda%zzwriter"), AuthFailure::kMalformed,
       "value of query parameter DBUser: '%' at offset 6 is not followed by two hex digits"},
      {"oversized", t + "&X-Amz-Security-Token=" + std::string(8192, 'a'), AuthFailure::kTooLarge,
       "the token is " + std::to_string(t.size() + 22 + 8192) + " bytes, over the limit of 8192"},
  };
  for (const BadToken& c : cases) {
    auto r = parse_rds_token(c.token);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.rejection().reason, c.reason) << c.what;
    EXPECT_EQ(r.rejection().error.message(), c.message) << c.what;
  }
}

// ---- verification -----------------------------------------------------------------------------

class Store : public KeyResolver {
 public:
  Result<ResolvedKey> resolve(std::string_view id, TimePoint) const override {
    if (id == "AKIDEXAMPLE") {
      return ResolvedKey{kSecret, std::nullopt, std::nullopt,
                         "arn:aws:iam::111122223333:user/writer"};
    }
    if (id == "ASIDEXAMPLE") {
      return ResolvedKey{kSecret, session_token, session_end,
                         "arn:aws:sts::111122223333:assumed-role/lambda-aurora-writer-role/fn"};
    }
    return Error::not_found("no access key " + std::string(id));
  }
  std::string session_token = "abc/def+ghi=";
  TimePoint session_end = at("20260102T040000Z");
};

const RdsVerifyOptions kOptions{
    .endpoint_hosts = {"proxy.internal", "db.example.com"}, .port = 5432, .region = "us-east-1"};

AuthFailure reason(const AuthResult<RdsTokenClaims>& r) {
  EXPECT_FALSE(r.ok());
  return r.ok() ? AuthFailure::kMalformed : r.rejection().reason;
}

TEST(Verify, AcceptsCliTokensAndReturnsClaims) {
  Store store;
  RdsTokenVerifier verifier(store, kOptions);
  auto c = verifier.verify(kAwsCliToken, "lambda_writer", at("20260102T031000Z"));
  ASSERT_TRUE(c.ok()) << c.rejection().error.to_string();
  EXPECT_EQ(c->principal_arn, "arn:aws:iam::111122223333:user/writer");
  EXPECT_EQ(c->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(c->host, "db.example.com");
  EXPECT_EQ(c->port, 5432);
  EXPECT_EQ(c->db_user, "lambda_writer");
  EXPECT_EQ(c->region, "us-east-1");
  EXPECT_EQ(c->issued, at("20260102T030406Z"));
  EXPECT_EQ(c->expires, at("20260102T031906Z"));
  EXPECT_FALSE(c->session);

  auto s = verifier.verify(kAwsCliSessionToken, "lambda writer", at("20260102T030405Z"));
  ASSERT_TRUE(s.ok()) << s.rejection().error.to_string();
  EXPECT_TRUE(s->session);
  EXPECT_EQ(s->principal_arn,
            "arn:aws:sts::111122223333:assumed-role/lambda-aurora-writer-role/fn");
}

TEST(Verify, QueryOrderDoesNotMatter) {
  Store store;
  auto parsed = parse_rds_token(kAwsCliSessionToken);
  ASSERT_TRUE(parsed.ok());
  std::vector<QueryParam> q = parsed->params;
  std::reverse(q.begin(), q.end());
  std::string reordered = "db.example.com:5432/" + encode_query_string(q);
  auto c = verify_rds_token(reordered, "lambda writer", store, kOptions, at("20260102T030500Z"));
  EXPECT_TRUE(c.ok()) << c.rejection().error.to_string();
}

TEST(Verify, EveryReason) {
  Store store;
  const TimePoint now = at("20260102T031000Z");
  const std::string t(kAwsCliToken);
  auto verify = [&](std::string_view token, std::string_view user, TimePoint when,
                    const RdsVerifyOptions& o = kOptions, const KeyResolver* keys = nullptr) {
    return verify_rds_token(token, user, keys ? *keys : store, o, when);
  };
  EXPECT_EQ(reason(verify(t, "lambda_writer", at("20260102T031907Z"))), AuthFailure::kExpired);
  EXPECT_TRUE(verify(t, "lambda_writer", at("20260102T031906Z")).ok());  // the last valid second
  EXPECT_EQ(reason(verify(t, "lambda_writer", at("20260102T025905Z"))), AuthFailure::kNotYetValid);
  EXPECT_TRUE(verify(t, "lambda_writer", at("20260102T025906Z")).ok());  // exactly 5 min early

  auto wrong_user = verify(t, "postgres", now);
  EXPECT_EQ(reason(wrong_user), AuthFailure::kWrongUser);
  EXPECT_EQ(wrong_user.rejection().error.message(),
            "the token's DBUser is not the user logging in");

  RdsVerifyOptions other_port = kOptions;
  other_port.port = 6432;
  auto ep = verify(t, "lambda_writer", now, other_port);
  EXPECT_EQ(reason(ep), AuthFailure::kWrongEndpoint);
  EXPECT_EQ(ep.rejection().error.message(),
            "the token is for db.example.com:5432, not for this endpoint");
  RdsVerifyOptions other_host = kOptions;
  other_host.endpoint_hosts = {"proxy.internal"};
  EXPECT_EQ(reason(verify(t, "lambda_writer", now, other_host)), AuthFailure::kWrongEndpoint);
  RdsVerifyOptions upper = kOptions;
  upper.endpoint_hosts = {"DB.EXAMPLE.COM"};
  EXPECT_TRUE(verify(t, "lambda_writer", now, upper).ok()) << "host names are case-insensitive";

  RdsVerifyOptions other_region = kOptions;
  other_region.region = "eu-west-1";
  EXPECT_EQ(reason(verify(t, "lambda_writer", now, other_region)), AuthFailure::kWrongRegion);

  EXPECT_EQ(reason(verify(replace(t, "%2Frds-db%2F", "%2Fsts%2F"), "lambda_writer", now)),
            AuthFailure::kWrongService);

  auto unknown = generate_rds_token({"db.example.com", 5432, "lambda_writer", "us-east-1"},
                                    {"AKIAOTHER", kSecret, ""}, at("20260102T030406Z"));
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(reason(verify(*unknown, "lambda_writer", now)), AuthFailure::kUnknownKey);

  auto forged = generate_rds_token({"db.example.com", 5432, "lambda_writer", "us-east-1"},
                                   {"AKIDEXAMPLE", "guessed", ""}, at("20260102T030406Z"));
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(reason(verify(*forged, "lambda_writer", now)), AuthFailure::kBadSignature);
  // Over-encoding a character changes nothing canonical: still verifies.
  EXPECT_TRUE(verify(replace(t, "lambda_writer", "lambda%5Fwriter"), "lambda_writer", now).ok());
  // Flipping the signature is a bad signature.
  std::string flipped = t;
  flipped.back() = flipped.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(reason(verify(flipped, "lambda_writer", now)), AuthFailure::kBadSignature);

  // Session credentials.
  const std::string s(kAwsCliSessionToken);
  const TimePoint s_now = at("20260102T030500Z");
  Store ended;
  ended.session_end = at("20260102T030459Z");
  EXPECT_EQ(reason(verify(s, "lambda writer", s_now, kOptions, &ended)),
            AuthFailure::kSessionExpired);
  Store rotated;
  rotated.session_token = "another";
  EXPECT_EQ(reason(verify(s, "lambda writer", s_now, kOptions, &rotated)),
            AuthFailure::kBadSecurityToken);
  std::string no_token = replace(s, "&X-Amz-Security-Token=abc%2Fdef%2Bghi%3D", "");
  EXPECT_EQ(reason(verify(no_token, "lambda writer", s_now)), AuthFailure::kBadSecurityToken);

  // Parse failures come through with their own reason.
  EXPECT_EQ(
      reason(verify(replace(t, "X-Amz-Expires=900", "X-Amz-Expires=3600"), "lambda_writer", now)),
      AuthFailure::kExpiresTooLong);
}

TEST(Verify, SignatureCoversTheParametersAsWritten) {
  // The canonical query is built from the token's own text: any encoding a client may choose
  // (over-encoded letters, lowercase hex) verifies, and X-Amz-Expires is signed as written.
  Store store;
  const TimePoint now = at("20260102T030500Z");
  const Credentials session{"ASIDEXAMPLE", kSecret, "abc/def+ghi="};
  HttpRequest r;
  r.query = {{"Action", "connect"}, {"DBUser", "lambda writer"}};
  r.headers = {{"host", "db.example.com:5432"}};
  SigningParams p{.region = "us-east-1",
                  .service = "rds-db",
                  .time = at("20260102T030405Z"),
                  .expires = seconds(900)};
  ASSERT_TRUE(presign_request(r, session, p).ok());
  // Rewrite the presigner's query by hand: X-Amz-Expires=0900 signed as "0900".
  for (QueryParam& q : r.query) {
    if (q.name == "X-Amz-Expires") q.value = "0900";
  }
  std::erase_if(r.query, [](const QueryParam& q) { return q.name == "X-Amz-Signature"; });
  SigningKey key = derive_signing_key(kSecret, "20260102", "us-east-1", "rds-db");
  std::string creq = build_canonical_request("GET", "/", canonical_query(r.query),
                                             canonical_headers(r.headers), kEmptyPayloadHash);
  std::string sig = compute_signature(
      key,
      build_string_to_sign("20260102T030405Z", "20260102/us-east-1/rds-db/aws4_request", creq));
  r.query.push_back({"X-Amz-Signature", sig});
  std::string token = "db.example.com:5432/" + encode_query_string(r.query);
  auto ok = verify_rds_token(token, "lambda writer", store, kOptions, now);
  ASSERT_TRUE(ok.ok()) << ok.rejection().error.to_string();
  EXPECT_EQ(ok->expires, at("20260102T031905Z"));
  EXPECT_EQ(reason(verify_rds_token(replace(token, "X-Amz-Expires=0900", "X-Amz-Expires=900"),
                                    "lambda writer", store, kOptions, now)),
            AuthFailure::kBadSignature);

  // Non-canonical but equivalent encodings of the CLI token still verify.
  const std::string s(kAwsCliSessionToken);
  for (const std::string& variant :
       {replace(s, "abc%2Fdef%2Bghi%3D", "abc%2fdef%2bghi%3d"),
        replace(s, "abc%2Fdef%2Bghi%3D", "%61bc%2Fdef%2Bghi%3D"),
        replace(s, "DBUser=lambda%20writer", "DBUser=%6cambda%20writer"),
        replace(s, "ASIDEXAMPLE%2F", "ASIDEXAMPLE/"),
        replace(s, "Action=connect", "Action=%63onnect"),
        replace(s, "X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=%68ost")}) {
    auto v = verify_rds_token(variant, "lambda writer", store, kOptions, now);
    EXPECT_TRUE(v.ok()) << variant << ": " << v.rejection().error.to_string();
  }
  // A literal '+' (not a space in SigV4) decodes to the byte %2B stands for: same canonical form.
  auto plus = verify_rds_token(replace(s, "%2Bghi", "+ghi"), "lambda writer", store, kOptions, now);
  EXPECT_TRUE(plus.ok()) << plus.rejection().error.to_string();
  // A different security token decodes differently: refused before the signature is checked.
  EXPECT_EQ(reason(verify_rds_token(replace(s, "%2Bghi", "%20ghi"), "lambda writer", store,
                                    kOptions, now)),
            AuthFailure::kBadSecurityToken);
}

TEST(Verify, FailureNamesAreStable) {
  EXPECT_EQ(auth_failure_name(AuthFailure::kExpired), "expired");
  EXPECT_EQ(auth_failure_name(AuthFailure::kNotYetValid), "not_yet_valid");
  EXPECT_EQ(auth_failure_name(AuthFailure::kBadSignature), "bad_signature");
  EXPECT_EQ(auth_failure_name(AuthFailure::kWrongEndpoint), "wrong_endpoint");
  EXPECT_EQ(auth_failure_name(AuthFailure::kWrongUser), "wrong_user");
  EXPECT_EQ(auth_failure_name(AuthFailure::kSessionExpired), "session_expired");
}

}  // namespace
}  // namespace writegate::sigv4
