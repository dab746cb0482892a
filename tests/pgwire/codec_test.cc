// Every message of the protocol, built byte by byte: the builder must write exactly these
// bytes, the decoder must find exactly one frame in them however they are split, and the typed
// parser must give back the message.
#include <gtest/gtest.h>

#include <string>
#include <variant>
#include <vector>

#include "pgwire/encode.h"
#include "pgwire/frame_decoder.h"
#include "pgwire/parse.h"
#include "pgwire/wire_bytes.h"

namespace writegate::pgwire {
namespace {

using namespace testing;  // NOLINT: byte builders
using ::testing::TestWithParam;
using ::testing::ValuesIn;

enum class Side { kStartup, kFrontend, kBackend };
using AnyMessage = std::variant<StartupPacket, FrontendMessage, BackendMessage>;

struct Case {
  std::string name;
  Side side;
  std::string wire;
  AnyMessage expected;
  PasswordKind password_kind = PasswordKind::kPassword;
};

Case startup(std::string name, std::string wire, StartupPacket m) {
  return {std::move(name), Side::kStartup, std::move(wire), AnyMessage(std::move(m))};
}
Case fe(std::string name, std::string wire, FrontendMessage m,
        PasswordKind kind = PasswordKind::kPassword) {
  return {std::move(name), Side::kFrontend, std::move(wire), AnyMessage(std::move(m)), kind};
}
Case be(std::string name, std::string wire, BackendMessage m) {
  return {std::move(name), Side::kBackend, std::move(wire), AnyMessage(std::move(m))};
}

ErrorFields all_error_fields() {
  ErrorFields f;
  for (char code : std::string("SVCMDHPpqWstcdnFLRZ")) {
    f.fields.push_back({code, std::string("value of ") + code});
  }
  return f;
}
std::string all_error_fields_bytes() {
  std::string b;
  for (char code : std::string("SVCMDHPpqWstcdnFLRZ")) {
    b += code;
    b += cstr(std::string("value of ") + code);
  }
  return b + '\0';
}

std::vector<Case> all_cases() {
  std::vector<Case> c;
  // ---- Untyped first packets.
  c.push_back(startup("SSLRequest", be32(8) + be32(80877103), SslRequest{}));
  c.push_back(startup("GSSENCRequest", be32(8) + be32(80877104), GssEncRequest{}));
  c.push_back(startup("CancelRequest", be32(16) + be32(80877102) + be32(4242) + be32(0xdeadbeef),
                      CancelRequest{4242, static_cast<int32_t>(0xdeadbeef)}));
  c.push_back(startup(
      "StartupMessage",
      untyped(be32(196608) + cstr("user") + cstr("lambda_writer") + cstr("database") + cstr("app") +
              cstr("application_name") + cstr("") + cstr("")),
      StartupMessage{
          3, 0, {{"user", "lambda_writer"}, {"database", "app"}, {"application_name", ""}}}));
  c.push_back(startup("StartupMessage_3_2",
                      untyped(be32(0x00030002) + cstr("user") + cstr("u") + cstr("_pq_.opt") +
                              cstr("1") + cstr("")),
                      StartupMessage{3, 2, {{"user", "u"}, {"_pq_.opt", "1"}}}));

  // ---- Frontend.
  c.push_back(fe("Query", typed('Q', cstr("SELECT 1")), Query{"SELECT 1"}));
  c.push_back(fe("QueryEmpty", typed('Q', cstr("")), Query{""}));
  c.push_back(fe("Parse",
                 typed('P', cstr("s1") + cstr("SELECT $1, $2") + be16(2) + be32(23) + be32(0)),
                 Parse{"s1", "SELECT $1, $2", {23, 0}}));
  c.push_back(fe("ParseUnnamed", typed('P', cstr("") + cstr("SELECT 1") + be16(0)),
                 Parse{"", "SELECT 1", {}}));
  c.push_back(fe("Bind",
                 typed('B', cstr("p1") + cstr("s1") + be16(1) + be16(1) + be16(3) + be32(4) +
                                std::string("\0\0\0\x2a", 4) + be32(0xffffffff) + be32(0) +
                                be16(2) + be16(0) + be16(1)),
                 Bind{"p1", "s1", {1}, {std::string("\0\0\0\x2a", 4), std::nullopt, ""}, {0, 1}}));
  c.push_back(fe("BindPerParamFormats",
                 typed('B', cstr("") + cstr("") + be16(2) + be16(0) + be16(1) + be16(2) + be32(1) +
                                "7" + be32(1) + "\x01" + be16(0)),
                 Bind{"", "", {0, 1}, {"7", "\x01"}, {}}));
  c.push_back(fe("DescribeStatement", typed('D', "S" + cstr("s1")),
                 Describe{TargetKind::kStatement, "s1"}));
  c.push_back(fe("DescribePortal", typed('D', "P" + cstr("")), Describe{TargetKind::kPortal, ""}));
  c.push_back(fe("Execute", typed('E', cstr("p1") + be32(100)), Execute{"p1", 100}));
  c.push_back(fe("Sync", typed('S', ""), Sync{}));
  c.push_back(fe("Flush", typed('H', ""), Flush{}));
  c.push_back(fe("Terminate", typed('X', ""), Terminate{}));
  c.push_back(
      fe("CloseStatement", typed('C', "S" + cstr("s1")), Close{TargetKind::kStatement, "s1"}));
  c.push_back(fe("ClosePortal", typed('C', "P" + cstr("p1")), Close{TargetKind::kPortal, "p1"}));
  c.push_back(fe("FunctionCall",
                 typed('F', be32(1598) + be16(1) + be16(0) + be16(2) + be32(3) + "abc" +
                                be32(0xffffffff) + be16(1)),
                 FunctionCall{1598, {0}, {"abc", std::nullopt}, 1}));
  c.push_back(fe("CopyDataFrontend", typed('d', std::string("a\tb\n\0x", 6)),
                 CopyData{std::string("a\tb\n\0x", 6)}));
  c.push_back(fe("CopyDoneFrontend", typed('c', ""), CopyDone{}));
  c.push_back(fe("CopyFail", typed('f', cstr("client gave up")), CopyFail{"client gave up"}));
  c.push_back(fe("PasswordMessage", typed('p', cstr("not-a-real-token")),
                 PasswordMessage{"not-a-real-token"}));
  c.push_back(
      fe("SASLInitialResponse", typed('p', cstr("SCRAM-SHA-256") + be32(12) + "n,,n=,r=abcd"),
         SaslInitialResponse{"SCRAM-SHA-256", "n,,n=,r=abcd"}, PasswordKind::kSaslInitialResponse));
  c.push_back(fe("SASLInitialResponseNoData", typed('p', cstr("SCRAM-SHA-256") + be32(0xffffffff)),
                 SaslInitialResponse{"SCRAM-SHA-256", std::nullopt},
                 PasswordKind::kSaslInitialResponse));
  c.push_back(fe("SASLResponse", typed('p', "c=biws,r=abcd,p=xyz"),
                 SaslResponse{"c=biws,r=abcd,p=xyz"}, PasswordKind::kSaslResponse));
  c.push_back(fe("GSSResponse", typed('p', std::string("\x60\x00\x01", 3)),
                 GssResponse{std::string("\x60\x00\x01", 3)}, PasswordKind::kGssResponse));

  // ---- Backend.
  c.push_back(be("AuthenticationOk", typed('R', be32(0)), Authentication::ok()));
  c.push_back(be("AuthenticationKerberosV5", typed('R', be32(2)),
                 Authentication{AuthType::kKerberosV5, {}, {}}));
  c.push_back(be("AuthenticationCleartextPassword", typed('R', be32(3)),
                 Authentication::cleartext_password()));
  c.push_back(be("AuthenticationMD5Password", typed('R', be32(5) + "\x01\x02\x03\x04"),
                 Authentication::md5_password("\x01\x02\x03\x04")));
  c.push_back(be("AuthenticationGSS", typed('R', be32(7)), Authentication{AuthType::kGss, {}, {}}));
  c.push_back(be("AuthenticationGSSContinue", typed('R', be32(8) + "gss"),
                 Authentication{AuthType::kGssContinue, "gss", {}}));
  c.push_back(
      be("AuthenticationSSPI", typed('R', be32(9)), Authentication{AuthType::kSspi, {}, {}}));
  c.push_back(be("AuthenticationSASL",
                 typed('R', be32(10) + cstr("SCRAM-SHA-256-PLUS") + cstr("SCRAM-SHA-256") + '\0'),
                 Authentication::sasl({"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"})));
  c.push_back(be("AuthenticationSASLContinue", typed('R', be32(11) + "r=abc,s=c2FsdA==,i=4096"),
                 Authentication::sasl_continue("r=abc,s=c2FsdA==,i=4096")));
  c.push_back(be("AuthenticationSASLFinal", typed('R', be32(12) + "v=c2ln"),
                 Authentication::sasl_final("v=c2ln")));
  c.push_back(be("BackendKeyData", typed('K', be32(77) + be32(0x80000001)),
                 BackendKeyData{77, static_cast<int32_t>(0x80000001)}));
  c.push_back(be("ParameterStatus", typed('S', cstr("server_version") + cstr("15.4")),
                 ParameterStatus{"server_version", "15.4"}));
  c.push_back(be("NegotiateProtocolVersion",
                 typed('v', be32(0) + be32(2) + cstr("_pq_.a") + cstr("_pq_.b")),
                 NegotiateProtocolVersion{0, {"_pq_.a", "_pq_.b"}}));
  c.push_back(be("ReadyForQueryIdle", typed('Z', "I"), ReadyForQuery{TransactionStatus::kIdle}));
  c.push_back(be("ReadyForQueryInTransaction", typed('Z', "T"),
                 ReadyForQuery{TransactionStatus::kInTransaction}));
  c.push_back(
      be("ReadyForQueryFailed", typed('Z', "E"), ReadyForQuery{TransactionStatus::kFailed}));
  c.push_back(
      be("ErrorResponse", typed('E', all_error_fields_bytes()), ErrorResponse{all_error_fields()}));
  c.push_back(be("NoticeResponse",
                 typed('N', "SWARNING" + std::string(1, '\0') + "C01000" + std::string(1, '\0') +
                                "Mcareful" + std::string(2, '\0')),
                 NoticeResponse{{{{'S', "WARNING"}, {'C', "01000"}, {'M', "careful"}}}}));
  c.push_back(be("NotificationResponse", typed('A', be32(42) + cstr("chan") + cstr("hello")),
                 NotificationResponse{42, "chan", "hello"}));
  c.push_back(be("ParseComplete", typed('1', ""), ParseComplete{}));
  c.push_back(be("BindComplete", typed('2', ""), BindComplete{}));
  c.push_back(be("CloseComplete", typed('3', ""), CloseComplete{}));
  c.push_back(be("NoData", typed('n', ""), NoData{}));
  c.push_back(be("EmptyQueryResponse", typed('I', ""), EmptyQueryResponse{}));
  c.push_back(be("PortalSuspended", typed('s', ""), PortalSuspended{}));
  c.push_back(be("ParameterDescription", typed('t', be16(2) + be32(23) + be32(25)),
                 ParameterDescription{{23, 25}}));
  c.push_back(
      be("RowDescription",
         typed('T', be16(2) + cstr("id") + be32(16384) + be16(1) + be32(23) + be16(4) +
                        be32(0xffffffff) + be16(0) + cstr("?column?") + be32(0) + be16(0) +
                        be32(25) + be16(0xffff) + be32(0xffffffff) + be16(1)),
         RowDescription{{{"id", 16384, 1, 23, 4, -1, 0}, {"?column?", 0, 0, 25, -1, -1, 1}}}));
  c.push_back(be("DataRow", typed('D', be16(3) + be32(1) + "1" + be32(0xffffffff) + be32(0)),
                 DataRow{{"1", std::nullopt, ""}}));
  c.push_back(be("DataRowEmpty", typed('D', be16(0)), DataRow{}));
  c.push_back(be("CommandComplete", typed('C', cstr("INSERT 0 1")), CommandComplete{"INSERT 0 1"}));
  c.push_back(be("FunctionCallResponse", typed('V', be32(2) + "ok"), FunctionCallResponse{"ok"}));
  c.push_back(be("FunctionCallResponseNull", typed('V', be32(0xffffffff)),
                 FunctionCallResponse{std::nullopt}));
  c.push_back(be("CopyInResponse", typed('G', std::string(1, '\0') + be16(2) + be16(0) + be16(0)),
                 CopyInResponse{{0, {0, 0}}}));
  c.push_back(be("CopyOutResponse", typed('H', std::string(1, '\1') + be16(2) + be16(1) + be16(0)),
                 CopyOutResponse{{1, {1, 0}}}));
  c.push_back(be("CopyBothResponse", typed('W', std::string(1, '\0') + be16(0)),
                 CopyBothResponse{{0, {}}}));
  c.push_back(be("CopyDataBackend", typed('d', "1\tx\n"), CopyData{"1\tx\n"}));
  c.push_back(be("CopyDoneBackend", typed('c', ""), CopyDone{}));
  return c;
}

FrameDecoder decoder_for(Side side) {
  switch (side) {
    case Side::kStartup:
      return FrameDecoder::frontend();
    case Side::kFrontend:
      return FrameDecoder::frontend_after_startup();
    case Side::kBackend:
      return FrameDecoder::backend();
  }
  return FrameDecoder::backend();
}

Result<std::string> encode_any(const AnyMessage& m) {
  return std::visit([](const auto& v) { return encode(v); }, m);
}

Result<AnyMessage> parse_any(const Case& c, const Frame& frame) {
  switch (c.side) {
    case Side::kStartup: {
      WG_ASSIGN_OR_RETURN(StartupPacket p, parse_startup_packet(frame));
      return AnyMessage(std::move(p));
    }
    case Side::kFrontend: {
      WG_ASSIGN_OR_RETURN(FrontendMessage m, parse_frontend_message(frame, c.password_kind));
      return AnyMessage(std::move(m));
    }
    case Side::kBackend: {
      WG_ASSIGN_OR_RETURN(BackendMessage m, parse_backend_message(frame));
      return AnyMessage(std::move(m));
    }
  }
  return Error::internal("side");
}

// Feeds `wire` in the given chunks and expects NeedMoreData until the last chunk, then exactly
// the frame of the case.
void expect_one_frame(const Case& c, const std::vector<std::string_view>& chunks) {
  FrameDecoder d = decoder_for(c.side);
  for (size_t i = 0; i < chunks.size(); ++i) {
    d.feed(chunks[i]);
    auto r = d.next();
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    if (i + 1 < chunks.size()) {
      ASSERT_FALSE(r->ready()) << "frame before all bytes arrived, chunk " << i;
      continue;
    }
    ASSERT_TRUE(r->ready());
    EXPECT_EQ(r->frame.wire, c.wire);
    auto parsed = parse_any(c, r->frame);
    ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
    EXPECT_TRUE(*parsed == c.expected);
    auto after = d.next();
    ASSERT_TRUE(after.ok());
    EXPECT_FALSE(after->ready());
    EXPECT_EQ(d.buffered_bytes(), 0u);
  }
}

class CodecTest : public TestWithParam<Case> {};

TEST_P(CodecTest, BuilderWritesTheHandBuiltBytes) {
  auto bytes = encode_any(GetParam().expected);
  ASSERT_TRUE(bytes.ok()) << bytes.error().to_string();
  EXPECT_EQ(*bytes, GetParam().wire);
}

TEST_P(CodecTest, DecodesWhole) {
  expect_one_frame(GetParam(), {GetParam().wire});
}

TEST_P(CodecTest, DecodesEverySplitPoint) {
  std::string_view w = GetParam().wire;
  for (size_t split = 1; split < w.size(); ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    expect_one_frame(GetParam(), {w.substr(0, split), w.substr(split)});
  }
}

TEST_P(CodecTest, DecodesByteAtATime) {
  std::string_view w = GetParam().wire;
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < w.size(); ++i)
    bytes.push_back(w.substr(i, 1));
  expect_one_frame(GetParam(), bytes);
}

TEST_P(CodecTest, ParserThenBuilderReproducesTheBody) {
  FrameDecoder d = decoder_for(GetParam().side);
  d.feed(GetParam().wire);
  auto r = d.next();
  ASSERT_TRUE(r.ok() && r->ready());
  auto parsed = parse_any(GetParam(), r->frame);
  ASSERT_TRUE(parsed.ok());
  auto again = encode_any(*parsed);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, GetParam().wire);
}

