// writegate::pgwire typed parsers — turn a frame body into a message struct, validating it all.
//
// Each parse_xxx takes the body of a frame (the bytes after the type byte and length word, as
// FrameDecoder hands them out) and checks everything: strings are NUL-terminated inside the
// body, counts agree with the bytes present, lengths are -1 (NULL) or within the body, enum
// bytes have a defined value, and no byte is left over. The error says which message and which
// field was wrong (code kInvalidArgument). Builders of pgwire/encode.h write exactly what these
// accept: encode(parse(body)) reproduces the body byte for byte.
//
//   WG_ASSIGN_OR_RETURN(pgwire::Decoded d, decoder.next());
//   if (d.ready() && d.frame.type == 'Z') {
//     WG_ASSIGN_OR_RETURN(pgwire::ReadyForQuery rfq, pgwire::parse_ready_for_query(d.frame.body));
//     if (rfq.status == pgwire::TransactionStatus::kIdle) release_server();
//   }
//   // or, for any frame of a known direction:
//   WG_ASSIGN_OR_RETURN(pgwire::BackendMessage m, pgwire::parse_backend_message(d.frame));
#pragma once

#include <string_view>

#include "common/result.h"
#include "pgwire/frame_decoder.h"
#include "pgwire/messages.h"

namespace writegate::pgwire {

// ---- Untyped first packets (body = bytes after the length word, code included) ----------------
Result<SslRequest> parse_ssl_request(std::string_view body);
Result<GssEncRequest> parse_gssenc_request(std::string_view body);
Result<CancelRequest> parse_cancel_request(std::string_view body);
// Rejects protocol versions other than 3.x, a missing/empty `user`, duplicate or empty names.
Result<StartupMessage> parse_startup_message(std::string_view body);

// ---- Frontend messages ------------------------------------------------------------------------
Result<Query> parse_query(std::string_view body);
Result<Parse> parse_parse(std::string_view body);
Result<Bind> parse_bind(std::string_view body);
Result<Describe> parse_describe(std::string_view body);
Result<Execute> parse_execute(std::string_view body);
Result<Close> parse_close(std::string_view body);
Result<Sync> parse_sync(std::string_view body);
Result<Flush> parse_flush(std::string_view body);
Result<Terminate> parse_terminate(std::string_view body);
Result<FunctionCall> parse_function_call(std::string_view body);
Result<CopyFail> parse_copy_fail(std::string_view body);
// The four interpretations of 'p'.
Result<PasswordMessage> parse_password_message(std::string_view body);
Result<SaslInitialResponse> parse_sasl_initial_response(std::string_view body);
Result<SaslResponse> parse_sasl_response(std::string_view body);
Result<GssResponse> parse_gss_response(std::string_view body);
// Dispatches on `kind` to one of the four above.
Result<FrontendMessage> parse_password_family(std::string_view body, PasswordKind kind);

// ---- Both directions --------------------------------------------------------------------------
Result<CopyData> parse_copy_data(std::string_view body);
Result<CopyDone> parse_copy_done(std::string_view body);

// ---- Backend messages -------------------------------------------------------------------------
Result<Authentication> parse_authentication(std::string_view body);
Result<BackendKeyData> parse_backend_key_data(std::string_view body);
Result<ParameterStatus> parse_parameter_status(std::string_view body);
Result<NegotiateProtocolVersion> parse_negotiate_protocol_version(std::string_view body);
Result<ReadyForQuery> parse_ready_for_query(std::string_view body);
Result<ErrorResponse> parse_error_response(std::string_view body);
Result<NoticeResponse> parse_notice_response(std::string_view body);
Result<NotificationResponse> parse_notification_response(std::string_view body);
Result<ParseComplete> parse_parse_complete(std::string_view body);
Result<BindComplete> parse_bind_complete(std::string_view body);
Result<CloseComplete> parse_close_complete(std::string_view body);
Result<NoData> parse_no_data(std::string_view body);
Result<EmptyQueryResponse> parse_empty_query_response(std::string_view body);
Result<PortalSuspended> parse_portal_suspended(std::string_view body);
Result<ParameterDescription> parse_parameter_description(std::string_view body);
Result<RowDescription> parse_row_description(std::string_view body);
Result<DataRow> parse_data_row(std::string_view body);
Result<CommandComplete> parse_command_complete(std::string_view body);
Result<FunctionCallResponse> parse_function_call_response(std::string_view body);
Result<CopyInResponse> parse_copy_in_response(std::string_view body);
Result<CopyOutResponse> parse_copy_out_response(std::string_view body);
Result<CopyBothResponse> parse_copy_both_response(std::string_view body);

// ---- Dispatch by frame ------------------------------------------------------------------------
// A startup-phase frame (kSslRequest, kGssEncRequest, kCancelRequest, kStartupMessage).
Result<StartupPacket> parse_startup_packet(const Frame& frame);
// A typed frame from a client; 'p' is read as `password_kind`.
Result<FrontendMessage> parse_frontend_message(
    const Frame& frame, PasswordKind password_kind = PasswordKind::kPassword);
// A typed frame from a server.
Result<BackendMessage> parse_backend_message(const Frame& frame);

}  // namespace writegate::pgwire
