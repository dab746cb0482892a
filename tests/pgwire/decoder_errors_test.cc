// Malformed input: each case gets its exact error, the decoder reports it as soon as it can
// tell (before waiting for a body it would refuse), and it stays failed afterwards.
#include <gtest/gtest.h>

#include <string>

#include "pgwire/encode.h"
#include "pgwire/frame_decoder.h"
#include "pgwire/parse.h"
#include "pgwire/wire_bytes.h"

namespace writegate::pgwire {
namespace {

using namespace testing;  // NOLINT: byte builders

struct Expected {
  ErrorCode code;
  std::string message;
};

// Feeds `bytes` whole and returns the decoder's error (fails the test when there is none).
Error decode_error(FrameDecoder d, std::string_view bytes) {
  d.feed(bytes);
  for (int i = 0; i < 100; ++i) {
    auto r = d.next();
    if (!r.ok()) return r.error();
    if (!r->ready()) break;
  }
  ADD_FAILURE() << "no error";
  return Error::internal("no error");
}

void expect_error(FrameDecoder d, std::string_view bytes, ErrorCode code,
                  std::string_view message) {
  Error e = decode_error(std::move(d), bytes);
  EXPECT_EQ(e.code(), code) << e.to_string();
  EXPECT_EQ(e.message(), message);
}

std::string startup_body(std::string_view params) {
  return be32(196608) + std::string(params);
}

// ---- Startup phase ----------------------------------------------------------------------------

TEST(StartupErrors, LengthBelowEight) {
  expect_error(FrameDecoder::frontend(), be32(4), ErrorCode::kOutOfRange,
               "invalid startup packet length 4 (less than 8)");
  expect_error(FrameDecoder::frontend(), be32(0), ErrorCode::kOutOfRange,
               "invalid startup packet length 0 (less than 8)");
}

TEST(StartupErrors, OverTheCapIsReportedFromTheLengthAlone) {
  FrameDecoder d = FrameDecoder::frontend();
  d.feed(be32(10005));
  auto r = d.next();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(r.error().message(), "startup packet length 10005 exceeds the limit of 10004 bytes");
  expect_error(FrameDecoder::frontend(), be32(0xffffffff), ErrorCode::kOutOfRange,
               "startup packet length 4294967295 exceeds the limit of 10004 bytes");
}

TEST(StartupErrors, TheCapIsConfigurableAndInclusive) {
  DecoderOptions small;
  small.limits.max_startup_packet = 20;
  std::string ok = untyped(startup_body(cstr("user") + cstr("abcdefghi") + '\0'));  // body 20
  ASSERT_EQ(ok.size(), 24u);
  FrameDecoder d = FrameDecoder::frontend(small);
  d.feed(ok);
  auto r = d.next();
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->ready());
  expect_error(FrameDecoder::frontend(small),
               untyped(startup_body(cstr("user") + cstr("abcdefghij") + '\0')),
               ErrorCode::kOutOfRange, "startup packet length 25 exceeds the limit of 24 bytes");
}

TEST(StartupErrors, UnsupportedProtocolVersions) {
  expect_error(FrameDecoder::frontend(),
               untyped(be32(0x00020000) + cstr("user") + cstr("u") + '\0'),
               ErrorCode::kInvalidArgument,
               "unsupported protocol version 2.0: only protocol 3.x is supported");
  expect_error(FrameDecoder::frontend(), untyped(be32(0x00040000) + '\0'),
               ErrorCode::kInvalidArgument,
               "unsupported protocol version 4.0: only protocol 3.x is supported");
  expect_error(FrameDecoder::frontend(), untyped(be32(80877105)), ErrorCode::kInvalidArgument,
               "unsupported protocol version 1234.5681: only protocol 3.x is supported");
  // The version is judged from the first 8 bytes, before the rest of the packet arrives.
  FrameDecoder d = FrameDecoder::frontend();
  d.feed(be32(100) + be32(0x00020000));
  auto r = d.next();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(),
            "unsupported protocol version 2.0: only protocol 3.x is supported");
  // And by the typed parser directly.
  auto p = parse_startup_message(be32(0x00010000) + '\0');
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().message(),
            "unsupported protocol version 1.0: only protocol 3.x is supported");
}

