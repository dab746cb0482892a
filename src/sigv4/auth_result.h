// Why a SigV4 request or an RDS auth token was refused, in a form a proxy can log and count.
//
// Verification answers AuthResult<T>: the verified claims, or a Rejection holding a stable
// machine-readable reason (AuthFailure, named by auth_failure_name()) and a writegate::Error
// whose message says what was wrong. Messages never contain secrets, session tokens or
// signatures.
//
//   AuthResult<RdsTokenClaims> r = verifier.verify(token, "lambda_writer", now);
//   if (!r) {
//     log("iam auth refused", auth_failure_name(r.rejection().reason),
//     r.rejection().error.message()); return;
//   }
//   use(r->principal_arn);
#pragma once

#include <string_view>
#include <utility>
#include <variant>

#include "common/result.h"

namespace writegate::sigv4 {

enum class AuthFailure {
  kMalformed,             // a parameter or header is missing, duplicated or unparsable
  kTooLarge,              // the token or header exceeds its size cap
  kUnsupportedAlgorithm,  // X-Amz-Algorithm / Authorization scheme is not AWS4-HMAC-SHA256
  kBadDate,               // X-Amz-Date is not yyyymmddThhmmssZ or disagrees with the scope date
  kExpiresTooLong,        // X-Amz-Expires above the limit (900 s for RDS tokens)
  kBadPort,               // the token's port is not a number in 1..65535
  kWrongService,          // the credential scope names another service
  kWrongRegion,           // the credential scope names another region
  kWrongEndpoint,         // host:port of the token is not this endpoint
  kWrongUser,             // DBUser is not the user logging in
  kUnknownKey,            // the access key id is not known to the key store
  kSessionExpired,        // the temporary credentials behind the key have expired
  kBadSecurityToken,      // X-Amz-Security-Token missing, unexpected or not the session's
  kExpired,               // signed too long ago (presigned: X-Amz-Date + X-Amz-Expires passed)
  kNotYetValid,           // signed more than the allowed skew in the future
  kPayloadHashMismatch,   // x-amz-content-sha256 does not match the body
  kUnsignedPayload,       // UNSIGNED-PAYLOAD / STREAMING-* where the service needs the body hash
  kBadSignature,          // the signature does not match
};

// "malformed", "expired", "bad_signature", ... (stable: used in logs and metrics labels).
std::string_view auth_failure_name(AuthFailure failure);

struct Rejection {
  AuthFailure reason;
  Error error;  // code kUnauthenticated (or kInvalidArgument for kMalformed-type input faults)
};

Rejection reject(AuthFailure reason, std::string message);

template <typename T>
class [[nodiscard]] AuthResult {
 public:
  AuthResult(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
  AuthResult(Rejection rejection)                                            // NOLINT: implicit
      : state_(std::in_place_index<1>, std::move(rejection)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Rejection& rejection() const& { return std::get<1>(state_); }
  Rejection&& rejection() && { return std::get<1>(std::move(state_)); }

  // The same outcome as a writegate::Result, dropping the machine-readable reason.
  Result<T> to_result() && {
    if (ok()) return std::move(*this).value();
    return std::move(*this).rejection().error;
  }

 private:
  std::variant<T, Rejection> state_;
};

}  // namespace writegate::sigv4
