// ClientLogin without sockets: the client's bytes go through pgwire's FrameDecoder as the proxy
// reads them, each frame goes in, and each step says what the client gets (checked byte for
// byte against the ErrorResponse it must be) and what the proxy does next. Every refusal is here
// with its SQLSTATE, message and log reason; the live tests (proxy_controls_test, ...) check the
// same bytes through real sockets.
#include "proxy/client_login.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pgwire/encode.h"
#include "pgwire/errors.h"
#include "pgwire/frame_decoder.h"
#include "pgwire/parse.h"

namespace writegate::proxy {
namespace {

template <typename M>
std::string bytes_of(const M& message) {
  std::string out;
  EXPECT_TRUE(pgwire::encode_to(message, out).ok());
  return out;
}

std::string fatal(std::string_view sqlstate, std::string_view message,
                  std::string_view detail = {}) {
  auto bytes = pgwire::error_response_bytes(pgwire::Severity::kFatal, sqlstate, message, detail);
  EXPECT_TRUE(bytes.ok());
  return bytes.ok() ? *bytes : std::string();
}

std::string startup(std::vector<std::pair<std::string, std::string>> parameters) {
  return bytes_of(pgwire::StartupMessage{.parameters = std::move(parameters)});
}

AuthOutcome verified() {
  AuthOutcome outcome;
  outcome.ok = true;
  outcome.reason = "ok";
  return outcome;
}

BackendLoginError failure(std::string reason, std::string detail, std::string sqlstate,
                          std::string message, std::string forward) {
  BackendLoginError out;
  out.reason = std::move(reason);
  out.detail = std::move(detail);
  out.sqlstate = std::move(sqlstate);
  out.client_message = std::move(message);
  out.forward = std::move(forward);
  return out;
}

const std::string kSslRequest("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8);
const std::string kGssEncRequest("\x00\x00\x00\x08\x04\xd2\x16\x30", 8);

class ClientLoginTest : public ::testing::Test {
 protected:
  // Feeds bytes as if read from the client and returns the step for the next frame (or the
  // decoder's error); nullopt when the bytes do not complete a frame.
  std::optional<LoginStep> feed(const std::string& bytes) {
    decoder_.feed(bytes);
    auto decoded = decoder_.next();
    if (!decoded) return login_.on_decode_error(decoded.error());
    if (!decoded->ready()) return std::nullopt;
    return login_.on_client_frame(decoded->frame, decoder_.buffered_bytes());
  }
  // SSLRequest, the handshake, the startup packet: the step that asks for the token.
  LoginStep up_to_token(std::vector<std::pair<std::string, std::string>> parameters = {
                            {"user", "lambda_writer"}, {"database", "mydb"}}) {
    auto ssl = feed(kSslRequest);
    EXPECT_TRUE(ssl && ssl->action == LoginAction::kStartTls);
    login_.on_tls_established();
    auto asked = feed(startup(std::move(parameters)));
    EXPECT_TRUE(asked.has_value());
    return asked.value_or(LoginStep{});
  }
  LoginStep up_to_verdict(const std::string& token = "token-bytes") {
    up_to_token();
    auto step = feed(bytes_of(pgwire::PasswordMessage{.password = token}));
    EXPECT_TRUE(step && step->action == LoginAction::kVerifyToken);
    EXPECT_EQ(login_.token(), token);
    return step.value_or(LoginStep{});
  }
  static void expect_refused(const LoginStep& step, const std::string& to_client,
                             const std::string& reason) {
    EXPECT_EQ(step.action, LoginAction::kClose);
    EXPECT_EQ(step.to_client, to_client);
    EXPECT_EQ(step.outcome, "refused");
    EXPECT_EQ(step.reason, reason);
  }

  pgwire::FrameDecoder decoder_ = pgwire::FrameDecoder::frontend();
  ClientLogin login_{ClientLoginSettings{.databases = {"mydb", "other"}}};
};

TEST_F(ClientLoginTest, AStartupLengthOutOfRangeClosesWithoutAWordAsPostgresqlDoes) {
  // node-postgres hanging up before TLS: Terminate ('X' 0 0 0 4) where a startup packet goes.
  auto step = feed(std::string("X\0\0\0\4", 5));
  ASSERT_TRUE(step.has_value());
  EXPECT_EQ(step->action, LoginAction::kClose);
  EXPECT_EQ(step->to_client, "");
  EXPECT_EQ(step->outcome, "refused");
  EXPECT_EQ(step->reason, "invalid_startup_length");
  EXPECT_EQ(step->detail, "startup packet length 1476395008 exceeds the limit of 10004 bytes");
  EXPECT_EQ(login_.state(), ClientLogin::State::kClosed);
}

TEST_F(ClientLoginTest, AStartupLengthBelowEightClosesWithoutAWordToo) {
  auto step = feed(std::string("\0\0\0\4", 4));
  ASSERT_TRUE(step.has_value());
  EXPECT_EQ(step->action, LoginAction::kClose);
  EXPECT_EQ(step->to_client, "");
  EXPECT_EQ(step->reason, "invalid_startup_length");
  EXPECT_EQ(step->detail, "invalid startup packet length 4 (less than 8)");
}

TEST_F(ClientLoginTest, ACancelRequestOfTheWrongLengthClosesWithoutAWord) {
  auto step = feed(std::string("\0\0\0\x0c\x04\xd2\x16\x2e\0\0\0\1", 12));
  ASSERT_TRUE(step.has_value());
  EXPECT_EQ(step->action, LoginAction::kClose);
  EXPECT_EQ(step->to_client, "");
  EXPECT_EQ(step->reason, "invalid_startup_length");
  EXPECT_EQ(step->detail, "CancelRequest has length 12 (expected 16)");
}

TEST_F(ClientLoginTest, TheWholeLoginOverTls) {
  auto step = up_to_token({{"user", "lambda_writer"},
                           {"database", "mydb"},
                           {"options", "-c x=1"},
                           {"application_name", "fn"}});
  EXPECT_EQ(step.action, LoginAction::kRead);
  EXPECT_EQ(step.to_client, bytes_of(pgwire::Authentication::cleartext_password()));
  EXPECT_EQ(login_.state(), ClientLogin::State::kAwaitingToken);
  EXPECT_TRUE(login_.tls());
  EXPECT_EQ(login_.user(), "lambda_writer");
  EXPECT_EQ(login_.database(), "mydb");
  // The pool's key: the other parameters, sorted by name.
  const std::vector<std::pair<std::string, std::string>> expected = {{"application_name", "fn"},
                                                                     {"options", "-c x=1"}};
  EXPECT_EQ(login_.pool_parameters(), expected);

  auto verify = feed(bytes_of(pgwire::PasswordMessage{.password = "the-token"}));
  ASSERT_TRUE(verify);
  EXPECT_EQ(verify->action, LoginAction::kVerifyToken);
  EXPECT_EQ(verify->to_client, "");
  EXPECT_EQ(login_.token(), "the-token");

  auto find = login_.on_token_verified(
      {.ok = true, .reason = "ok", .detail = "checked", .principal_arn = "arn:aws:sts::1:x"}, true);
  EXPECT_EQ(find.action, LoginAction::kFindPool);
  EXPECT_EQ(find.to_client, "");
  EXPECT_EQ(find.outcome, "");
  EXPECT_EQ(login_.token(), "");  // not kept once checked

  const std::string greeting = bytes_of(pgwire::ParameterStatus{"TimeZone", "UTC"});
  const pgwire::BackendKeyData key{.process_id = 1234, .secret_key = 5678};
  auto done = login_.on_pool_ready(greeting, key);
  EXPECT_EQ(done.action, LoginAction::kDone);
  EXPECT_EQ(done.outcome, "ok");
  EXPECT_EQ(done.to_client, bytes_of(pgwire::Authentication::ok()) + greeting + bytes_of(key) +
                                bytes_of(pgwire::ReadyForQuery{pgwire::TransactionStatus::kIdle}));
  EXPECT_EQ(login_.state(), ClientLogin::State::kDone);
}

TEST_F(ClientLoginTest, GssEncRequestIsAnsweredNAndTheClientMayAskForTlsNext) {
  auto step = feed(kGssEncRequest);
  ASSERT_TRUE(step);
  EXPECT_EQ(step->action, LoginAction::kRead);
  EXPECT_EQ(step->to_client, "N");
  step = feed(kSslRequest);
  ASSERT_TRUE(step);
  EXPECT_EQ(step->action, LoginAction::kStartTls);
  EXPECT_EQ(step->to_client, "S");
  EXPECT_EQ(login_.state(), ClientLogin::State::kTlsHandshake);
}

TEST_F(ClientLoginTest, ACancelRequestIsHandedOverAndClosedWithoutAWord) {
  auto step = feed(bytes_of(pgwire::CancelRequest{.process_id = 77, .secret_key = -5}));
  ASSERT_TRUE(step);
  EXPECT_EQ(step->action, LoginAction::kCancel);
  ASSERT_TRUE(step->cancel);
  EXPECT_EQ(step->cancel->process_id, 77);
  EXPECT_EQ(step->cancel->secret_key, -5);
  EXPECT_EQ(step->to_client, "");
  EXPECT_EQ(step->outcome, "");  // not a login attempt
}

TEST_F(ClientLoginTest, PlaintextAfterSslRequestIsRefusedInPlaintextAfterTheS) {
  auto step = feed(kSslRequest + "garbage");
  ASSERT_TRUE(step);
  expect_refused(*step, "S" + fatal("08P01", "received unencrypted data after SSL request"),
                 "plaintext_after_sslrequest");
}

TEST_F(ClientLoginTest, AStartupPacketWithoutTlsIsRefusedAsRdsProxyDoes) {
  auto step = feed(startup({{"user", "lambda_writer"}, {"database", "mydb"}}));
  ASSERT_TRUE(step);
  // The exact bytes: 'E', length, S/V FATAL, C 28000, M the message, terminator.
  const std::string expected = std::string("E\x00\x00\x00\x44", 5) + "SFATAL" + '\0' + "VFATAL" +
                               '\0' + "C28000" + '\0' +
                               "MThis RDS Proxy requires TLS connections." + '\0' + '\0';
  expect_refused(*step, expected, "tls_required");
  EXPECT_EQ(step->to_client, fatal("28000", "This RDS Proxy requires TLS connections."));
  EXPECT_TRUE(step->failed_auth);
  EXPECT_EQ(login_.user(), "lambda_writer");  // for the log
}

TEST_F(ClientLoginTest, AReplicationConnectionIsRefused) {
  ASSERT_TRUE(feed(kSslRequest));
  login_.on_tls_established();
  auto step = feed(startup({{"user", "lambda_writer"}, {"replication", "database"}}));
  ASSERT_TRUE(step);
  expect_refused(*step, fatal("0A000", "replication connections are not supported by this proxy"),
                 "replication_refused");
  EXPECT_FALSE(step->failed_auth);
}

TEST_F(ClientLoginTest, AMessageBeforeTheStartupPacketIsAProtocolViolation) {
  // The decoder lets only startup packets through in this phase; a typed frame handed in
  // anyway (a shell bug) is refused all the same.
  pgwire::Frame typed{
      .kind = pgwire::FrameKind::kMessage, .type = 'Q', .body = "SELECT 1", .wire = ""};
  expect_refused(login_.on_client_frame(typed, 0),
                 fatal("08P01", "unexpected message before startup"), "protocol_violation");
}

TEST_F(ClientLoginTest, BytesThatDoNotDecodeAreAProtocolViolation) {
  // Protocol 2.0: PostgreSQL answers it too (a length out of range it does not: see below).
  auto step = feed(std::string("\x00\x00\x00\x08\x00\x02\x00\x00", 8));
  ASSERT_TRUE(step);
  EXPECT_EQ(step->action, LoginAction::kClose);
  EXPECT_EQ(step->outcome, "refused");
  EXPECT_EQ(step->reason, "protocol_violation");
  auto error = pgwire::FrameDecoder::backend();
  error.feed(step->to_client);
  auto frame = error.next();
  ASSERT_TRUE(frame.ok() && frame->ready());
  auto fields = pgwire::parse_error_response(frame->frame.body);
  ASSERT_TRUE(fields.ok());
  EXPECT_EQ(fields->severity(), "FATAL");
  EXPECT_EQ(fields->sqlstate(), "08P01");
  EXPECT_EQ(std::string(fields->message()).rfind("invalid message from client: ", 0), 0u)
      << fields->message();
}

TEST_F(ClientLoginTest, ABadStartupPacketIsRefusedWithTheParsersWords) {
  ASSERT_TRUE(feed(kSslRequest));
  login_.on_tls_established();
  // Protocol 3.0 without a user: the decoder already refuses it, in the parser's words.
  const std::string body =
      std::string("\x00\x03\x00\x00", 4) + "database" + '\0' + "mydb" + '\0' + '\0';
  auto parsed = pgwire::parse_startup_message(body);
  ASSERT_FALSE(parsed.ok());
  std::string packet;
  const auto length = static_cast<std::uint32_t>(body.size() + 4);
  for (int shift = 24; shift >= 0; shift -= 8)
    packet += static_cast<char>((length >> shift) & 0xff);
  packet += body;
  auto step = feed(packet);
  ASSERT_TRUE(step);
  expect_refused(*step, fatal("08P01", "invalid message from client: " + parsed.error().message()),
                 "protocol_violation");
  // A startup frame handed in without the decoder's check is refused the same way.
  ClientLogin unchecked(ClientLoginSettings{.databases = {"mydb"}});
  unchecked.on_tls_established();
  pgwire::Frame frame{
      .kind = pgwire::FrameKind::kStartupMessage, .type = 0, .body = body, .wire = packet};
  expect_refused(unchecked.on_client_frame(frame, 0), fatal("08P01", parsed.error().message()),
                 "bad_startup");
}

TEST_F(ClientLoginTest, AnythingButAPasswordMessageForTheTokenIsAProtocolViolation) {
  up_to_token();
  auto step = feed(bytes_of(pgwire::Query{.sql = "SELECT 1"}));
  ASSERT_TRUE(step);
  expect_refused(*step, fatal("08P01", "expected a password message"), "protocol_violation");
}

TEST_F(ClientLoginTest, ARefusedTokenSaysOnlyThatIamAuthenticationFailed) {
  up_to_verdict();
  auto step = login_.on_token_verified(
      {.ok = false, .reason = "token_expired", .detail = "expired at ...", .principal_arn = "arn"},
      true);
  expect_refused(step, fatal("28P01", "IAM authentication failed for user \"lambda_writer\""),
                 "token_expired");
  EXPECT_EQ(step.detail, "expired at ...");
  EXPECT_TRUE(step.failed_auth);
  EXPECT_TRUE(login_.token_refused());
}

TEST_F(ClientLoginTest, AConnectionEvictedWhileItsTokenWasCheckedIsClosedWithoutAWord) {
  up_to_verdict();
  auto step = login_.on_token_verified(verified(), false);
  expect_refused(step, "", "evicted_unauthenticated");
  EXPECT_FALSE(step.failed_auth);
}

TEST_F(ClientLoginTest, ADatabaseTheConfigDoesNotNameIsRefusedAsAMissingConnectPrivilege) {
  up_to_token({{"user", "lambda_writer"}, {"database", "postgres"}});
  ASSERT_TRUE(feed(bytes_of(pgwire::PasswordMessage{.password = "t"})));
  auto step = login_.on_token_verified(verified(), true);
  expect_refused(step,
                 fatal("42501", "permission denied for database \"postgres\"",
                       "This proxy serves only the database(s): mydb, other."),
                 "database_not_allowed");
  EXPECT_FALSE(login_.token_refused());
}

TEST_F(ClientLoginTest, TheDatabaseDefaultsToTheUserName) {
  up_to_token({{"user", "mydb"}});
  EXPECT_EQ(login_.database(), "mydb");
}

TEST_F(ClientLoginTest, APoolThatCannotBeReachedGivesItsReasonOrTheDatabasesOwnError) {
  up_to_verdict();
  ASSERT_EQ(login_.on_token_verified(verified(), true).action, LoginAction::kFindPool);
  ClientLogin copy = login_;
  auto ours = login_.on_pool_failed(failure("backend_unreachable", "connection refused", "57P03",
                                            "the database is not reachable", ""));
  EXPECT_EQ(ours.action, LoginAction::kClose);
  EXPECT_EQ(ours.outcome, "error");
  EXPECT_EQ(ours.reason, "backend_unreachable");
  EXPECT_EQ(ours.detail, "connection refused");
  EXPECT_EQ(ours.to_client, fatal("57P03", "the database is not reachable"));
  const std::string theirs = fatal("3D000", "database \"gone\" does not exist");
  auto forwarded = copy.on_pool_failed(failure("backend_refused", "", "3D000", "unused", theirs));
  EXPECT_EQ(forwarded.to_client, theirs);
}

TEST_F(ClientLoginTest, AClientThatLeavesIsLoggedOnlyOnceItHasStartedALogin) {
  ClientLogin silent(ClientLoginSettings{});
  auto before = silent.on_client_gone("client_closed");
  EXPECT_EQ(before.action, LoginAction::kClose);
  EXPECT_EQ(before.outcome, "");  // a health check or a port scan: no line
  ClientLogin timed_out(ClientLoginSettings{});
  EXPECT_EQ(timed_out.on_client_gone("auth_timeout").outcome, "refused");
  up_to_token();
  auto after = login_.on_client_gone("client_closed");
  EXPECT_EQ(after.outcome, "refused");
  EXPECT_EQ(after.reason, "client_closed");
  EXPECT_EQ(after.to_client, "");
}

}  // namespace
}  // namespace writegate::proxy
