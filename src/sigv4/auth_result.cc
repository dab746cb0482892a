#include "sigv4/auth_result.h"

#include <string>

namespace writegate::sigv4 {

std::string_view auth_failure_name(AuthFailure failure) {
  switch (failure) {
    case AuthFailure::kMalformed:
      return "malformed";
    case AuthFailure::kTooLarge:
      return "too_large";
    case AuthFailure::kUnsupportedAlgorithm:
      return "unsupported_algorithm";
    case AuthFailure::kBadDate:
      return "bad_date";
    case AuthFailure::kExpiresTooLong:
      return "expires_too_long";
    case AuthFailure::kBadPort:
      return "bad_port";
    case AuthFailure::kWrongService:
      return "wrong_service";
    case AuthFailure::kWrongRegion:
      return "wrong_region";
    case AuthFailure::kWrongEndpoint:
      return "wrong_endpoint";
    case AuthFailure::kWrongUser:
      return "wrong_user";
    case AuthFailure::kUnknownKey:
      return "unknown_key";
    case AuthFailure::kSessionExpired:
      return "session_expired";
    case AuthFailure::kBadSecurityToken:
      return "bad_security_token";
    case AuthFailure::kExpired:
      return "expired";
    case AuthFailure::kNotYetValid:
      return "not_yet_valid";
    case AuthFailure::kPayloadHashMismatch:
      return "payload_hash_mismatch";
    case AuthFailure::kUnsignedPayload:
      return "unsigned_payload";
    case AuthFailure::kBadSignature:
      return "bad_signature";
  }
  return "unknown";
}

Rejection reject(AuthFailure reason, std::string message) {
  switch (reason) {
    case AuthFailure::kMalformed:
    case AuthFailure::kTooLarge:
    case AuthFailure::kBadDate:
    case AuthFailure::kBadPort:
    case AuthFailure::kExpiresTooLong:
      return {reason, Error::invalid_argument(std::move(message))};
    default:
      return {reason, Error::unauthenticated(std::move(message))};
  }
}

}  // namespace writegate::sigv4
