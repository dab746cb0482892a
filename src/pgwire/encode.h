// writegate::pgwire builders — encode any message struct into its exact wire bytes.
//
// encode_to() appends one complete message (type byte, length word, body; or the untyped
// length + code for the first packets) to a buffer and returns a Status; encode() returns the
// bytes. They refuse what the protocol cannot carry — a NUL inside a string field, more than
// 65535 entries in an Int16 count, a body over 2^31 - 5 bytes, an undefined enum value, a
// format-code count that does not fit Bind's rules — with kInvalidArgument / kOutOfRange, and
// leave the buffer untouched on error. What they write is exactly what pgwire/parse.h accepts.
//
//   std::string out;
//   WG_RETURN_IF_ERROR(pgwire::encode_to(pgwire::Authentication::cleartext_password(), out));
//   WG_RETURN_IF_ERROR(pgwire::encode_to(pgwire::ReadyForQuery{}, out));
//   WG_ASSIGN_OR_RETURN(std::string bytes, pgwire::encode(pgwire::Query{.sql = "SELECT 1"}));
#pragma once

#include <string>

#include "common/result.h"
#include "pgwire/messages.h"

namespace writegate::pgwire {

// Untyped first packets.
Status encode_to(const SslRequest& m, std::string& out);
Status encode_to(const GssEncRequest& m, std::string& out);
Status encode_to(const CancelRequest& m, std::string& out);
Status encode_to(const StartupMessage& m, std::string& out);
Status encode_to(const StartupPacket& m, std::string& out);

// Frontend.
Status encode_to(const Query& m, std::string& out);
Status encode_to(const Parse& m, std::string& out);
Status encode_to(const Bind& m, std::string& out);
Status encode_to(const Describe& m, std::string& out);
Status encode_to(const Execute& m, std::string& out);
Status encode_to(const Close& m, std::string& out);
Status encode_to(const Sync& m, std::string& out);
Status encode_to(const Flush& m, std::string& out);
Status encode_to(const Terminate& m, std::string& out);
Status encode_to(const FunctionCall& m, std::string& out);
Status encode_to(const CopyFail& m, std::string& out);
Status encode_to(const PasswordMessage& m, std::string& out);
Status encode_to(const SaslInitialResponse& m, std::string& out);
Status encode_to(const SaslResponse& m, std::string& out);
Status encode_to(const GssResponse& m, std::string& out);
Status encode_to(const FrontendMessage& m, std::string& out);

// Both directions.
Status encode_to(const CopyData& m, std::string& out);
Status encode_to(const CopyDone& m, std::string& out);

// Backend.
Status encode_to(const Authentication& m, std::string& out);
Status encode_to(const BackendKeyData& m, std::string& out);
Status encode_to(const ParameterStatus& m, std::string& out);
Status encode_to(const NegotiateProtocolVersion& m, std::string& out);
Status encode_to(const ReadyForQuery& m, std::string& out);
Status encode_to(const ErrorResponse& m, std::string& out);
Status encode_to(const NoticeResponse& m, std::string& out);
Status encode_to(const NotificationResponse& m, std::string& out);
Status encode_to(const ParseComplete& m, std::string& out);
Status encode_to(const BindComplete& m, std::string& out);
Status encode_to(const CloseComplete& m, std::string& out);
Status encode_to(const NoData& m, std::string& out);
Status encode_to(const EmptyQueryResponse& m, std::string& out);
Status encode_to(const PortalSuspended& m, std::string& out);
Status encode_to(const ParameterDescription& m, std::string& out);
Status encode_to(const RowDescription& m, std::string& out);
Status encode_to(const DataRow& m, std::string& out);
Status encode_to(const CommandComplete& m, std::string& out);
Status encode_to(const FunctionCallResponse& m, std::string& out);
Status encode_to(const CopyInResponse& m, std::string& out);
Status encode_to(const CopyOutResponse& m, std::string& out);
Status encode_to(const CopyBothResponse& m, std::string& out);
Status encode_to(const BackendMessage& m, std::string& out);

// The bytes of one message.
template <typename Message>
Result<std::string> encode(const Message& m) {
  std::string out;
  Status status = encode_to(m, out);
  if (!status) return std::move(status).error();
  return out;
}

// The one-byte answer to SSLRequest / GSSENCRequest: 'S' (go ahead) or 'N' (not supported).
inline std::string encryption_response(bool accept) {
  return accept ? "S" : "N";
}

}  // namespace writegate::pgwire
