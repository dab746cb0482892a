// AWS Signature Version 4: canonical requests, signing, presigning and verification.
//
// Pure functions over a plain HttpRequest (no sockets). The proxy and the local AWS endpoint
// verify requests with verify_request() against a KeyResolver (the IAM store implements it);
// clients sign with sign_request() / presign_request(). Every intermediate (canonical request,
// string to sign, signature) is returned in SignatureDetails so tests can check each step
// against the AWS test suite.
//
//   HttpRequest req{.method = "GET", .path = "/", .query = {{"Action", "GetCallerIdentity"}},
//                   .headers = {{"Host", "127.0.0.1:4566"}}};
//   SigningParams params{.region = "us-east-1", .service = "sts", .time = now};
//   auto signed_ = sign_request(req, credentials, params, &cache);  // adds Authorization etc.
//
//   // server side
//   VerifyOptions opts{.service = "sts", .regions = {"us-east-1"}, .now = now};
//   AuthResult<VerifiedRequest> who = verify_request(req, key_store, opts, &cache);
//   if (!who) reply_403(auth_failure_name(who.rejection().reason));
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secret_string.h"
#include "sigv4/auth_result.h"
#include "sigv4/signing_key_cache.h"

namespace writegate::sigv4 {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
// sha256("") — the payload hash of a request without a body.
inline constexpr std::string_view kEmptyPayloadHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

struct Credentials {
  std::string access_key_id;
  SecretString secret_access_key;
  SecretString session_token;  // empty for long-term keys
};

struct QueryParam {
  std::string name;   // decoded
  std::string value;  // decoded
  bool operator==(const QueryParam&) const = default;
};

struct Header {
  std::string name;  // any case; canonicalisation lowercases
  std::string value;
  bool operator==(const Header&) const = default;
};

// One HTTP request as the signer sees it. Repeated headers are separate entries.
struct HttpRequest {
  std::string method = "GET";
  std::string path = "/";         // as on the wire: may already hold %XX escapes
  std::vector<QueryParam> query;  // decoded names and values, in wire order
  std::vector<Header> headers;
  std::string body;
  // Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"; empty means "hash body".
  std::string payload_hash;

