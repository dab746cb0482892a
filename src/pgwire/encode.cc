#include "pgwire/encode.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <unordered_set>

namespace writegate::pgwire {
namespace {

// The largest body a length word can describe: Int32 max minus the length word itself.
constexpr size_t kMaxBody = static_cast<size_t>(std::numeric_limits<int32_t>::max()) - 4;

// Appends one message to `out`. The first problem met is kept; finish() reports it and then
// removes everything this writer appended, so a failed encode leaves `out` as it was.
class Writer {
 public:
  // A typed message.
  Writer(std::string& out, char type, std::string_view name)
      : out_(out), start_(out.size()), name_(name) {
    out_.push_back(type);
    length_at_ = out_.size();
    out_.append(4, '\0');
  }
  // An untyped first packet (length word first).
  Writer(std::string& out, std::string_view name) : out_(out), start_(out.size()), name_(name) {
    length_at_ = out_.size();
    out_.append(4, '\0');
  }

  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) {
    out_.push_back(static_cast<char>(v >> 8));
    out_.push_back(static_cast<char>(v & 0xff));
  }
  void i16(int16_t v) { u16(static_cast<uint16_t>(v)); }
  void u32(uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
      out_.push_back(static_cast<char>(v >> shift));
  }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void raw(std::string_view bytes) {
    if (!too_long(bytes.size())) out_.append(bytes);
  }
  void cstring(std::string_view s, std::string_view what) {
    if (s.find('\0') != std::string_view::npos) {
      fail(Error::invalid_argument(std::string(name_) + ": " + std::string(what) +
                                   " contains a NUL byte"));
      return;
    }
    raw(s);
    out_.push_back('\0');
  }
  void nullable(const std::optional<std::string>& v) {
    if (!v) {
      i32(-1);
      return;
    }
    if (too_long(v->size())) return;
    i32(static_cast<int32_t>(v->size()));
    raw(*v);
  }
  // An Int16 count; false (and the error kept) when it does not fit.
  bool count16(size_t n, std::string_view what) {
    if (n > 0xffff) {
      fail(Error::out_of_range(std::string(name_) + ": " + std::to_string(n) + " " +
                               std::string(what) + " exceed the limit of 65535"));
      return false;
    }
    u16(static_cast<uint16_t>(n));
    return true;
  }
  void fail(Error e) {
    if (!error_) error_ = std::move(e);
  }
  bool failed() const { return error_.has_value(); }
  std::string_view name() const { return name_; }

  Status finish() {
    if (!error_) {
      size_t body = out_.size() - length_at_ - 4;
      if (body > kMaxBody) {
        error_ = Error::out_of_range(std::string(name_) + ": message body of " +
                                     std::to_string(body) + " bytes exceeds the protocol maximum");
      }
    }
    if (error_) {
      out_.resize(start_);
      return *error_;
    }
    uint32_t length = static_cast<uint32_t>(out_.size() - length_at_);
    for (int i = 0; i < 4; ++i) {
      out_[length_at_ + i] = static_cast<char>(length >> (24 - 8 * i));
    }
    return Status::ok_status();
  }

 private:
  bool too_long(size_t n) {
    if (out_.size() - length_at_ + n <= kMaxBody + 4) return false;
    fail(Error::out_of_range(std::string(name_) +
                             ": message body exceeds the protocol maximum of " +
                             std::to_string(kMaxBody) + " bytes"));
    return true;
  }

