// writegate::pgwire message types — one plain struct per message of the PostgreSQL v3 protocol.
//
// These are the values that the typed parsers (pgwire/parse.h) produce and the builders
// (pgwire/encode.h) consume. They own their data (std::string), compare with ==, and carry no
// behaviour beyond small accessors. Binary payloads (CopyData, DataRow values, SASL data) are
// kept in std::string as raw bytes.
//
// The same type byte means different messages in the two directions ('C' is Close from a
// client but CommandComplete from a server; 'H' is Flush or CopyOutResponse), so the message
// sets are split into FrontendMessage (client -> server) and BackendMessage (server -> client).
// The four client messages that share type 'p' (PasswordMessage, SASLInitialResponse,
// SASLResponse, GSSResponse) can only be told apart from the authentication state; see
// PasswordKind.
//
//   pgwire::Query q{.sql = "SELECT 1"};
//   pgwire::FrontendMessage m = q;
//   auto bytes = pgwire::encode(m);             // "Q\0\0\0\rSELECT 1\0"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace writegate::pgwire {

// ---- Constants of the untyped first packets ---------------------------------------------------

inline constexpr uint32_t kProtocolVersion3 = 3u << 16;   // 196608 = 3.0
inline constexpr uint32_t kCancelRequestCode = 80877102;  // 1234.5678
inline constexpr uint32_t kSslRequestCode = 80877103;     // 1234.5679
inline constexpr uint32_t kGssEncRequestCode = 80877104;  // 1234.5680

// Message type bytes sent by a client.
enum class FrontendType : char {
  kBind = 'B',
  kClose = 'C',
  kCopyData = 'd',
  kCopyDone = 'c',
  kCopyFail = 'f',
  kDescribe = 'D',
  kExecute = 'E',
  kFlush = 'H',
  kFunctionCall = 'F',
  kPasswordFamily = 'p',  // PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse
  kParse = 'P',
  kQuery = 'Q',
  kSync = 'S',
  kTerminate = 'X',
};

// Message type bytes sent by a server.
enum class BackendType : char {
  kAuthentication = 'R',
  kBackendKeyData = 'K',
  kBindComplete = '2',
  kCloseComplete = '3',
  kCommandComplete = 'C',
  kCopyData = 'd',
  kCopyDone = 'c',
  kCopyInResponse = 'G',
  kCopyOutResponse = 'H',
  kCopyBothResponse = 'W',
  kDataRow = 'D',
  kEmptyQueryResponse = 'I',
  kErrorResponse = 'E',
  kFunctionCallResponse = 'V',
  kNegotiateProtocolVersion = 'v',
  kNoData = 'n',
  kNoticeResponse = 'N',
  kNotificationResponse = 'A',
  kParameterDescription = 't',
  kParameterStatus = 'S',
  kParseComplete = '1',
  kPortalSuspended = 's',
  kReadyForQuery = 'Z',
  kRowDescription = 'T',
};

// Which of the 'p' messages a client is expected to send, given the authentication request
// the server sent last.
enum class PasswordKind {
  kPassword,             // after AuthenticationCleartextPassword / AuthenticationMD5Password
  kSaslInitialResponse,  // after AuthenticationSASL
  kSaslResponse,         // after AuthenticationSASLContinue
  kGssResponse,          // after AuthenticationGSS / AuthenticationSSPI / GSSContinue
};

// ---- Untyped first packets (client) -----------------------------------------------------------

struct SslRequest {
  bool operator==(const SslRequest&) const = default;
};

struct GssEncRequest {
  bool operator==(const GssEncRequest&) const = default;
};

struct CancelRequest {
  int32_t process_id = 0;
  int32_t secret_key = 0;  // a secret: never log it
  bool operator==(const CancelRequest&) const = default;
};