  // The first header with this name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
};

// How the path enters the canonical request.
enum class PathMode {
  // Every AWS service but S3: remove dot segments and repeated slashes, then encode each byte
  // outside A-Za-z0-9-_.~/ (an existing %XX is encoded again: "double encoding").
  kNormalize,
  // S3: the path as sent, encoded once (existing %XX escapes are kept).
  kS3,
};

struct SigningParams {
  std::string region;
  std::string service;
  TimePoint time;
  PathMode path_mode = PathMode::kNormalize;
  // Header signing: also send and sign x-amz-content-sha256 (S3 requires it).
  bool add_content_sha256_header = false;
  // Presigning: X-Amz-Expires in seconds.
  std::chrono::seconds expires{3600};
};

// The intermediates of one signature.
struct SignatureDetails {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;         // 64 lowercase hex digits
  std::string amz_date;          // yyyymmddThhmmssZ
  std::string credential_scope;  // yyyymmdd/region/service/aws4_request
  std::string signed_headers;    // "host;x-amz-date"
};

// ---- encoding and canonical forms -------------------------------------------------------------

// Percent-encodes every byte outside A-Za-z0-9-_.~ as %XX (uppercase); keeps '/' if asked.
std::string uri_encode(std::string_view text, bool keep_slash = false);
void append_uri_encoded(std::string& out, std::string_view text, bool keep_slash = false);

// Decodes %XX escapes ('+' stays '+'); a '%' without two hex digits is an error.
Result<std::string> percent_decode(std::string_view text);

// Splits "a=1&b=&c" into decoded params (a missing '=' gives an empty value).
Result<std::vector<QueryParam>> parse_query(std::string_view raw_query);

std::string canonical_uri(std::string_view path, PathMode mode);

// Encodes each name and value, sorts by encoded name then encoded value, joins with '&'.
// Params whose decoded name equals `skip` (e.g. "X-Amz-Signature") are left out.
std::string canonical_query(const std::vector<QueryParam>& params, std::string_view skip = {});

struct CanonicalHeaders {
  std::string canonical;       // "host:example.com\nx-amz-date:...\n" (each line ends in \n)
  std::string signed_headers;  // "host;x-amz-date"
};
// Lowercases names, trims values and collapses runs of spaces, joins repeated headers with ','
// in their order, sorts by name. If `only` is non-empty, only those (lowercase) names are used.
CanonicalHeaders canonical_headers(const std::vector<Header>& headers,
                                   const std::vector<std::string_view>& only = {});

std::string build_canonical_request(std::string_view method, std::string_view canonical_uri,
                                    std::string_view canonical_query,
                                    const CanonicalHeaders& headers, std::string_view payload_hash);

std::string credential_scope(std::string_view date, std::string_view region,
                             std::string_view service);
std::string build_string_to_sign(std::string_view amz_date, std::string_view scope,
                                 std::string_view canonical_request);

// yyyymmddThhmmssZ in UTC (seconds truncated).
std::string format_amz_date(TimePoint time);
// Strict: exactly 16 characters, a real calendar date in the years 1970..kMaxAmzYear,
// hours < 24, ... .
inline constexpr int kMaxAmzYear = 2200;
Result<TimePoint> parse_amz_date(std::string_view text);

// hex(HMAC(signing_key, string_to_sign)).
std::string compute_signature(const SigningKey& key, std::string_view string_to_sign);

// ---- client side ------------------------------------------------------------------------------

// Adds X-Amz-Date, X-Amz-Security-Token (with a session token), x-amz-content-sha256 (if asked)
// and Authorization to request.headers. A Host header must be present already.
Result<SignatureDetails> sign_request(HttpRequest& request, const Credentials& credentials,
                                      const SigningParams& params,
                                      SigningKeyCache* cache = nullptr);

// Appends X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders, [-Security-Token],
// -Signature to request.query, in that order (botocore's order). The session token is not a
// signed header. The payload hash is request.payload_hash, else sha256(body); for S3 set
// request.payload_hash = kUnsignedPayload (the verifier must then see the same).
Result<SignatureDetails> presign_request(HttpRequest& request, const Credentials& credentials,
                                         const SigningParams& params,
                                         SigningKeyCache* cache = nullptr);

// "?a=1&b=2" from the query params in order, each name and value uri_encode()d.
std::string encode_query_string(const std::vector<QueryParam>& params);

// ---- server side ------------------------------------------------------------------------------

// What the key store knows about an access key id.
struct ResolvedKey {
  SecretString secret_access_key;
  std::optional<SecretString> session_token;  // set for STS sessions: must match the request
  std::optional<TimePoint> expires;           // end of an STS session
  std::string principal_arn;                  // arn:aws:iam::123456789012:user/x, assumed-role/...
};

// Implemented by the IAM/STS store. An error with code kNotFound means "unknown key"; any other
// error is reported as unknown key too, with its message kept.
class KeyResolver {
 public:
  virtual ~KeyResolver() = default;
  virtual Result<ResolvedKey> resolve(std::string_view access_key_id, TimePoint now) const = 0;
};

struct VerifyOptions {
  std::string service;               // required service in the scope, e.g. "sts"
  std::vector<std::string> regions;  // accepted regions; empty accepts any
  TimePoint now;
  PathMode path_mode = PathMode::kNormalize;
  // Header-signed: |X-Amz-Date - now| must not exceed this (AWS: 15 minutes).
  std::chrono::seconds max_skew{15 * 60};
  // Presigned: X-Amz-Date may be at most this far in the future.
  std::chrono::seconds max_future{5 * 60};
  std::chrono::seconds max_expires{7 * 24 * 3600};  // presigned X-Amz-Expires limit
  // Header-signed requests may declare x-amz-content-sha256 "UNSIGNED-PAYLOAD" or "STREAMING-*"
  // and leave the body unchecked. Only S3 allows that; off, such a request is refused
  // (kUnsignedPayload) and a declared hash must be the body's SHA-256 (kPayloadHashMismatch).
  bool allow_unsigned_payload = false;
};

struct VerifiedRequest {
  std::string principal_arn;
  std::string access_key_id;
  std::string region;
  std::string service;
  TimePoint signed_at;
  bool presigned = false;
  bool session = false;  // signed with temporary (STS) credentials
  SignatureDetails details;
};

// Verifies a header-signed (Authorization) or presigned (X-Amz-Signature) request. The order of
// query parameters does not matter. Signatures are compared in constant time.
AuthResult<VerifiedRequest> verify_request(const HttpRequest& request, const KeyResolver& keys,
                                           const VerifyOptions& options,
                                           SigningKeyCache* cache = nullptr);

}  // namespace writegate::sigv4
