// RDS IAM authentication tokens: generate, parse strictly, verify.
//
// A token is a SigV4-presigned GET of https://HOST:PORT/?Action=connect&DBUser=USER for the
// service "rds-db", valid for 900 s, with the scheme stripped. generate_rds_token() prints
// exactly what `aws rds generate-db-auth-token` prints (parameter order included). The proxy
// checks a client's cleartext password with RdsTokenVerifier, which returns the principal and
// the token's claims, or an AuthFailure saying exactly why not (expired, wrong_endpoint, ...).
//
//   std::string token = *generate_rds_token(
//       {.hostname = "prx.example", .port = 5432, .username = "lambda_writer",
//        .region = "us-east-1"}, credentials, Clock::now());
//
//   RdsTokenVerifier verifier(key_store, {.endpoint_hosts = {"prx.example"}, .port = 5432,
//                                         .region = "us-east-1"});
//   AuthResult<RdsTokenClaims> claims = verifier.verify(password, startup_user, Clock::now());
//   if (!claims) log(auth_failure_name(claims.rejection().reason));
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "sigv4/auth_result.h"
#include "sigv4/sigv4.h"

namespace writegate::sigv4 {

inline constexpr std::string_view kRdsService = "rds-db";
inline constexpr std::chrono::seconds kRdsTokenLifetime{900};
// Tokens with a session token run to ~1.5 KiB; anything far beyond is not a token.
inline constexpr std::size_t kMaxRdsTokenSize = 8 * 1024;

struct RdsTokenRequest {
  std::string hostname;
  std::uint16_t port = 5432;
  std::string username;
  std::string region;
};

// The token for these credentials at `now`, byte for byte as botocore makes it.
Result<std::string> generate_rds_token(const RdsTokenRequest& request,
                                       const Credentials& credentials, TimePoint now,
                                       SigningKeyCache* cache = nullptr);

// A token taken apart. Every field is checked by parse_rds_token().
struct ParsedRdsToken {
  std::string host;  // as written in the token
  std::uint16_t port = 0;
  std::string db_user;
  std::string access_key_id;
  std::string scope_date;  // yyyymmdd
  std::string region;
  std::string amz_date;  // yyyymmddThhmmssZ
  TimePoint issued;
  std::chrono::seconds expires{0};
  std::optional<std::string> security_token;
  std::string signature;
  std::vector<QueryParam> params;  // decoded, in token order, X-Amz-Signature included
};

// Strict: size cap, host:port/?query shape, each of Action=connect, DBUser, X-Amz-Algorithm,
// -Credential, -Date, -Expires (<= 900), -SignedHeaders=host, -Signature exactly once,
// X-Amz-Security-Token at most once, nothing else. Failures carry the AuthFailure reason.
AuthResult<ParsedRdsToken> parse_rds_token(std::string_view token);

// The value the token's signature covers for the host header: lowercase host, ":port" unless
// the port is 443 (botocore drops the default https port).
std::string rds_signed_host(std::string_view host, std::uint16_t port);

struct RdsVerifyOptions {
  std::vector<std::string> endpoint_hosts;  // names clients may use for this endpoint
  std::uint16_t port = 5432;
  std::string region;
  std::chrono::seconds max_future{5 * 60};  // "not yet valid" beyond this
};

struct RdsTokenClaims {
  std::string principal_arn;
  std::string access_key_id;
  std::string host;
  std::uint16_t port = 0;
  std::string db_user;
  std::string region;
  TimePoint issued;
  TimePoint expires;
  bool session = false;  // signed with temporary credentials
};

// Checks, in order: shape (parse), service, region, endpoint, DBUser == login_user, time,
// key, session expiry and token, signature (constant-time).
AuthResult<RdsTokenClaims> verify_rds_token(std::string_view token, std::string_view login_user,
                                            const KeyResolver& keys,
                                            const RdsVerifyOptions& options, TimePoint now,
                                            SigningKeyCache* cache = nullptr);

// verify_rds_token() with its own signing-key cache; thread-safe.
class RdsTokenVerifier {
 public:
  RdsTokenVerifier(const KeyResolver& keys, RdsVerifyOptions options,
                   std::size_t cache_capacity = 4096)
      : keys_(keys), options_(std::move(options)), cache_(cache_capacity) {}

  AuthResult<RdsTokenClaims> verify(std::string_view token, std::string_view login_user,
                                    TimePoint now) {
    return verify_rds_token(token, login_user, keys_, options_, now, &cache_);
  }
  const RdsVerifyOptions& options() const { return options_; }

 private:
  const KeyResolver& keys_;
  RdsVerifyOptions options_;
  SigningKeyCache cache_;
};

}  // namespace writegate::sigv4