struct StartupMessage {
  uint16_t major_version = 3;  // the decoder only accepts 3
  uint16_t minor_version = 0;  // > 0 asks for NegotiateProtocolVersion
  // In wire order. Names are unique and non-empty; `user` is present and non-empty.
  std::vector<std::pair<std::string, std::string>> parameters;

  // The value of a parameter, or nullopt when absent.
  std::optional<std::string_view> parameter(std::string_view name) const;
  // The `user` parameter ("" only for a hand-built message that lacks it).
  std::string_view user() const { return parameter("user").value_or(""); }
  // The `database` parameter, defaulting to the user name as PostgreSQL does.
  std::string_view database() const;
  // Names starting with "_pq_." (protocol options) — to list in NegotiateProtocolVersion.
  std::vector<std::string> protocol_options() const;

  bool operator==(const StartupMessage&) const = default;
};

using StartupPacket = std::variant<SslRequest, GssEncRequest, CancelRequest, StartupMessage>;

// ---- Authentication ('R', server) and the 'p' family (client) ---------------------------------

enum class AuthType : int32_t {
  kOk = 0,
  kKerberosV5 = 2,
  kCleartextPassword = 3,
  kMd5Password = 5,
  kGss = 7,
  kGssContinue = 8,
  kSspi = 9,
  kSasl = 10,
  kSaslContinue = 11,
  kSaslFinal = 12,
};

struct Authentication {
  AuthType type = AuthType::kOk;
  // kMd5Password: the 4-byte salt. kGssContinue/kSaslContinue/kSaslFinal: the payload.
  // Empty for the other types.
  std::string data;
  // kSasl only: the offered mechanisms, e.g. {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}.
  std::vector<std::string> sasl_mechanisms;

  static Authentication ok() { return {AuthType::kOk, {}, {}}; }
  static Authentication cleartext_password() { return {AuthType::kCleartextPassword, {}, {}}; }
  static Authentication md5_password(std::string salt) {
    return {AuthType::kMd5Password, std::move(salt), {}};
  }
  static Authentication sasl(std::vector<std::string> mechanisms) {
    return {AuthType::kSasl, {}, std::move(mechanisms)};
  }
  static Authentication sasl_continue(std::string d) {
    return {AuthType::kSaslContinue, std::move(d), {}};
  }
  static Authentication sasl_final(std::string d) {
    return {AuthType::kSaslFinal, std::move(d), {}};
  }

  bool operator==(const Authentication&) const = default;
};

struct PasswordMessage {
  std::string password;  // a secret (an RDS token, a password, an "md5..." hash): never log it
  bool operator==(const PasswordMessage&) const = default;
};

struct SaslInitialResponse {
  std::string mechanism;
  std::optional<std::string> initial_response;  // nullopt is sent as length -1
  bool operator==(const SaslInitialResponse&) const = default;
};

struct SaslResponse {
  std::string data;
  bool operator==(const SaslResponse&) const = default;
};

struct GssResponse {
  std::string data;
  bool operator==(const GssResponse&) const = default;
};

// ---- Session start (server) -------------------------------------------------------------------

struct BackendKeyData {
  int32_t process_id = 0;
  int32_t secret_key = 0;  // a secret: never log it
  bool operator==(const BackendKeyData&) const = default;
};

struct ParameterStatus {
  std::string name;
  std::string value;
  bool operator==(const ParameterStatus&) const = default;
};

struct NegotiateProtocolVersion {
  int32_t newest_minor_version = 0;
  std::vector<std::string> unrecognized_options;
  bool operator==(const NegotiateProtocolVersion&) const = default;
};

enum class TransactionStatus : char {
  kIdle = 'I',
  kInTransaction = 'T',
  kFailed = 'E',
};

struct ReadyForQuery {
  TransactionStatus status = TransactionStatus::kIdle;
  bool operator==(const ReadyForQuery&) const = default;
};

// ---- ErrorResponse / NoticeResponse -----------------------------------------------------------

