// writegate::pgwire error helpers — build the ErrorResponse / NoticeResponse a proxy sends.
//
// A PostgreSQL client shows the severity, SQLSTATE and message of an ErrorResponse; these
// helpers fill the fields the way PostgreSQL does (S and V both carry the severity) so that
// psql, libpq and the drivers print them like a server's own errors.
//
//   WG_ASSIGN_OR_RETURN(std::string bytes,
//       pgwire::error_response_bytes(pgwire::Severity::kFatal,
//                                    pgwire::sqlstate::kInvalidAuthorizationSpecification,
//                                    "This RDS Proxy requires TLS connections."));
//   socket.write(bytes);  // then close
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "pgwire/messages.h"

namespace writegate::pgwire {

enum class Severity {
  kError,
  kFatal,
  kPanic,
  kWarning,
  kNotice,
  kDebug,
  kInfo,
  kLog,
};

// "ERROR", "FATAL", ...
std::string_view severity_name(Severity severity);

// SQLSTATE codes a proxy needs (PostgreSQL appendix A).
namespace sqlstate {
inline constexpr std::string_view kSuccessfulCompletion = "00000";
inline constexpr std::string_view kConnectionException = "08000";
inline constexpr std::string_view kConnectionFailure = "08006";
inline constexpr std::string_view kSqlClientUnableToEstablishConnection = "08001";
inline constexpr std::string_view kProtocolViolation = "08P01";
inline constexpr std::string_view kFeatureNotSupported = "0A000";
inline constexpr std::string_view kInvalidAuthorizationSpecification = "28000";
inline constexpr std::string_view kInvalidPassword = "28P01";
inline constexpr std::string_view kInsufficientPrivilege = "42501";
inline constexpr std::string_view kTooManyConnections = "53300";
inline constexpr std::string_view kProgramLimitExceeded = "54000";
inline constexpr std::string_view kQueryCanceled = "57014";
inline constexpr std::string_view kAdminShutdown = "57P01";
inline constexpr std::string_view kCannotConnectNow = "57P03";
inline constexpr std::string_view kInternalError = "XX000";
}  // namespace sqlstate

// True for five characters of [0-9A-Z].
bool is_valid_sqlstate(std::string_view code);

// An ErrorResponse with S, V, C, M and, when not empty, D (detail) and H (hint).
ErrorResponse make_error_response(Severity severity, std::string_view sqlstate,
                                  std::string_view message, std::string_view detail = {},
                                  std::string_view hint = {});
NoticeResponse make_notice_response(Severity severity, std::string_view sqlstate,
                                    std::string_view message, std::string_view detail = {},
                                    std::string_view hint = {});

// The encoded ErrorResponse. Fails on an invalid SQLSTATE or a NUL byte in a text.
Result<std::string> error_response_bytes(Severity severity, std::string_view sqlstate,
                                         std::string_view message, std::string_view detail = {},
                                         std::string_view hint = {});

}  // namespace writegate::pgwire