  std::string& out_;
  size_t start_;
  size_t length_at_ = 0;
  std::string_view name_;
  std::optional<Error> error_;
};

Status empty_message(std::string& out, char type, std::string_view name) {
  Writer w(out, type, name);
  return w.finish();
}

void target(Writer& w, TargetKind kind) {
  if (kind != TargetKind::kStatement && kind != TargetKind::kPortal) {
    w.fail(Error::invalid_argument(std::string(w.name()) +
                                   ": target kind must be 'S' (statement) or 'P' (portal)"));
    return;
  }
  w.u8(static_cast<uint8_t>(kind));
}

void formats(Writer& w, const std::vector<int16_t>& codes, std::string_view what) {
  if (!w.count16(codes.size(), what)) return;
  for (int16_t c : codes)
    w.i16(c);
}

void values(Writer& w, const std::vector<std::optional<std::string>>& vals, std::string_view what) {
  if (!w.count16(vals.size(), what)) return;
  for (const auto& v : vals)
    w.nullable(v);
}

void check_format_count(Writer& w, size_t n_formats, size_t n_values, std::string_view what) {
  if (n_formats <= 1 || n_formats == n_values) return;
  w.fail(Error::invalid_argument(std::string(w.name()) + ": " + std::to_string(n_formats) + " " +
                                 std::string(what) + " format codes for " +
                                 std::to_string(n_values) + " " + std::string(what) +
                                 "s (must be 0, 1 or " + std::to_string(n_values) + ")"));
}

Status error_fields(std::string& out, char type, std::string_view name, const ErrorFields& m) {
  Writer w(out, type, name);
  for (const auto& f : m.fields) {
    if (f.code == '\0') {
      w.fail(Error::invalid_argument(std::string(name) + ": field code 0 is reserved"));
      break;
    }
    w.u8(static_cast<uint8_t>(f.code));
    w.cstring(f.value, std::string("field '") + f.code + "'");
  }
  w.u8(0);
  return w.finish();
}

Status copy_format(std::string& out, char type, std::string_view name, const CopyFormat& m) {
  Writer w(out, type, name);
  if (m.overall_format != 0 && m.overall_format != 1) {
    w.fail(Error::invalid_argument(std::string(name) + ": overall format must be 0 or 1"));
  }
  for (size_t i = 0; i < m.column_formats.size(); ++i) {
    int16_t f = m.column_formats[i];
    if ((f != 0 && f != 1) || (m.overall_format == 0 && f != 0)) {
      w.fail(Error::invalid_argument(std::string(name) + ": column " + std::to_string(i + 1) +
                                     " format must be 0 or 1, and 0 when the overall format is"
                                     " text"));
    }
  }
  w.u8(static_cast<uint8_t>(m.overall_format));
  formats(w, m.column_formats, "column formats");
  return w.finish();
}

}  // namespace

// ---- Untyped first packets --------------------------------------------------------------------

Status encode_to(const SslRequest&, std::string& out) {
  Writer w(out, "SSLRequest");
  w.u32(kSslRequestCode);
  return w.finish();
}

Status encode_to(const GssEncRequest&, std::string& out) {
  Writer w(out, "GSSENCRequest");
  w.u32(kGssEncRequestCode);
  return w.finish();
}

Status encode_to(const CancelRequest& m, std::string& out) {
  Writer w(out, "CancelRequest");
  w.u32(kCancelRequestCode);
  w.i32(m.process_id);
  w.i32(m.secret_key);
  return w.finish();
}

Status encode_to(const StartupMessage& m, std::string& out) {
  Writer w(out, "StartupMessage");
  if (m.major_version != 3) {
    w.fail(Error::invalid_argument("StartupMessage: only protocol 3.x can be encoded"));
  }
  w.u32((uint32_t{m.major_version} << 16) | m.minor_version);
  std::unordered_set<std::string_view> seen;
  for (const auto& [name, value] : m.parameters) {
    if (name.empty()) {
      w.fail(Error::invalid_argument("StartupMessage: a parameter name is empty"));
    } else if (!seen.insert(name).second) {
      w.fail(Error::invalid_argument("StartupMessage: parameter \"" + name + "\" is given twice"));
    }
    w.cstring(name, "a parameter name");
    w.cstring(value, "the value of parameter \"" + name + "\"");
  }
  if (m.user().empty()) {
    w.fail(Error::invalid_argument(
        "StartupMessage: no user name given (the \"user\" parameter is required)"));
  }
  w.u8(0);
  return w.finish();
}

Status encode_to(const StartupPacket& m, std::string& out) {
  return std::visit([&](const auto& v) { return encode_to(v, out); }, m);
}

// ---- Frontend ---------------------------------------------------------------------------------

Status encode_to(const Query& m, std::string& out) {
  Writer w(out, 'Q', "Query");
  w.cstring(m.sql, "query string");
  return w.finish();
}

Status encode_to(const Parse& m, std::string& out) {
  Writer w(out, 'P', "Parse");
  w.cstring(m.statement, "statement name");
  w.cstring(m.query, "query string");
  if (w.count16(m.param_type_oids.size(), "parameter types")) {
    for (uint32_t oid : m.param_type_oids)
      w.u32(oid);
  }
  return w.finish();
}

Status encode_to(const Bind& m, std::string& out) {
  Writer w(out, 'B', "Bind");
  w.cstring(m.portal, "portal name");
  w.cstring(m.statement, "statement name");
  check_format_count(w, m.param_formats.size(), m.params.size(), "parameter");
  formats(w, m.param_formats, "parameter formats");
  values(w, m.params, "parameters");
  formats(w, m.result_formats, "result formats");
  return w.finish();
}

Status encode_to(const Describe& m, std::string& out) {
  Writer w(out, 'D', "Describe");
  target(w, m.kind);
  w.cstring(m.name, "name");
  return w.finish();
}