// Field codes of ErrorResponse and NoticeResponse (protocol section "Error and Notice Message
// Fields"). Unknown codes are kept as they are.
namespace field {
inline constexpr char kSeverity = 'S';              // localized severity
inline constexpr char kSeverityNonLocalized = 'V';  // ERROR, FATAL, PANIC, WARNING, NOTICE, ...
inline constexpr char kSqlState = 'C';
inline constexpr char kMessage = 'M';
inline constexpr char kDetail = 'D';
inline constexpr char kHint = 'H';
inline constexpr char kPosition = 'P';
inline constexpr char kInternalPosition = 'p';
inline constexpr char kInternalQuery = 'q';
inline constexpr char kWhere = 'W';
inline constexpr char kSchemaName = 's';
inline constexpr char kTableName = 't';
inline constexpr char kColumnName = 'c';
inline constexpr char kDataTypeName = 'd';
inline constexpr char kConstraintName = 'n';
inline constexpr char kFile = 'F';
inline constexpr char kLine = 'L';
inline constexpr char kRoutine = 'R';
}  // namespace field

struct ErrorField {
  char code = 0;  // never 0 on the wire: a 0 byte ends the list
  std::string value;
  bool operator==(const ErrorField&) const = default;
};

// The field list shared by ErrorResponse and NoticeResponse, in wire order.
struct ErrorFields {
  std::vector<ErrorField> fields;

  // The first field with this code, or nullopt.
  std::optional<std::string_view> get(char code) const;
  std::string_view severity() const;  // 'V' if present, else 'S', else ""
  std::string_view sqlstate() const { return get(field::kSqlState).value_or(""); }
  std::string_view message() const { return get(field::kMessage).value_or(""); }

  bool operator==(const ErrorFields&) const = default;
};

struct ErrorResponse : ErrorFields {
  bool operator==(const ErrorResponse&) const = default;
};

struct NoticeResponse : ErrorFields {
  bool operator==(const NoticeResponse&) const = default;
};

struct NotificationResponse {
  int32_t process_id = 0;
  std::string channel;
  std::string payload;
  bool operator==(const NotificationResponse&) const = default;
};

// ---- Simple and extended query ----------------------------------------------------------------

struct Query {
  std::string sql;
  bool operator==(const Query&) const = default;
};

struct Parse {
  std::string statement;  // "" = the unnamed statement
  std::string query;
  std::vector<uint32_t> param_type_oids;  // 0 = unspecified
  bool operator==(const Parse&) const = default;
};

struct Bind {
  std::string portal;     // "" = the unnamed portal
  std::string statement;  // "" = the unnamed statement
  // 0 entries (all text), 1 entry (applies to all) or one per parameter; 0 text, 1 binary.
  std::vector<int16_t> param_formats;
  std::vector<std::optional<std::string>> params;  // nullopt = SQL NULL (length -1)
  std::vector<int16_t> result_formats;
  bool operator==(const Bind&) const = default;
};

enum class TargetKind : char {
  kStatement = 'S',
  kPortal = 'P',
};

struct Describe {
  TargetKind kind = TargetKind::kStatement;
  std::string name;
  bool operator==(const Describe&) const = default;
};

struct Close {
  TargetKind kind = TargetKind::kStatement;
  std::string name;
  bool operator==(const Close&) const = default;
};

struct Execute {
  std::string portal;
  int32_t max_rows = 0;  // 0 = no limit
  bool operator==(const Execute&) const = default;
};

struct Sync {
  bool operator==(const Sync&) const = default;
};
struct Flush {
  bool operator==(const Flush&) const = default;
};
struct Terminate {
  bool operator==(const Terminate&) const = default;
};

struct ParseComplete {
  bool operator==(const ParseComplete&) const = default;
};
struct BindComplete {
  bool operator==(const BindComplete&) const = default;
};
struct CloseComplete {
  bool operator==(const CloseComplete&) const = default;
};
struct NoData {
  bool operator==(const NoData&) const = default;
};
struct EmptyQueryResponse {
  bool operator==(const EmptyQueryResponse&) const = default;
};
struct PortalSuspended {
  bool operator==(const PortalSuspended&) const = default;
};

