#include "pgwire/errors.h"

#include "pgwire/encode.h"

namespace writegate::pgwire {
namespace {

ErrorFields make_fields(Severity severity, std::string_view sqlstate, std::string_view message,
                        std::string_view detail, std::string_view hint) {
  ErrorFields f;
  std::string sev(severity_name(severity));
  f.fields.push_back({field::kSeverity, sev});
  f.fields.push_back({field::kSeverityNonLocalized, sev});
  f.fields.push_back({field::kSqlState, std::string(sqlstate)});
  f.fields.push_back({field::kMessage, std::string(message)});
  if (!detail.empty()) f.fields.push_back({field::kDetail, std::string(detail)});
  if (!hint.empty()) f.fields.push_back({field::kHint, std::string(hint)});
  return f;
}

}  // namespace

std::string_view severity_name(Severity severity) {
  switch (severity) {
    case Severity::kError:
      return "ERROR";
    case Severity::kFatal:
      return "FATAL";
    case Severity::kPanic:
      return "PANIC";
    case Severity::kWarning:
      return "WARNING";
    case Severity::kNotice:
      return "NOTICE";
    case Severity::kDebug:
      return "DEBUG";
    case Severity::kInfo:
      return "INFO";
    case Severity::kLog:
      return "LOG";
  }
  return "ERROR";
}

bool is_valid_sqlstate(std::string_view code) {
  if (code.size() != 5) return false;
  for (char c : code) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

ErrorResponse make_error_response(Severity severity, std::string_view sqlstate,
                                  std::string_view message, std::string_view detail,
                                  std::string_view hint) {
  return ErrorResponse{make_fields(severity, sqlstate, message, detail, hint)};
}

NoticeResponse make_notice_response(Severity severity, std::string_view sqlstate,
                                    std::string_view message, std::string_view detail,
                                    std::string_view hint) {
  return NoticeResponse{make_fields(severity, sqlstate, message, detail, hint)};
}

Result<std::string> error_response_bytes(Severity severity, std::string_view sqlstate,
                                         std::string_view message, std::string_view detail,
                                         std::string_view hint) {
  if (!is_valid_sqlstate(sqlstate)) {
    return Error::invalid_argument("invalid SQLSTATE \"" + std::string(sqlstate) +
                                   "\" (expected 5 characters of 0-9 and A-Z)");
  }
  return encode(make_error_response(severity, sqlstate, message, detail, hint));
}

}  // namespace writegate::pgwire