Status encode_to(const Execute& m, std::string& out) {
  Writer w(out, 'E', "Execute");
  w.cstring(m.portal, "portal name");
  w.i32(m.max_rows);
  return w.finish();
}

Status encode_to(const Close& m, std::string& out) {
  Writer w(out, 'C', "Close");
  target(w, m.kind);
  w.cstring(m.name, "name");
  return w.finish();
}

Status encode_to(const Sync&, std::string& out) {
  return empty_message(out, 'S', "Sync");
}
Status encode_to(const Flush&, std::string& out) {
  return empty_message(out, 'H', "Flush");
}
Status encode_to(const Terminate&, std::string& out) {
  return empty_message(out, 'X', "Terminate");
}

Status encode_to(const FunctionCall& m, std::string& out) {
  Writer w(out, 'F', "FunctionCall");
  w.u32(m.function_oid);
  check_format_count(w, m.arg_formats.size(), m.args.size(), "argument");
  formats(w, m.arg_formats, "argument formats");
  values(w, m.args, "arguments");
  w.i16(m.result_format);
  return w.finish();
}

Status encode_to(const CopyFail& m, std::string& out) {
  Writer w(out, 'f', "CopyFail");
  w.cstring(m.message, "error message");
  return w.finish();
}

Status encode_to(const PasswordMessage& m, std::string& out) {
  Writer w(out, 'p', "PasswordMessage");
  w.cstring(m.password, "password");
  return w.finish();
}

Status encode_to(const SaslInitialResponse& m, std::string& out) {
  Writer w(out, 'p', "SASLInitialResponse");
  w.cstring(m.mechanism, "mechanism name");
  w.nullable(m.initial_response);
  return w.finish();
}

Status encode_to(const SaslResponse& m, std::string& out) {
  Writer w(out, 'p', "SASLResponse");
  w.raw(m.data);
  return w.finish();
}

Status encode_to(const GssResponse& m, std::string& out) {
  Writer w(out, 'p', "GSSResponse");
  w.raw(m.data);
  return w.finish();
}

Status encode_to(const FrontendMessage& m, std::string& out) {
  return std::visit([&](const auto& v) { return encode_to(v, out); }, m);
}

// ---- Both directions --------------------------------------------------------------------------

Status encode_to(const CopyData& m, std::string& out) {
  Writer w(out, 'd', "CopyData");
  w.raw(m.data);
  return w.finish();
}

Status encode_to(const CopyDone&, std::string& out) {
  return empty_message(out, 'c', "CopyDone");
}

// ---- Backend ----------------------------------------------------------------------------------

Status encode_to(const Authentication& m, std::string& out) {
  Writer w(out, 'R', "Authentication");
  w.i32(static_cast<int32_t>(m.type));
  bool takes_data = false;
  switch (m.type) {
    case AuthType::kOk:
    case AuthType::kKerberosV5:
    case AuthType::kCleartextPassword:
    case AuthType::kGss:
    case AuthType::kSspi:
    case AuthType::kSasl:
      break;
    case AuthType::kMd5Password:
      takes_data = true;
      if (m.data.size() != 4) {
        w.fail(Error::invalid_argument("Authentication: the MD5 salt must be 4 bytes, not " +
                                       std::to_string(m.data.size())));
      }
      break;
    case AuthType::kGssContinue:
    case AuthType::kSaslContinue:
    case AuthType::kSaslFinal:
      takes_data = true;
      break;
    default:
      w.fail(Error::invalid_argument("Authentication: unknown authentication request code " +
                                     std::to_string(static_cast<int32_t>(m.type))));
  }
  if (!takes_data && !m.data.empty()) {
    w.fail(Error::invalid_argument("Authentication: this request type carries no data"));
  }
  if (m.type == AuthType::kSasl) {
    if (m.sasl_mechanisms.empty()) {
      w.fail(Error::invalid_argument("Authentication: AuthenticationSASL needs a mechanism"));
    }
    for (const auto& mech : m.sasl_mechanisms) {
      if (mech.empty()) w.fail(Error::invalid_argument("Authentication: empty SASL mechanism"));
      w.cstring(mech, "SASL mechanism name");
    }
    w.u8(0);
  } else if (!m.sasl_mechanisms.empty()) {
    w.fail(Error::invalid_argument("Authentication: only AuthenticationSASL lists mechanisms"));
  }
  if (takes_data) w.raw(m.data);
  return w.finish();
}

Status encode_to(const BackendKeyData& m, std::string& out) {
  Writer w(out, 'K', "BackendKeyData");
  w.i32(m.process_id);
  w.i32(m.secret_key);
  return w.finish();
}

