// libFuzzer target: parse_rds_token(), verify_rds_token() and generate_rds_token() on arbitrary
// bytes. Replayed over fuzz/corpus/rds_token_fuzzer/ by tests/sigv4 (rds_token_fuzzer_replay_test).
//
// Properties checked (abort on violation):
// - a token that parses re-encodes (host:port/ + encode_query_string(params)) to a token that
//   parses to the same fields;
// - a token that verifies parses, is for the login user, and carries the signature the generic
//   SigV4 presigner computes for its decoded parameters with the key's secret: verify never
//   accepts a token whose signature was not made with the key;
// - verification gives the same answer with and without the signing-key cache;
// - a token generated from the input (user, session token) equals the generic presigner's,
//   verifies, and no longer verifies when signed with another secret.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sigv4/rds_token.h"

namespace {

using namespace writegate::sigv4;

constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

class FuzzKeys : public KeyResolver {
 public:
  writegate::Result<ResolvedKey> resolve(std::string_view id, TimePoint) const override {
    if (id == "AKIDEXAMPLE") {
      return ResolvedKey{std::string(kSecret), std::nullopt, std::nullopt,
                         "arn:aws:iam::111122223333:user/fuzz"};
    }
    if (id == "ASIDEXAMPLE") {
      return ResolvedKey{std::string(kSecret), session_token, expires,
                         "arn:aws:sts::111122223333:assumed-role/r/s"};
    }
    return writegate::Error::not_found("unknown");
  }
  std::string session_token = "abc/def+ghi=";
  TimePoint expires = *parse_amz_date("20260102T040000Z");
};

void check(bool ok) {
  if (!ok) std::abort();
}

bool same_fields(const ParsedRdsToken& a, const ParsedRdsToken& b) {
  return a.host == b.host && a.port == b.port && a.db_user == b.db_user &&
         a.access_key_id == b.access_key_id && a.scope_date == b.scope_date &&
         a.region == b.region && a.amz_date == b.amz_date && a.issued == b.issued &&
         a.expires == b.expires && a.security_token == b.security_token &&
         a.signature == b.signature && a.params == b.params;
}

// What SigV4 says the signature of these decoded parameters is, computed by the generic
// canonicalisation (not the token fast path).
std::string generic_signature(const ParsedRdsToken& t, std::string_view secret) {
  std::vector<Header> headers{{"host", rds_signed_host(t.host, t.port)}};
  std::string creq =
      build_canonical_request("GET", "/", canonical_query(t.params, "X-Amz-Signature"),
                              canonical_headers(headers), kEmptyPayloadHash);
  SigningKey key = derive_signing_key(secret, t.scope_date, t.region, kRdsService);
  return compute_signature(
      key, build_string_to_sign(t.amz_date, credential_scope(t.scope_date, t.region, kRdsService),
                                creq));
}

const RdsVerifyOptions kOptions{
    .endpoint_hosts = {"db.example.com"}, .port = 5432, .region = "us-east-1"};

// Checks a token for the user it names (or lambda_writer when it does not parse).
void check_token(std::string_view token, const FuzzKeys& keys, TimePoint now) {
  auto parsed = parse_rds_token(token);
  const std::string login_user = parsed.ok() ? parsed->db_user : "lambda_writer";
  if (parsed.ok()) {
    check(parsed->expires.count() >= 1 && parsed->expires.count() <= 900);
    check(parsed->port != 0 && parsed->signature.size() == 64);
    std::string again = parsed->host + ":" + std::to_string(parsed->port) + "/" +
                        encode_query_string(parsed->params);
    if (again.size() <= kMaxRdsTokenSize) {  // encoding can grow a token past the cap
      auto reparsed = parse_rds_token(again);
      check(reparsed.ok() && same_fields(*parsed, *reparsed));
    }
  } else {
    check(auth_failure_name(parsed.rejection().reason) != "unknown");
    check(!parsed.rejection().error.message().empty());
  }

  static SigningKeyCache cache(16);
  auto verified = verify_rds_token(token, login_user, keys, kOptions, now);
  auto cached = verify_rds_token(token, login_user, keys, kOptions, now, &cache);
  check(verified.ok() == cached.ok());
  if (!verified.ok()) {
    check(verified.rejection().reason == cached.rejection().reason);
    return;
  }
  check(parsed.ok());
  check(verified->db_user == login_user && verified->db_user == parsed->db_user);
  check(verified->access_key_id == parsed->access_key_id && verified->issued == parsed->issued);
  check(generic_signature(*parsed, kSecret) == parsed->signature);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  static FuzzKeys keys;
  const TimePoint now = *parse_amz_date("20260102T030500Z");
  check_token(input, keys, now);

  // Generation: the input's first line is the user, the rest the session token (if any).
  std::size_t newline = input.find('\n');
  std::string user(input.substr(0, std::min<std::size_t>(newline, 64)));
  std::string session =
      newline == std::string_view::npos ? std::string() : std::string(input.substr(newline + 1));
  if (user.empty() || session.size() > 2048) return 0;
  const Credentials credentials{session.empty() ? "AKIDEXAMPLE" : "ASIDEXAMPLE",
                                std::string(kSecret), session};
  const TimePoint issued = *parse_amz_date("20260102T030405Z");
  static SigningKeyCache cache(16);
  auto token =
      generate_rds_token({"db.example.com", 5432, user, "us-east-1"}, credentials, issued, &cache);
  check(token.ok());

  HttpRequest r;
  r.query = {{"Action", "connect"}, {"DBUser", user}};
  r.headers = {{"host", "db.example.com:5432"}};
  auto presigned = presign_request(
      r, credentials,
      {.region = "us-east-1", .service = "rds-db", .time = issued, .expires = kRdsTokenLifetime},
      &cache);
  check(presigned.ok());
  check(*token == "db.example.com:5432/" + encode_query_string(r.query));

  FuzzKeys session_keys;
  session_keys.session_token = session;
  auto verified = verify_rds_token(*token, user, session_keys, kOptions, now, &cache);
  check(verified.ok() && verified->db_user == user && verified->session == !session.empty());
  check_token(*token, session_keys, now);

  const Credentials forged{credentials.access_key_id, "not-the-secret", session};
  auto bad =
      generate_rds_token({"db.example.com", 5432, user, "us-east-1"}, forged, issued, &cache);
  check(bad.ok());
  auto refused = verify_rds_token(*bad, user, session_keys, kOptions, now, &cache);
  check(!refused.ok() && refused.rejection().reason == AuthFailure::kBadSignature);
  return 0;
}