TEST(StartupErrors, SpecialRequestsWithWrongLengths) {
  expect_error(FrameDecoder::frontend(), be32(12) + be32(80877103) + be32(0),
               ErrorCode::kInvalidArgument, "SSLRequest has length 12 (expected 8)");
  expect_error(FrameDecoder::frontend(), be32(12) + be32(80877104) + be32(0),
               ErrorCode::kInvalidArgument, "GSSENCRequest has length 12 (expected 8)");
  expect_error(FrameDecoder::frontend(), be32(12) + be32(80877102) + be32(1),
               ErrorCode::kOutOfRange, "CancelRequest has length 12 (expected 16)");
}

TEST(StartupErrors, EncryptionRequestsAtMostOnceEach) {
  std::string ssl = be32(8) + be32(80877103);
  std::string gss = be32(8) + be32(80877104);
  expect_error(FrameDecoder::frontend(), ssl + ssl, ErrorCode::kInvalidArgument,
               "SSLRequest received twice");
  expect_error(FrameDecoder::frontend(), gss + ssl + gss, ErrorCode::kInvalidArgument,
               "GSSENCRequest received twice");
}

TEST(StartupErrors, NothingMayFollowACancelRequest) {
  FrameDecoder d = FrameDecoder::frontend();
  d.feed(be32(16) + be32(80877102) + be32(1) + be32(2) + "x");
  auto r = d.next();
  ASSERT_TRUE(r.ok() && r->ready());
  EXPECT_EQ(r->frame.kind, FrameKind::kCancelRequest);
  EXPECT_EQ(d.phase(), FrameDecoder::Phase::kAfterCancel);
  auto r2 = d.next();
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().message(), "unexpected data after a CancelRequest");
}

TEST(StartupErrors, StartupMessageBodies) {
  struct C {
    std::string params;
    std::string message;
  } cases[] = {
      {cstr("database") + cstr("db") + '\0',
       "StartupMessage: no user name given (the \"user\" parameter is required)"},
      {cstr("user") + cstr("") + '\0',
       "StartupMessage: no user name given (the \"user\" parameter is required)"},
      {cstr("user") + cstr("u"), "StartupMessage: parameter list is not terminated by a NUL byte"},
      {cstr("user") + "u", "StartupMessage: value of parameter \"user\" is not NUL-terminated"},
      {"user", "StartupMessage: parameter name is not NUL-terminated"},
      {cstr("user") + cstr("a") + cstr("user") + cstr("b") + '\0',
       "StartupMessage: parameter \"user\" is given twice"},
      {cstr("user") + cstr("u") + '\0' + "x", "StartupMessage: 1 unexpected trailing byte"},
      {cstr("user") + cstr("u") + '\0' + "xy", "StartupMessage: 2 unexpected trailing bytes"},
      {"", "StartupMessage: parameter list is not terminated by a NUL byte"},
  };
  for (const C& c : cases) {
    SCOPED_TRACE(c.message);
    expect_error(FrameDecoder::frontend(), untyped(startup_body(c.params)),
                 ErrorCode::kInvalidArgument, c.message);
  }
}

TEST(StartupErrors, PlaintextBytesAfterSslRequestAreVisible) {
  // The proxy must refuse to start TLS when the client already sent more: check buffered_bytes().
  FrameDecoder d = FrameDecoder::frontend();
  d.feed(be32(8) + be32(80877103) + std::string("Q\0\0\0\x05", 5));
  auto r = d.next();
  ASSERT_TRUE(r.ok() && r->ready());
  EXPECT_EQ(r->frame.kind, FrameKind::kSslRequest);
  EXPECT_EQ(d.buffered_bytes(), 5u);
}

// ---- Typed phase ------------------------------------------------------------------------------