Status encode_to(const ParameterStatus& m, std::string& out) {
  Writer w(out, 'S', "ParameterStatus");
  w.cstring(m.name, "parameter name");
  w.cstring(m.value, "parameter value");
  return w.finish();
}

Status encode_to(const NegotiateProtocolVersion& m, std::string& out) {
  Writer w(out, 'v', "NegotiateProtocolVersion");
  w.i32(m.newest_minor_version);
  if (m.unrecognized_options.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    w.fail(Error::out_of_range("NegotiateProtocolVersion: too many options"));
  }
  w.i32(static_cast<int32_t>(m.unrecognized_options.size()));
  for (const auto& o : m.unrecognized_options)
    w.cstring(o, "option name");
  return w.finish();
}

Status encode_to(const ReadyForQuery& m, std::string& out) {
  Writer w(out, 'Z', "ReadyForQuery");
  char s = static_cast<char>(m.status);
  if (s != 'I' && s != 'T' && s != 'E') {
    w.fail(Error::invalid_argument("ReadyForQuery: transaction status must be 'I', 'T' or 'E'"));
  }
  w.u8(static_cast<uint8_t>(s));
  return w.finish();
}

Status encode_to(const ErrorResponse& m, std::string& out) {
  return error_fields(out, 'E', "ErrorResponse", m);
}

Status encode_to(const NoticeResponse& m, std::string& out) {
  return error_fields(out, 'N', "NoticeResponse", m);
}

Status encode_to(const NotificationResponse& m, std::string& out) {
  Writer w(out, 'A', "NotificationResponse");
  w.i32(m.process_id);
  w.cstring(m.channel, "channel name");
  w.cstring(m.payload, "payload");
  return w.finish();
}

Status encode_to(const ParseComplete&, std::string& out) {
  return empty_message(out, '1', "ParseComplete");
}
Status encode_to(const BindComplete&, std::string& out) {
  return empty_message(out, '2', "BindComplete");
}
Status encode_to(const CloseComplete&, std::string& out) {
  return empty_message(out, '3', "CloseComplete");
}
Status encode_to(const NoData&, std::string& out) {
  return empty_message(out, 'n', "NoData");
}
Status encode_to(const EmptyQueryResponse&, std::string& out) {
  return empty_message(out, 'I', "EmptyQueryResponse");
}
Status encode_to(const PortalSuspended&, std::string& out) {
  return empty_message(out, 's', "PortalSuspended");
}

Status encode_to(const ParameterDescription& m, std::string& out) {
  Writer w(out, 't', "ParameterDescription");
  if (w.count16(m.type_oids.size(), "parameters")) {
    for (uint32_t oid : m.type_oids)
      w.u32(oid);
  }
  return w.finish();
}

Status encode_to(const RowDescription& m, std::string& out) {
  Writer w(out, 'T', "RowDescription");
  if (w.count16(m.fields.size(), "fields")) {
    for (size_t i = 0; i < m.fields.size(); ++i) {
      const FieldDescription& f = m.fields[i];
      if (f.format != 0 && f.format != 1) {
        w.fail(Error::invalid_argument("RowDescription: field " + std::to_string(i + 1) +
                                       " format must be 0 or 1"));
      }
      w.cstring(f.name, "field name");
      w.u32(f.table_oid);
      w.i16(f.column_attribute);
      w.u32(f.type_oid);
      w.i16(f.type_size);
      w.i32(f.type_modifier);
      w.i16(f.format);
    }
  }
  return w.finish();
}

Status encode_to(const DataRow& m, std::string& out) {
  Writer w(out, 'D', "DataRow");
  values(w, m.values, "columns");
  return w.finish();
}

Status encode_to(const CommandComplete& m, std::string& out) {
  Writer w(out, 'C', "CommandComplete");
  w.cstring(m.tag, "command tag");
  return w.finish();
}

Status encode_to(const FunctionCallResponse& m, std::string& out) {
  Writer w(out, 'V', "FunctionCallResponse");
  w.nullable(m.result);
  return w.finish();
}

Status encode_to(const CopyInResponse& m, std::string& out) {
  return copy_format(out, 'G', "CopyInResponse", m);
}
Status encode_to(const CopyOutResponse& m, std::string& out) {
  return copy_format(out, 'H', "CopyOutResponse", m);
}
Status encode_to(const CopyBothResponse& m, std::string& out) {
  return copy_format(out, 'W', "CopyBothResponse", m);
}

Status encode_to(const BackendMessage& m, std::string& out) {
  return std::visit([&](const auto& v) { return encode_to(v, out); }, m);
}

}  // namespace writegate::pgwire