struct ParameterDescription {
  std::vector<uint32_t> type_oids;
  bool operator==(const ParameterDescription&) const = default;
};

struct FieldDescription {
  std::string name;
  uint32_t table_oid = 0;
  int16_t column_attribute = 0;
  uint32_t type_oid = 0;
  int16_t type_size = 0;
  int32_t type_modifier = 0;
  int16_t format = 0;  // 0 text, 1 binary
  bool operator==(const FieldDescription&) const = default;
};

struct RowDescription {
  std::vector<FieldDescription> fields;
  bool operator==(const RowDescription&) const = default;
};

struct DataRow {
  std::vector<std::optional<std::string>> values;  // nullopt = NULL
  bool operator==(const DataRow&) const = default;
};

struct CommandComplete {
  std::string tag;  // e.g. "INSERT 0 1"
  bool operator==(const CommandComplete&) const = default;
};

// ---- Function call ----------------------------------------------------------------------------

struct FunctionCall {
  uint32_t function_oid = 0;
  std::vector<int16_t> arg_formats;  // 0, 1 or one per argument
  std::vector<std::optional<std::string>> args;
  int16_t result_format = 0;
  bool operator==(const FunctionCall&) const = default;
};

struct FunctionCallResponse {
  std::optional<std::string> result;  // nullopt = NULL
  bool operator==(const FunctionCallResponse&) const = default;
};

// ---- COPY -------------------------------------------------------------------------------------

struct CopyData {
  std::string data;
  bool operator==(const CopyData&) const = default;
};
struct CopyDone {
  bool operator==(const CopyDone&) const = default;
};
struct CopyFail {
  std::string message;
  bool operator==(const CopyFail&) const = default;
};

// Shared shape of CopyInResponse / CopyOutResponse / CopyBothResponse.
struct CopyFormat {
  int8_t overall_format = 0;  // 0 text, 1 binary
  // One per column; each 0 or 1, and all 0 when overall_format is 0.
  std::vector<int16_t> column_formats;
  bool operator==(const CopyFormat&) const = default;
};
struct CopyInResponse : CopyFormat {
  bool operator==(const CopyInResponse&) const = default;
};
struct CopyOutResponse : CopyFormat {
  bool operator==(const CopyOutResponse&) const = default;
};
struct CopyBothResponse : CopyFormat {
  bool operator==(const CopyBothResponse&) const = default;
};

// ---- The two message sets ---------------------------------------------------------------------

using FrontendMessage = std::variant<Bind, Close, CopyData, CopyDone, CopyFail, Describe, Execute,
                                     Flush, FunctionCall, PasswordMessage, SaslInitialResponse,
                                     SaslResponse, GssResponse, Parse, Query, Sync, Terminate>;

using BackendMessage =
    std::variant<Authentication, BackendKeyData, BindComplete, CloseComplete, CommandComplete,
                 CopyData, CopyDone, CopyInResponse, CopyOutResponse, CopyBothResponse, DataRow,
                 EmptyQueryResponse, ErrorResponse, FunctionCallResponse, NegotiateProtocolVersion,
                 NoData, NoticeResponse, NotificationResponse, ParameterDescription,
                 ParameterStatus, ParseComplete, PortalSuspended, ReadyForQuery, RowDescription>;

// True when `type` is a message type byte a client (resp. server) may send.
bool is_frontend_type(char type);
bool is_backend_type(char type);

// The message's name as in the protocol documentation ("Bind", "RowDescription", ...), or
// "unknown". For 'p' the frontend name is "PasswordMessage".
std::string_view frontend_type_name(char type);
std::string_view backend_type_name(char type);

}  // namespace writegate::pgwire
