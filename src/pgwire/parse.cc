#include "pgwire/parse.h"

#include <algorithm>
#include <string>
#include <unordered_set>

#include "pgwire/wire_reader.h"

namespace writegate::pgwire {
namespace {

using internal::describe_type_byte;
using internal::WireReader;

// Reserve no more entries than the bytes left could possibly hold, so that a 7-byte message
// claiming 65535 entries cannot make us allocate for 65535.
size_t plausible_count(size_t count, size_t remaining, size_t min_entry_bytes) {
  return std::min(count, remaining / min_entry_bytes);
}

template <typename Empty>
Result<Empty> parse_empty(std::string_view name, std::string_view body) {
  WireReader r(name, body);
  WG_RETURN_IF_ERROR(r.expect_end());
  return Empty{};
}

Result<TargetKind> parse_target(WireReader& r) {
  WG_ASSIGN_OR_RETURN(uint8_t kind, r.u8("target kind"));
  if (kind != 'S' && kind != 'P') {
    return r.fail("invalid target kind " + describe_type_byte(static_cast<char>(kind)) +
                  " (expected 'S' for a statement or 'P' for a portal)");
  }
  return static_cast<TargetKind>(kind);
}

Result<std::vector<int16_t>> parse_format_codes(WireReader& r, std::string_view what) {
  WG_ASSIGN_OR_RETURN(uint16_t count, r.u16(std::string(what) + " count"));
  std::vector<int16_t> formats;
  formats.reserve(plausible_count(count, r.remaining(), 2));
  for (uint16_t i = 0; i < count; ++i) {
    WG_ASSIGN_OR_RETURN(int16_t f, r.i16(what));
    formats.push_back(f);
  }
  return formats;
}

Result<std::vector<std::optional<std::string>>> parse_values(WireReader& r, std::string_view what) {
  WG_ASSIGN_OR_RETURN(uint16_t count, r.u16(std::string(what) + " count"));
  std::vector<std::optional<std::string>> values;
  values.reserve(plausible_count(count, r.remaining(), 4));
  for (uint16_t i = 0; i < count; ++i) {
    bool is_null = false;
    WG_ASSIGN_OR_RETURN(std::string_view v,
                        r.nullable_bytes(std::string(what) + " " + std::to_string(i + 1), is_null));
    if (is_null) {
      values.emplace_back(std::nullopt);
    } else {
      values.emplace_back(std::string(v));
    }
  }
  return values;
}

Status check_format_count(WireReader& r, size_t formats, size_t values, std::string_view what) {
  if (formats <= 1 || formats == values) return Status::ok_status();
  return r.fail(std::to_string(formats) + " " + std::string(what) + " format codes for " +
                std::to_string(values) + " " + std::string(what) + "s (must be 0, 1 or " +
                std::to_string(values) + ")");
}

Result<ErrorFields> parse_fields(std::string_view name, std::string_view body) {
  WireReader r(name, body);
  ErrorFields out;
  for (;;) {
    if (r.remaining() == 0) return r.fail("field list is not terminated by a NUL byte");
    WG_ASSIGN_OR_RETURN(uint8_t code, r.u8("field code"));
    if (code == 0) break;
    WG_ASSIGN_OR_RETURN(std::string_view value,
                        r.cstring("field " + describe_type_byte(static_cast<char>(code))));
    out.fields.push_back({static_cast<char>(code), std::string(value)});
  }
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<CopyFormat> parse_copy_format(std::string_view name, std::string_view body) {
  WireReader r(name, body);
  CopyFormat out;
  WG_ASSIGN_OR_RETURN(uint8_t overall, r.u8("overall format"));
  if (overall > 1) {
    return r.fail("invalid overall format " + std::to_string(overall) + " (expected 0 or 1)");
  }
  out.overall_format = static_cast<int8_t>(overall);
  WG_ASSIGN_OR_RETURN(out.column_formats, parse_format_codes(r, "column format"));
  for (size_t i = 0; i < out.column_formats.size(); ++i) {
    int16_t f = out.column_formats[i];
    if (f != 0 && f != 1) {
      return r.fail("column " + std::to_string(i + 1) + " has invalid format code " +
                    std::to_string(f) + " (expected 0 or 1)");
    }
    if (overall == 0 && f != 0) {
      return r.fail("column " + std::to_string(i + 1) +
                    " is binary but the overall format is text");
    }
  }
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Status check_type(const Frame& frame) {
  if (frame.kind == FrameKind::kMessage) return Status::ok_status();
  return Error::invalid_argument("not a typed message frame");
}

template <typename Variant, typename T>
Result<Variant> widen(Result<T> r) {
  if (!r) return std::move(r).error();
  return Variant(std::move(r).value());
}

}  // namespace

// ---- Untyped first packets --------------------------------------------------------------------

namespace {
Status expect_code(WireReader& r, uint32_t code, std::string_view name) {
  WG_ASSIGN_OR_RETURN(uint32_t got, r.u32("request code"));
  if (got != code) {
    return r.fail("request code " + std::to_string(got) + " is not the " + std::string(name) +
                  " code " + std::to_string(code));
  }
  return Status::ok_status();
}
}  // namespace

Result<SslRequest> parse_ssl_request(std::string_view body) {
  WireReader r("SSLRequest", body);
  WG_RETURN_IF_ERROR(expect_code(r, kSslRequestCode, "SSLRequest"));
  WG_RETURN_IF_ERROR(r.expect_end());
  return SslRequest{};
}

Result<GssEncRequest> parse_gssenc_request(std::string_view body) {
  WireReader r("GSSENCRequest", body);
  WG_RETURN_IF_ERROR(expect_code(r, kGssEncRequestCode, "GSSENCRequest"));
  WG_RETURN_IF_ERROR(r.expect_end());
  return GssEncRequest{};
}

Result<CancelRequest> parse_cancel_request(std::string_view body) {
  WireReader r("CancelRequest", body);
  WG_RETURN_IF_ERROR(expect_code(r, kCancelRequestCode, "CancelRequest"));
  CancelRequest out;
  WG_ASSIGN_OR_RETURN(out.process_id, r.i32("process id"));
  WG_ASSIGN_OR_RETURN(out.secret_key, r.i32("secret key"));
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<StartupMessage> parse_startup_message(std::string_view body) {
  WireReader r("StartupMessage", body);
  WG_ASSIGN_OR_RETURN(uint32_t version, r.u32("protocol version"));
  StartupMessage out;
  out.major_version = static_cast<uint16_t>(version >> 16);
  out.minor_version = static_cast<uint16_t>(version & 0xffff);
  if (out.major_version != 3) {
    return Error::invalid_argument(
        "unsupported protocol version " + std::to_string(out.major_version) + "." +
        std::to_string(out.minor_version) + ": only protocol 3.x is supported");
  }
  std::unordered_set<std::string_view> seen;
  for (;;) {
    if (r.remaining() == 0) return r.fail("parameter list is not terminated by a NUL byte");
    WG_ASSIGN_OR_RETURN(std::string_view name, r.cstring("parameter name"));
    if (name.empty()) break;
    WG_ASSIGN_OR_RETURN(std::string_view value,
                        r.cstring("value of parameter \"" + std::string(name) + "\""));
    if (!seen.insert(name).second) {
      return r.fail("parameter \"" + std::string(name) + "\" is given twice");
    }
    out.parameters.emplace_back(std::string(name), std::string(value));
  }
  WG_RETURN_IF_ERROR(r.expect_end());
  if (out.user().empty()) {
    return r.fail("no user name given (the \"user\" parameter is required)");
  }
  return out;
}

// ---- Frontend ---------------------------------------------------------------------------------

Result<Query> parse_query(std::string_view body) {
  WireReader r("Query", body);
  WG_ASSIGN_OR_RETURN(std::string_view sql, r.cstring("query string"));
  WG_RETURN_IF_ERROR(r.expect_end());
  return Query{std::string(sql)};
}

Result<Parse> parse_parse(std::string_view body) {
  WireReader r("Parse", body);
  Parse out;
  WG_ASSIGN_OR_RETURN(std::string_view stmt, r.cstring("statement name"));
  WG_ASSIGN_OR_RETURN(std::string_view query, r.cstring("query string"));
  out.statement = stmt;
  out.query = query;
  WG_ASSIGN_OR_RETURN(uint16_t count, r.u16("parameter type count"));
  out.param_type_oids.reserve(plausible_count(count, r.remaining(), 4));
  for (uint16_t i = 0; i < count; ++i) {
    WG_ASSIGN_OR_RETURN(uint32_t oid, r.u32("parameter type"));
    out.param_type_oids.push_back(oid);
  }
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<Bind> parse_bind(std::string_view body) {
  WireReader r("Bind", body);
  Bind out;
  WG_ASSIGN_OR_RETURN(std::string_view portal, r.cstring("portal name"));
  WG_ASSIGN_OR_RETURN(std::string_view stmt, r.cstring("statement name"));
  out.portal = portal;
  out.statement = stmt;
  WG_ASSIGN_OR_RETURN(out.param_formats, parse_format_codes(r, "parameter format"));
  WG_ASSIGN_OR_RETURN(out.params, parse_values(r, "parameter"));
  WG_RETURN_IF_ERROR(
      check_format_count(r, out.param_formats.size(), out.params.size(), "parameter"));
  WG_ASSIGN_OR_RETURN(out.result_formats, parse_format_codes(r, "result format"));
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<Describe> parse_describe(std::string_view body) {
  WireReader r("Describe", body);
  Describe out;
  WG_ASSIGN_OR_RETURN(out.kind, parse_target(r));
  WG_ASSIGN_OR_RETURN(std::string_view name, r.cstring("name"));
  out.name = name;
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<Execute> parse_execute(std::string_view body) {
  WireReader r("Execute", body);
  Execute out;
  WG_ASSIGN_OR_RETURN(std::string_view portal, r.cstring("portal name"));
  out.portal = portal;
  WG_ASSIGN_OR_RETURN(out.max_rows, r.i32("row limit"));
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<Close> parse_close(std::string_view body) {
  WireReader r("Close", body);
  Close out;
  WG_ASSIGN_OR_RETURN(out.kind, parse_target(r));
  WG_ASSIGN_OR_RETURN(std::string_view name, r.cstring("name"));
  out.name = name;
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<Sync> parse_sync(std::string_view body) {
  return parse_empty<Sync>("Sync", body);
}
Result<Flush> parse_flush(std::string_view body) {
  return parse_empty<Flush>("Flush", body);
}
Result<Terminate> parse_terminate(std::string_view body) {
  return parse_empty<Terminate>("Terminate", body);
}

Result<FunctionCall> parse_function_call(std::string_view body) {
  WireReader r("FunctionCall", body);
  FunctionCall out;
  WG_ASSIGN_OR_RETURN(out.function_oid, r.u32("function oid"));
  WG_ASSIGN_OR_RETURN(out.arg_formats, parse_format_codes(r, "argument format"));
  WG_ASSIGN_OR_RETURN(out.args, parse_values(r, "argument"));
  WG_RETURN_IF_ERROR(check_format_count(r, out.arg_formats.size(), out.args.size(), "argument"));
  WG_ASSIGN_OR_RETURN(out.result_format, r.i16("result format"));
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<CopyFail> parse_copy_fail(std::string_view body) {
  WireReader r("CopyFail", body);
  WG_ASSIGN_OR_RETURN(std::string_view message, r.cstring("error message"));
  WG_RETURN_IF_ERROR(r.expect_end());
  return CopyFail{std::string(message)};
}

Result<PasswordMessage> parse_password_message(std::string_view body) {
  WireReader r("PasswordMessage", body);
  WG_ASSIGN_OR_RETURN(std::string_view password, r.cstring("password"));
  WG_RETURN_IF_ERROR(r.expect_end());
  return PasswordMessage{std::string(password)};
}

Result<SaslInitialResponse> parse_sasl_initial_response(std::string_view body) {
  WireReader r("SASLInitialResponse", body);
  SaslInitialResponse out;
  WG_ASSIGN_OR_RETURN(std::string_view mechanism, r.cstring("mechanism name"));
  out.mechanism = mechanism;
  bool is_null = false;
  WG_ASSIGN_OR_RETURN(std::string_view data, r.nullable_bytes("initial response", is_null));
  if (!is_null) out.initial_response = std::string(data);
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<SaslResponse> parse_sasl_response(std::string_view body) {
  return SaslResponse{std::string(body)};
}

Result<GssResponse> parse_gss_response(std::string_view body) {
  return GssResponse{std::string(body)};
}

Result<FrontendMessage> parse_password_family(std::string_view body, PasswordKind kind) {
  switch (kind) {
    case PasswordKind::kPassword:
      return widen<FrontendMessage>(parse_password_message(body));
    case PasswordKind::kSaslInitialResponse:
      return widen<FrontendMessage>(parse_sasl_initial_response(body));
    case PasswordKind::kSaslResponse:
      return widen<FrontendMessage>(parse_sasl_response(body));
    case PasswordKind::kGssResponse:
      return widen<FrontendMessage>(parse_gss_response(body));
  }
  return Error::invalid_argument("unknown password message kind");
}

// ---- Both directions --------------------------------------------------------------------------

Result<CopyData> parse_copy_data(std::string_view body) {
  return CopyData{std::string(body)};
}
Result<CopyDone> parse_copy_done(std::string_view body) {
  return parse_empty<CopyDone>("CopyDone", body);
}

// ---- Backend ----------------------------------------------------------------------------------

Result<Authentication> parse_authentication(std::string_view body) {
  WireReader r("Authentication", body);
  WG_ASSIGN_OR_RETURN(int32_t code, r.i32("authentication request code"));
  Authentication out;
  out.type = static_cast<AuthType>(code);
  switch (out.type) {
    case AuthType::kOk:
    case AuthType::kKerberosV5:
    case AuthType::kCleartextPassword:
    case AuthType::kGss:
    case AuthType::kSspi:
      break;
    case AuthType::kMd5Password: {
      WG_ASSIGN_OR_RETURN(std::string_view salt, r.bytes(4, "MD5 salt"));
      out.data = salt;
      break;
    }
    case AuthType::kSasl:
      for (;;) {
        if (r.remaining() == 0)
          return r.fail("SASL mechanism list is not terminated by a NUL byte");
        WG_ASSIGN_OR_RETURN(std::string_view mechanism, r.cstring("SASL mechanism name"));
        if (mechanism.empty()) break;
        out.sasl_mechanisms.emplace_back(mechanism);
      }
      if (out.sasl_mechanisms.empty()) return r.fail("AuthenticationSASL offers no mechanism");
      break;
    case AuthType::kGssContinue:
    case AuthType::kSaslContinue:
    case AuthType::kSaslFinal:
      out.data = r.rest();
      break;
    default:
      return r.fail("unknown authentication request code " + std::to_string(code));
  }
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<BackendKeyData> parse_backend_key_data(std::string_view body) {
  WireReader r("BackendKeyData", body);
  BackendKeyData out;
  WG_ASSIGN_OR_RETURN(out.process_id, r.i32("process id"));
  WG_ASSIGN_OR_RETURN(out.secret_key, r.i32("secret key"));
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<ParameterStatus> parse_parameter_status(std::string_view body) {
  WireReader r("ParameterStatus", body);
  WG_ASSIGN_OR_RETURN(std::string_view name, r.cstring("parameter name"));
  WG_ASSIGN_OR_RETURN(std::string_view value, r.cstring("parameter value"));
  WG_RETURN_IF_ERROR(r.expect_end());
  return ParameterStatus{std::string(name), std::string(value)};
}

Result<NegotiateProtocolVersion> parse_negotiate_protocol_version(std::string_view body) {
  WireReader r("NegotiateProtocolVersion", body);
  NegotiateProtocolVersion out;
  WG_ASSIGN_OR_RETURN(out.newest_minor_version, r.i32("newest minor version"));
  WG_ASSIGN_OR_RETURN(int32_t count, r.i32("option count"));
  if (count < 0) return r.fail("negative option count " + std::to_string(count));
  for (int32_t i = 0; i < count; ++i) {
    WG_ASSIGN_OR_RETURN(std::string_view option, r.cstring("option name"));
    out.unrecognized_options.emplace_back(option);
  }
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<ReadyForQuery> parse_ready_for_query(std::string_view body) {
  WireReader r("ReadyForQuery", body);
  WG_ASSIGN_OR_RETURN(uint8_t status, r.u8("transaction status"));
  if (status != 'I' && status != 'T' && status != 'E') {
    return r.fail("invalid transaction status " + describe_type_byte(static_cast<char>(status)) +
                  " (expected 'I', 'T' or 'E')");
  }
  WG_RETURN_IF_ERROR(r.expect_end());
  return ReadyForQuery{static_cast<TransactionStatus>(status)};
}

Result<ErrorResponse> parse_error_response(std::string_view body) {
  WG_ASSIGN_OR_RETURN(ErrorFields fields, parse_fields("ErrorResponse", body));
  return ErrorResponse{std::move(fields)};
}

Result<NoticeResponse> parse_notice_response(std::string_view body) {
  WG_ASSIGN_OR_RETURN(ErrorFields fields, parse_fields("NoticeResponse", body));
  return NoticeResponse{std::move(fields)};
}

Result<NotificationResponse> parse_notification_response(std::string_view body) {
  WireReader r("NotificationResponse", body);
  NotificationResponse out;
  WG_ASSIGN_OR_RETURN(out.process_id, r.i32("process id"));
  WG_ASSIGN_OR_RETURN(std::string_view channel, r.cstring("channel name"));
  WG_ASSIGN_OR_RETURN(std::string_view payload, r.cstring("payload"));
  out.channel = channel;
  out.payload = payload;
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<ParseComplete> parse_parse_complete(std::string_view body) {
  return parse_empty<ParseComplete>("ParseComplete", body);
}
Result<BindComplete> parse_bind_complete(std::string_view body) {
  return parse_empty<BindComplete>("BindComplete", body);
}
Result<CloseComplete> parse_close_complete(std::string_view body) {
  return parse_empty<CloseComplete>("CloseComplete", body);
}
Result<NoData> parse_no_data(std::string_view body) {
  return parse_empty<NoData>("NoData", body);
}
Result<EmptyQueryResponse> parse_empty_query_response(std::string_view body) {
  return parse_empty<EmptyQueryResponse>("EmptyQueryResponse", body);
}
Result<PortalSuspended> parse_portal_suspended(std::string_view body) {
  return parse_empty<PortalSuspended>("PortalSuspended", body);
}

Result<ParameterDescription> parse_parameter_description(std::string_view body) {
  WireReader r("ParameterDescription", body);
  ParameterDescription out;
  WG_ASSIGN_OR_RETURN(uint16_t count, r.u16("parameter count"));
  out.type_oids.reserve(plausible_count(count, r.remaining(), 4));
  for (uint16_t i = 0; i < count; ++i) {
    WG_ASSIGN_OR_RETURN(uint32_t oid, r.u32("parameter type"));
    out.type_oids.push_back(oid);
  }
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<RowDescription> parse_row_description(std::string_view body) {
  WireReader r("RowDescription", body);
  RowDescription out;
  WG_ASSIGN_OR_RETURN(uint16_t count, r.u16("field count"));
  out.fields.reserve(plausible_count(count, r.remaining(), 19));
  for (uint16_t i = 0; i < count; ++i) {
    FieldDescription f;
    WG_ASSIGN_OR_RETURN(std::string_view name, r.cstring("field name"));
    f.name = name;
    WG_ASSIGN_OR_RETURN(f.table_oid, r.u32("table oid"));
    WG_ASSIGN_OR_RETURN(f.column_attribute, r.i16("column attribute number"));
    WG_ASSIGN_OR_RETURN(f.type_oid, r.u32("type oid"));
    WG_ASSIGN_OR_RETURN(f.type_size, r.i16("type size"));
    WG_ASSIGN_OR_RETURN(f.type_modifier, r.i32("type modifier"));
    WG_ASSIGN_OR_RETURN(f.format, r.i16("format code"));
    if (f.format != 0 && f.format != 1) {
      return r.fail("field " + std::to_string(i + 1) + " has invalid format code " +
                    std::to_string(f.format) + " (expected 0 or 1)");
    }
    out.fields.push_back(std::move(f));
  }
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<DataRow> parse_data_row(std::string_view body) {
  WireReader r("DataRow", body);
  DataRow out;
  WG_ASSIGN_OR_RETURN(out.values, parse_values(r, "column"));
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<CommandComplete> parse_command_complete(std::string_view body) {
  WireReader r("CommandComplete", body);
  WG_ASSIGN_OR_RETURN(std::string_view tag, r.cstring("command tag"));
  WG_RETURN_IF_ERROR(r.expect_end());
  return CommandComplete{std::string(tag)};
}

Result<FunctionCallResponse> parse_function_call_response(std::string_view body) {
  WireReader r("FunctionCallResponse", body);
  FunctionCallResponse out;
  bool is_null = false;
  WG_ASSIGN_OR_RETURN(std::string_view value, r.nullable_bytes("result", is_null));
  if (!is_null) out.result = std::string(value);
  WG_RETURN_IF_ERROR(r.expect_end());
  return out;
}

Result<CopyInResponse> parse_copy_in_response(std::string_view body) {
  WG_ASSIGN_OR_RETURN(CopyFormat f, parse_copy_format("CopyInResponse", body));
  return CopyInResponse{std::move(f)};
}
Result<CopyOutResponse> parse_copy_out_response(std::string_view body) {
  WG_ASSIGN_OR_RETURN(CopyFormat f, parse_copy_format("CopyOutResponse", body));
  return CopyOutResponse{std::move(f)};
}
Result<CopyBothResponse> parse_copy_both_response(std::string_view body) {
  WG_ASSIGN_OR_RETURN(CopyFormat f, parse_copy_format("CopyBothResponse", body));
  return CopyBothResponse{std::move(f)};
}

// ---- Dispatch ---------------------------------------------------------------------------------

Result<StartupPacket> parse_startup_packet(const Frame& frame) {
  switch (frame.kind) {
    case FrameKind::kSslRequest:
      return widen<StartupPacket>(parse_ssl_request(frame.body));
    case FrameKind::kGssEncRequest:
      return widen<StartupPacket>(parse_gssenc_request(frame.body));
    case FrameKind::kCancelRequest:
      return widen<StartupPacket>(parse_cancel_request(frame.body));
    case FrameKind::kStartupMessage:
      return widen<StartupPacket>(parse_startup_message(frame.body));
    case FrameKind::kMessage:
    case FrameKind::kEncryptionResponse:
      break;
  }
  return Error::invalid_argument("not a startup-phase frame");
}

Result<FrontendMessage> parse_frontend_message(const Frame& frame, PasswordKind password_kind) {
  WG_RETURN_IF_ERROR(check_type(frame));
  std::string_view b = frame.body;
  using M = FrontendMessage;
  switch (static_cast<FrontendType>(frame.type)) {
    case FrontendType::kBind:
      return widen<M>(parse_bind(b));
    case FrontendType::kClose:
      return widen<M>(parse_close(b));
    case FrontendType::kCopyData:
      return widen<M>(parse_copy_data(b));
    case FrontendType::kCopyDone:
      return widen<M>(parse_copy_done(b));
    case FrontendType::kCopyFail:
      return widen<M>(parse_copy_fail(b));
    case FrontendType::kDescribe:
      return widen<M>(parse_describe(b));
    case FrontendType::kExecute:
      return widen<M>(parse_execute(b));
    case FrontendType::kFlush:
      return widen<M>(parse_flush(b));
    case FrontendType::kFunctionCall:
      return widen<M>(parse_function_call(b));
    case FrontendType::kPasswordFamily:
      return parse_password_family(b, password_kind);
    case FrontendType::kParse:
      return widen<M>(parse_parse(b));
    case FrontendType::kQuery:
      return widen<M>(parse_query(b));
    case FrontendType::kSync:
      return widen<M>(parse_sync(b));
    case FrontendType::kTerminate:
      return widen<M>(parse_terminate(b));
  }
  return Error::invalid_argument("unknown frontend message type " + describe_type_byte(frame.type));
}

Result<BackendMessage> parse_backend_message(const Frame& frame) {
  WG_RETURN_IF_ERROR(check_type(frame));
  std::string_view b = frame.body;
  using M = BackendMessage;
  switch (static_cast<BackendType>(frame.type)) {
    case BackendType::kAuthentication:
      return widen<M>(parse_authentication(b));
    case BackendType::kBackendKeyData:
      return widen<M>(parse_backend_key_data(b));
    case BackendType::kBindComplete:
      return widen<M>(parse_bind_complete(b));
    case BackendType::kCloseComplete:
      return widen<M>(parse_close_complete(b));
    case BackendType::kCommandComplete:
      return widen<M>(parse_command_complete(b));
    case BackendType::kCopyData:
      return widen<M>(parse_copy_data(b));
    case BackendType::kCopyDone:
      return widen<M>(parse_copy_done(b));
    case BackendType::kCopyInResponse:
      return widen<M>(parse_copy_in_response(b));
    case BackendType::kCopyOutResponse:
      return widen<M>(parse_copy_out_response(b));
    case BackendType::kCopyBothResponse:
      return widen<M>(parse_copy_both_response(b));
    case BackendType::kDataRow:
      return widen<M>(parse_data_row(b));
    case BackendType::kEmptyQueryResponse:
      return widen<M>(parse_empty_query_response(b));
    case BackendType::kErrorResponse:
      return widen<M>(parse_error_response(b));
    case BackendType::kFunctionCallResponse:
      return widen<M>(parse_function_call_response(b));
    case BackendType::kNegotiateProtocolVersion:
      return widen<M>(parse_negotiate_protocol_version(b));
    case BackendType::kNoData:
      return widen<M>(parse_no_data(b));
    case BackendType::kNoticeResponse:
      return widen<M>(parse_notice_response(b));
    case BackendType::kNotificationResponse:
      return widen<M>(parse_notification_response(b));
    case BackendType::kParameterDescription:
      return widen<M>(parse_parameter_description(b));
    case BackendType::kParameterStatus:
      return widen<M>(parse_parameter_status(b));
    case BackendType::kParseComplete:
      return widen<M>(parse_parse_complete(b));
    case BackendType::kPortalSuspended:
      return widen<M>(parse_portal_suspended(b));
    case BackendType::kReadyForQuery:
      return widen<M>(parse_ready_for_query(b));
    case BackendType::kRowDescription:
      return widen<M>(parse_row_description(b));
  }
  return Error::invalid_argument("unknown backend message type " + describe_type_byte(frame.type));
}

}  // namespace writegate::pgwire