TEST(TypedErrors, UnknownMessageTypes) {
  expect_error(FrameDecoder::frontend_after_startup(), typed('Z', "I"), ErrorCode::kInvalidArgument,
               "unknown frontend message type 'Z' (0x5a)");
  expect_error(FrameDecoder::backend(), typed('Q', cstr("x")), ErrorCode::kInvalidArgument,
               "unknown backend message type 'Q' (0x51)");
  expect_error(FrameDecoder::backend(), std::string(1, '\0'), ErrorCode::kInvalidArgument,
               "unknown backend message type 0x00");
  // Known from the type byte alone.
  expect_error(FrameDecoder::frontend_after_startup(), "z", ErrorCode::kInvalidArgument,
               "unknown frontend message type 'z' (0x7a)");
}

TEST(TypedErrors, LengthBelowFour) {
  expect_error(FrameDecoder::frontend_after_startup(), "Q" + be32(3), ErrorCode::kInvalidArgument,
               "Query has invalid length 3 (less than 4)");
  expect_error(FrameDecoder::backend(), "D" + be32(0), ErrorCode::kInvalidArgument,
               "DataRow has invalid length 0 (less than 4)");
}

TEST(TypedErrors, FixedSizeMessagesWithOtherLengths) {
  expect_error(FrameDecoder::frontend_after_startup(), "S" + be32(1000000),
               ErrorCode::kInvalidArgument, "Sync has length 1000000 (expected 4)");
  expect_error(FrameDecoder::backend(), typed('Z', "II"), ErrorCode::kInvalidArgument,
               "ReadyForQuery has length 6 (expected 5)");
  expect_error(FrameDecoder::backend(), typed('K', be32(1)), ErrorCode::kInvalidArgument,
               "BackendKeyData has length 8 (expected 12)");
}

TEST(TypedErrors, OverTheCapIsReportedFromTheHeaderAlone) {
  DecoderOptions o;
  o.limits.max_message = 100;
  FrameDecoder d = FrameDecoder::frontend_after_startup(o);
  d.feed("Q" + be32(105));  // no body yet
  auto r = d.next();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(r.error().message(), "Query length 105 exceeds the limit of 104 bytes");
  expect_error(FrameDecoder::backend(), "D" + be32(0x80000000), ErrorCode::kOutOfRange,
               "DataRow length 2147483648 exceeds the limit of 1073741827 bytes");
  expect_error(FrameDecoder::backend(), "D" + be32(0x40000004), ErrorCode::kOutOfRange,
               "DataRow length 1073741828 exceeds the limit of 1073741827 bytes");
}

TEST(TypedErrors, PasswordMessagesHaveTheirOwnCapOf128KiB) {
  DecoderOptions o;
  o.limits.max_message = 1000;  // a proxy's low cap must not refuse long tokens
  std::string token(64 * 1024, 'a');
  FrameDecoder d = FrameDecoder::frontend_after_startup(o);
  d.feed(typed('p', cstr(token)));
  auto r = d.next();
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_TRUE(r->ready());
  auto pw = parse_password_message(r->frame.body);
  ASSERT_TRUE(pw.ok());
  EXPECT_EQ(pw->password.size(), token.size());

  expect_error(FrameDecoder::frontend_after_startup(o), "p" + be32(128 * 1024 + 5),
               ErrorCode::kOutOfRange,
               "PasswordMessage length 131077 exceeds the limit of 131076 bytes");
  // The password cap does not apply to other messages, nor to the backend's 'p'-less set.
  expect_error(FrameDecoder::frontend_after_startup(o), "Q" + be32(1005), ErrorCode::kOutOfRange,
               "Query length 1005 exceeds the limit of 1004 bytes");
}

