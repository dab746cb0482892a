#include "pgwire/messages.h"

namespace writegate::pgwire {

std::optional<std::string_view> StartupMessage::parameter(std::string_view name) const {
  for (const auto& [key, value] : parameters) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

std::string_view StartupMessage::database() const {
  auto db = parameter("database");
  if (db && !db->empty()) return *db;
  return user();
}

std::vector<std::string> StartupMessage::protocol_options() const {
  std::vector<std::string> out;
  for (const auto& [key, value] : parameters) {
    if (key.starts_with("_pq_.")) out.push_back(key);
  }
  return out;
}

std::optional<std::string_view> ErrorFields::get(char code) const {
  for (const auto& f : fields) {
    if (f.code == code) return std::string_view(f.value);
  }
  return std::nullopt;
}

std::string_view ErrorFields::severity() const {
  if (auto v = get(field::kSeverityNonLocalized)) return *v;
  return get(field::kSeverity).value_or("");
}

std::string_view frontend_type_name(char type) {
  switch (static_cast<FrontendType>(type)) {
    case FrontendType::kBind:
      return "Bind";
    case FrontendType::kClose:
      return "Close";
    case FrontendType::kCopyData:
      return "CopyData";
    case FrontendType::kCopyDone:
      return "CopyDone";
    case FrontendType::kCopyFail:
      return "CopyFail";
    case FrontendType::kDescribe:
      return "Describe";
    case FrontendType::kExecute:
      return "Execute";
    case FrontendType::kFlush:
      return "Flush";
    case FrontendType::kFunctionCall:
      return "FunctionCall";
    case FrontendType::kPasswordFamily:
      return "PasswordMessage";
    case FrontendType::kParse:
      return "Parse";
    case FrontendType::kQuery:
      return "Query";
    case FrontendType::kSync:
      return "Sync";
    case FrontendType::kTerminate:
      return "Terminate";
  }
  return "unknown";
}

std::string_view backend_type_name(char type) {
  switch (static_cast<BackendType>(type)) {
    case BackendType::kAuthentication:
      return "Authentication";
    case BackendType::kBackendKeyData:
      return "BackendKeyData";
    case BackendType::kBindComplete:
      return "BindComplete";
    case BackendType::kCloseComplete:
      return "CloseComplete";
    case BackendType::kCommandComplete:
      return "CommandComplete";
    case BackendType::kCopyData:
      return "CopyData";
    case BackendType::kCopyDone:
      return "CopyDone";
    case BackendType::kCopyInResponse:
      return "CopyInResponse";
    case BackendType::kCopyOutResponse:
      return "CopyOutResponse";
    case BackendType::kCopyBothResponse:
      return "CopyBothResponse";
    case BackendType::kDataRow:
      return "DataRow";
    case BackendType::kEmptyQueryResponse:
      return "EmptyQueryResponse";
    case BackendType::kErrorResponse:
      return "ErrorResponse";
    case BackendType::kFunctionCallResponse:
      return "FunctionCallResponse";
    case BackendType::kNegotiateProtocolVersion:
      return "NegotiateProtocolVersion";
    case BackendType::kNoData:
      return "NoData";
    case BackendType::kNoticeResponse:
      return "NoticeResponse";
    case BackendType::kNotificationResponse:
      return "NotificationResponse";
    case BackendType::kParameterDescription:
      return "ParameterDescription";
    case BackendType::kParameterStatus:
      return "ParameterStatus";
    case BackendType::kParseComplete:
      return "ParseComplete";
    case BackendType::kPortalSuspended:
      return "PortalSuspended";
    case BackendType::kReadyForQuery:
      return "ReadyForQuery";
    case BackendType::kRowDescription:
      return "RowDescription";
  }
  return "unknown";
}

bool is_frontend_type(char type) {
  return frontend_type_name(type) != "unknown";
}
bool is_backend_type(char type) {
  return backend_type_name(type) != "unknown";
}

}  // namespace writegate::pgwire