INSTANTIATE_TEST_SUITE_P(AllMessages, CodecTest, ValuesIn(all_cases()),
                         [](const auto& test_info) { return test_info.param.name; });

// All messages of one direction back to back, fed one byte at a time, come out in order.
void expect_stream(Side side, bool with_startup) {
  std::vector<Case> cases;
  std::string stream;
  if (with_startup) {
    for (const Case& c : all_cases()) {
      if (c.name == "SSLRequest" || c.name == "GSSENCRequest" || c.name == "StartupMessage") {
        cases.push_back(c);
        stream += c.wire;
      }
    }
  }
  for (const Case& c : all_cases()) {
    if (c.side == side) {
      cases.push_back(c);
      stream += c.wire;
    }
  }
  FrameDecoder d = with_startup ? FrameDecoder::frontend() : decoder_for(side);
  size_t next_case = 0;
  for (size_t i = 0; i < stream.size(); ++i) {
    d.feed(stream.substr(i, 1));
    for (;;) {
      auto r = d.next();
      ASSERT_TRUE(r.ok()) << r.error().to_string();
      if (!r->ready()) break;
      ASSERT_LT(next_case, cases.size());
      const Case& c = cases[next_case++];
      EXPECT_EQ(r->frame.wire, c.wire) << c.name;
      auto parsed = parse_any(c, r->frame);
      ASSERT_TRUE(parsed.ok()) << c.name << ": " << parsed.error().to_string();
      EXPECT_TRUE(*parsed == c.expected) << c.name;
    }
  }
  EXPECT_EQ(next_case, cases.size());
}

TEST(CodecStreamTest, FrontendStreamWithStartupByteAtATime) {
  expect_stream(Side::kFrontend, /*with_startup=*/true);
}

TEST(CodecStreamTest, BackendStreamByteAtATime) {
  expect_stream(Side::kBackend, /*with_startup=*/false);
}

}  // namespace
}  // namespace writegate::pgwire