TEST(TypedErrors, BodiesAreValidatedBeforeTheFrameIsHandedOut) {
  struct C {
    bool frontend;
    std::string wire;
    std::string message;
  } cases[] = {
      {true, typed('Q', "SELECT 1"), "Query: query string is not NUL-terminated"},
      {true, typed('Q', cstr("SELECT 1") + "x"), "Query: 1 unexpected trailing byte"},
      {true, typed('P', cstr("s") + cstr("q") + be16(2) + be32(23)),
       "Parse: message is truncated: parameter type needs 4 bytes, 0 left"},
      {true,
       typed('B', cstr("") + cstr("") + be16(2) + be16(0) + be16(0) + be16(3) + be32(0) + be32(0) +
                      be32(0) + be16(0)),
       "Bind: 2 parameter format codes for 3 parameters (must be 0, 1 or 3)"},
      {true, typed('B', cstr("") + cstr("") + be16(0) + be16(1) + be32(0xfffffffe) + be16(0)),
       "Bind: parameter 1 has invalid length -2"},
      {true, typed('B', cstr("") + cstr("") + be16(0) + be16(1) + be32(10) + "abc" + be16(0)),
       "Bind: message is truncated: parameter 1 needs 10 bytes, 5 left"},
      {true, typed('D', "X" + cstr("s")),
       "Describe: invalid target kind 'X' (0x58) (expected 'S' for a statement or 'P' for a "
       "portal)"},
      {true, typed('C', "S"), "Close: name is not NUL-terminated"},
      {true, typed('E', cstr("p") + be16(1)),
       "Execute: message is truncated: row limit needs 4 bytes, 2 left"},
      {true, typed('F', be32(1) + be16(2) + be16(0) + be16(0) + be16(1) + be32(0) + be16(0)),
       "FunctionCall: 2 argument format codes for 1 arguments (must be 0, 1 or 1)"},
      {true, typed('f', "oops"), "CopyFail: error message is not NUL-terminated"},
      {false, typed('R', be32(6)), "Authentication: unknown authentication request code 6"},
      {false, typed('R', be32(5) + "abc"),
       "Authentication: message is truncated: MD5 salt needs 4 bytes, 3 left"},
      {false, typed('R', be32(5) + "abcde"), "Authentication: 1 unexpected trailing byte"},
      {false, typed('R', be32(0) + "x"), "Authentication: 1 unexpected trailing byte"},
      {false, typed('R', be32(10) + std::string(1, '\0')),
       "Authentication: AuthenticationSASL offers no mechanism"},
      {false, typed('R', be32(10) + cstr("SCRAM-SHA-256")),
       "Authentication: SASL mechanism list is not terminated by a NUL byte"},
      {false, typed('Z', "X"),
       "ReadyForQuery: invalid transaction status 'X' (0x58) (expected 'I', 'T' or 'E')"},
      {false, typed('E', "SERROR" + std::string(1, '\0')),
       "ErrorResponse: field list is not terminated by a NUL byte"},
      {false, typed('N', "SWARNING"), "NoticeResponse: field 'S' (0x53) is not NUL-terminated"},
      {false, typed('S', cstr("a")), "ParameterStatus: parameter value is not NUL-terminated"},
      {false, typed('D', be16(2) + be32(1) + "1"),
       "DataRow: message is truncated: column 2 needs 4 bytes, 0 left"},
      {false, typed('D', be16(1) + be32(0xfffffffe)), "DataRow: column 1 has invalid length -2"},
      {false, typed('D', be16(1) + be32(0) + "z"), "DataRow: 1 unexpected trailing byte"},
      {false, typed('t', be16(1)),
       "ParameterDescription: message is truncated: parameter type needs 4 bytes, 0 left"},
      {false,
       typed('T', be16(1) + cstr("a") + be32(0) + be16(0) + be32(23) + be16(4) + be32(0) + be16(2)),
       "RowDescription: field 1 has invalid format code 2 (expected 0 or 1)"},
      {false, typed('G', std::string(1, '\0') + be16(1) + be16(1)),
       "CopyInResponse: column 1 is binary but the overall format is text"},
      {false, typed('H', std::string(1, '\2') + be16(0)),
       "CopyOutResponse: invalid overall format 2 (expected 0 or 1)"},
      {false, typed('W', std::string(1, '\1') + be16(1) + be16(7)),
       "CopyBothResponse: column 1 has invalid format code 7 (expected 0 or 1)"},
      {false, typed('v', be32(0) + be32(0xffffffff)),
       "NegotiateProtocolVersion: negative option count -1"},
      {false, typed('v', be32(0) + be32(2) + cstr("_pq_.a")),
       "NegotiateProtocolVersion: option name is not NUL-terminated"},
      {false, typed('A', be32(1) + cstr("chan")),
       "NotificationResponse: payload is not NUL-terminated"},
      {false, typed('V', be32(5) + "abc"),
       "FunctionCallResponse: message is truncated: result needs 5 bytes, 3 left"},
      {false, typed('C', "INSERT 0 1"), "CommandComplete: command tag is not NUL-terminated"},
  };
  for (const C& c : cases) {
    SCOPED_TRACE(c.message);
    expect_error(c.frontend ? FrameDecoder::frontend_after_startup() : FrameDecoder::backend(),
                 c.wire, ErrorCode::kInvalidArgument, c.message);
  }
}

TEST(TypedErrors, PasswordFamilyParsersCheckTheirOwnShape) {
  auto pw = parse_password_message("token-without-nul");
  ASSERT_FALSE(pw.ok());
  EXPECT_EQ(pw.error().message(), "PasswordMessage: password is not NUL-terminated");
  auto sasl = parse_sasl_initial_response(cstr("SCRAM-SHA-256") + be32(5) + "abc");
  ASSERT_FALSE(sasl.ok());
  EXPECT_EQ(sasl.error().message(),
            "SASLInitialResponse: message is truncated: initial response needs 5 bytes, 3 left");
  auto sasl2 = parse_sasl_initial_response(cstr("SCRAM-SHA-256") + be32(0xffffffff) + "x");
  ASSERT_FALSE(sasl2.ok());
  EXPECT_EQ(sasl2.error().message(), "SASLInitialResponse: 1 unexpected trailing byte");
}

TEST(TypedErrors, ValidationCanBeSwitchedOffForRelaying) {
  DecoderOptions o;
  o.validate_bodies = false;
  FrameDecoder d = FrameDecoder::backend(o);
  d.feed(typed('C', "no terminator"));
  auto r = d.next();
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->ready());
  auto parsed = parse_backend_message(r->frame);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().message(), "CommandComplete: command tag is not NUL-terminated");
}

// ---- Terminal failure -------------------------------------------------------------------------

TEST(DecoderFailure, StaysFailedWithTheSameError) {
  FrameDecoder d = FrameDecoder::frontend_after_startup();
  d.feed(typed('Q', cstr("SELECT 1")) + "Q" + be32(2));
  auto first = d.next();
  ASSERT_TRUE(first.ok() && first->ready());
  auto bad = d.next();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "Query has invalid length 2 (less than 4)");
  EXPECT_TRUE(d.failed());
  EXPECT_EQ(d.phase(), FrameDecoder::Phase::kFailed);
  d.feed(typed('S', ""));  // a valid message does not bring it back
  for (int i = 0; i < 3; ++i) {
    auto again = d.next();
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(again.error().message(), "Query has invalid length 2 (less than 4)");
  }
  EXPECT_EQ(d.buffered_bytes(), 0u);
}

TEST(DecoderFailure, EmptyInputNeedsMoreData) {
  FrameDecoder d = FrameDecoder::backend();
  auto r = d.next();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, DecodeStatus::kNeedMoreData);
}

// ---- Encryption response (backend) ------------------------------------------------------------

TEST(EncryptionResponse, SAndNAreSingleByteFrames) {
  for (char answer : {'S', 'N'}) {
    FrameDecoder d = FrameDecoder::backend();
    d.expect_encryption_response();
    d.feed(std::string(1, answer) + typed('R', be32(3)));
    auto r = d.next();
    ASSERT_TRUE(r.ok() && r->ready());
    EXPECT_EQ(r->frame.kind, FrameKind::kEncryptionResponse);
    EXPECT_EQ(r->frame.type, answer);
    EXPECT_EQ(r->frame.wire, std::string(1, answer));
    // The bytes after 'S' came before the TLS handshake: the client must see them.
    EXPECT_EQ(d.buffered_bytes(), 9u);
    auto next = d.next();
    ASSERT_TRUE(next.ok() && next->ready());
    EXPECT_EQ(next->frame.kind, FrameKind::kMessage);
    EXPECT_EQ(next->frame.type, 'R');
  }
}

TEST(EncryptionResponse, AnOldServerAnswersWithAnErrorResponse) {
  FrameDecoder d = FrameDecoder::backend();
  d.expect_encryption_response();
  d.feed(typed('E', "Mno" + std::string(2, '\0')));
  auto r = d.next();
  ASSERT_TRUE(r.ok() && r->ready());
  EXPECT_EQ(r->frame.kind, FrameKind::kMessage);
  EXPECT_EQ(r->frame.type, 'E');
}

TEST(EncryptionResponse, AnythingElseIsAnError) {
  FrameDecoder d = FrameDecoder::backend();
  d.expect_encryption_response();
  expect_error(std::move(d), "X", ErrorCode::kInvalidArgument,
               "invalid response 'X' (0x58) to an encryption request (expected 'S' or 'N')");
}

// ---- Builders refuse what the protocol cannot carry --------------------------------------------

TEST(EncoderErrors, ExactErrorsAndTheBufferIsLeftAlone) {
  std::string out = "keep";
  Status s = encode_to(Query{std::string("SELECT\0 1", 9)}, out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.error().message(), "Query: query string contains a NUL byte");
  EXPECT_EQ(out, "keep");

  Bind many;
  many.params.resize(70000);
  s = encode_to(many, out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(s.error().message(), "Bind: 70000 parameters exceed the limit of 65535");
  EXPECT_EQ(out, "keep");

  Bind formats;
  formats.param_formats = {0, 1};
  formats.params = {"a", "b", "c"};
  s = encode_to(formats, out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(),
            "Bind: 2 parameter format codes for 3 parameters (must be 0, 1 or 3)");

  s = encode_to(Authentication::md5_password("abc"), out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "Authentication: the MD5 salt must be 4 bytes, not 3");

  s = encode_to(Authentication::sasl({}), out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "Authentication: AuthenticationSASL needs a mechanism");

  s = encode_to(StartupMessage{3, 0, {{"database", "x"}}}, out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(),
            "StartupMessage: no user name given (the \"user\" parameter is required)");

  s = encode_to(StartupMessage{3, 0, {{"user", "a"}, {"user", "b"}}}, out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "StartupMessage: parameter \"user\" is given twice");

  s = encode_to(ReadyForQuery{static_cast<TransactionStatus>('X')}, out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "ReadyForQuery: transaction status must be 'I', 'T' or 'E'");

  s = encode_to(ErrorResponse{{{{'\0', "x"}}}}, out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "ErrorResponse: field code 0 is reserved");

  s = encode_to(Describe{static_cast<TargetKind>('Q'), "x"}, out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "Describe: target kind must be 'S' (statement) or 'P' (portal)");

  s = encode_to(CopyInResponse{{0, {1}}}, out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(
      s.error().message(),
      "CopyInResponse: column 1 format must be 0 or 1, and 0 when the overall format is text");
  EXPECT_EQ(out, "keep");
}

TEST(EncoderErrors, AppendsToWhatIsThere) {
  std::string out;
  ASSERT_TRUE(encode_to(Authentication::cleartext_password(), out).ok());
  ASSERT_TRUE(encode_to(ReadyForQuery{TransactionStatus::kIdle}, out).ok());
  EXPECT_EQ(out, typed('R', be32(3)) + typed('Z', "I"));
}

}  // namespace
}  // namespace writegate::pgwire
