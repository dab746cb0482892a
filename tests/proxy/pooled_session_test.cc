// PooledSession without sockets: client frames in, bytes for the backend out; backend frames
// in, forward/drop out; and when the backend may go back to the pool. Frames are built with
// pgwire's encoder and decoded with its FrameDecoder, as the proxy sees them.
#include "proxy/pooled_session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pgwire/encode.h"
#include "pgwire/frame_decoder.h"
#include "pgwire/parse.h"

namespace writegate::proxy {
namespace {

using ::testing::ElementsAre;

const std::vector<std::pair<std::string, std::string>> kBaseline = {
    {"client_encoding", "UTF8"}, {"standard_conforming_strings", "on"}, {"TimeZone", "UTC"}};

template <typename M>
std::string bytes_of(const M& message) {
  std::string out;
  EXPECT_TRUE(pgwire::encode_to(message, out).ok());
  return out;
}

// A one-message buffer decoded as a frame (the decoder must outlive the frame view).
struct OneFrame {
  pgwire::FrameDecoder decoder;
  pgwire::Frame frame;
  OneFrame(std::string wire, bool from_client)
      : decoder(from_client ? pgwire::FrameDecoder::frontend_after_startup()
                            : pgwire::FrameDecoder::backend()) {
    decoder.feed(wire);
    auto decoded = decoder.next();
    EXPECT_TRUE(decoded.ok());
    EXPECT_TRUE(decoded->ready());
    frame = decoded->frame;
  }
};

// Every frame in a byte string the session produced for the backend: (type, body).
std::vector<std::pair<char, std::string>> frames_in(const std::string& wire) {
  auto decoder = pgwire::FrameDecoder::frontend_after_startup();
  decoder.feed(wire);
  std::vector<std::pair<char, std::string>> out;
  for (;;) {
    auto decoded = decoder.next();
    EXPECT_TRUE(decoded.ok()) << decoded.error().message();
    if (!decoded.ok() || !decoded->ready()) break;
    out.emplace_back(decoded->frame.type, std::string(decoded->frame.body));
  }
  return out;
}

class PooledSessionTest : public ::testing::Test {
 protected:
  PooledSession session{kBaseline, {}};
  StatementCache statements{100};

  std::string client(const std::string& wire) {
    OneFrame f(wire, true);
    std::string out;
    session.on_client_frame(f.frame, statements, out);
    return out;
  }
  BackendVerdict backend(const std::string& wire) {
    OneFrame f(wire, false);
    return session.on_backend_frame(f.frame, statements);
  }
  BackendVerdict ready(char status) { return backend(std::string("Z\0\0\0\5", 5) + status); }
  static std::string parse_complete() { return std::string("1\0\0\0\4", 5); }
  static std::string close_complete() { return std::string("3\0\0\0\4", 5); }
  static std::string bind_complete() { return std::string("2\0\0\0\4", 5); }
  static std::string sync() { return bytes_of(pgwire::Sync{}); }
};

TEST_F(PooledSessionTest, ASimpleQueryIsPassedAsItIsAndTheBackendGoesBackAtReadyForQueryIdle) {
  session.on_attach();
  const std::string q = bytes_of(pgwire::Query{"INSERT INTO t VALUES (1)"});
  EXPECT_EQ(client(q), q);
  EXPECT_EQ(session.state(), PooledSession::State::kBusy);
  EXPECT_EQ(backend(std::string("C\0\0\0\017INSERT 0 1\0", 16)), BackendVerdict::kForward);
  EXPECT_EQ(session.state(), PooledSession::State::kBusy);
  EXPECT_EQ(ready('I'), BackendVerdict::kForward);
  EXPECT_EQ(session.state(), PooledSession::State::kIdle);
  EXPECT_FALSE(session.pinned());
}

TEST_F(PooledSessionTest, AnOpenTransactionKeepsTheBackendUntilItEnds) {
  session.on_attach();
  client(bytes_of(pgwire::Query{"BEGIN"}));
  ready('T');
  EXPECT_EQ(session.state(), PooledSession::State::kBusy);
  client(bytes_of(pgwire::Query{"INSERT INTO t VALUES (1)"}));
  ready('T');
  EXPECT_EQ(session.state(), PooledSession::State::kBusy);
  client(bytes_of(pgwire::Query{"COMMIT"}));
  ready('I');
  EXPECT_EQ(session.state(), PooledSession::State::kIdle);
}

TEST_F(PooledSessionTest, PipelinedQueriesReleaseOnlyAfterTheLastReadyForQuery) {
  session.on_attach();
  client(bytes_of(pgwire::Query{"SELECT 1"}));
  client(bytes_of(pgwire::Query{"SELECT 2"}));
  ready('I');
  EXPECT_EQ(session.state(), PooledSession::State::kBusy);
  EXPECT_EQ(session.answers_owed(), 1u);
  ready('I');
  EXPECT_EQ(session.state(), PooledSession::State::kIdle);
}

TEST_F(PooledSessionTest, ExtendedMessagesWithoutSyncKeepTheBackend) {
  session.on_attach();
  client(bytes_of(pgwire::Parse{"", "INSERT INTO t VALUES ($1)", {}}));
  client(bytes_of(pgwire::Bind{"", "", {}, {std::string("1")}, {}}));
  client(bytes_of(pgwire::Execute{"", 0}));
  EXPECT_TRUE(session.awaiting_sync());
  EXPECT_EQ(session.state(), PooledSession::State::kBusy);
  client(sync());
  EXPECT_FALSE(session.awaiting_sync());
  EXPECT_EQ(backend(parse_complete()), BackendVerdict::kForward);
  EXPECT_EQ(backend(bind_complete()), BackendVerdict::kForward);
  ready('I');
  EXPECT_EQ(session.state(), PooledSession::State::kIdle);
}

TEST_F(PooledSessionTest, EachPinningStatementPinsAndSaysWhy) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"SET search_path = app", "set"},
      {"SELECT set_config('work_mem', '1MB', false)", "set_config"},
      {"PREPARE p AS SELECT 1", "prepare"},
      {"CREATE TEMP TABLE x (a int)", "temporary_object"},
      {"DECLARE c CURSOR WITH HOLD FOR SELECT 1", "cursor_with_hold"},
      {"LISTEN chan", "listen"},
      {"SELECT pg_advisory_lock(1)", "advisory_lock"},
      {"DISCARD ALL", "discard"},
  };
  for (const auto& [sql, reason] : cases) {
    PooledSession s(kBaseline, {});
    s.on_attach();
    OneFrame f(bytes_of(pgwire::Query{sql}), true);
    std::string out;
    s.on_client_frame(f.frame, statements, out);
    EXPECT_TRUE(s.pinned()) << sql;
    ASSERT_TRUE(s.pin().has_value()) << sql;
    EXPECT_EQ(s.pin()->reason, reason) << sql;
    EXPECT_EQ(s.state(), PooledSession::State::kPinned) << sql;
    auto event = s.take_new_pin();
    ASSERT_TRUE(event.has_value());
    EXPECT_FALSE(s.take_new_pin().has_value());  // logged once
  }
}

TEST_F(PooledSessionTest, HarmlessStatementsThatMentionSetDoNotPin) {
  for (const std::string sql :
       {"INSERT INTO t (note) VALUES ('SET search_path = x')", "-- SET x = 1\nSELECT 1",
        "BEGIN; SET LOCAL work_mem = '64MB'; INSERT INTO t VALUES (1); COMMIT",
        "UPDATE t SET a = 1", "SELECT pg_advisory_xact_lock(1)"}) {
    PooledSession s(kBaseline, {});
    s.on_attach();
    OneFrame f(bytes_of(pgwire::Query{sql}), true);
    std::string out;
    s.on_client_frame(f.frame, statements, out);
    EXPECT_FALSE(s.pinned()) << sql;
  }
}

TEST_F(PooledSessionTest, ExcludeVariableSetsLetsSetThroughButNotTemporaryTables) {
  PooledSession s(kBaseline, {.pinning = {}, .exclude_variable_sets = true});
  s.on_attach();
  std::string out;
  OneFrame set(bytes_of(pgwire::Query{"SET search_path = app"}), true);
  s.on_client_frame(set.frame, statements, out);
  EXPECT_FALSE(s.pinned());
  OneFrame temp(bytes_of(pgwire::Query{"SET x.y = 1; CREATE TEMP TABLE z (a int)"}), true);
  s.on_client_frame(temp.frame, statements, out);
  ASSERT_TRUE(s.pinned());
  EXPECT_EQ(s.pin()->reason, "temporary_object");
}

TEST_F(PooledSessionTest, AParseOfAPinningStatementPins) {
  session.on_attach();
  client(bytes_of(pgwire::Parse{"", "SET application_name = 'x'", {}}));
  ASSERT_TRUE(session.pinned());
  EXPECT_EQ(session.pin()->reason, "set");
}

TEST_F(PooledSessionTest, AFunctionCallPins) {
  session.on_attach();
  pgwire::FunctionCall call;
  call.function_oid = 1598;  // random()
  client(bytes_of(call));
  ASSERT_TRUE(session.pinned());
  EXPECT_EQ(session.pin()->reason, "function_call");
}

TEST_F(PooledSessionTest, AReportedParameterThatDiffersAtTheEndOfATransactionPins) {
  session.on_attach();
  client(bytes_of(pgwire::Query{"SELECT my_function_that_sets_the_time_zone()"}));
  EXPECT_FALSE(session.pinned());
  backend(bytes_of(pgwire::ParameterStatus{"TimeZone", "Europe/Paris"}));
  ready('I');
  ASSERT_TRUE(session.pinned());
  EXPECT_EQ(session.pin()->reason, "parameter_changed");
}

TEST_F(PooledSessionTest, ASetLocalReportedAndRevertedWithinTheTransactionDoesNotPin) {
  session.on_attach();
  client(bytes_of(pgwire::Query{"BEGIN; SET LOCAL TimeZone = 'Europe/Paris'"}));
  backend(bytes_of(pgwire::ParameterStatus{"TimeZone", "Europe/Paris"}));
  ready('T');
  client(bytes_of(pgwire::Query{"COMMIT"}));
  backend(bytes_of(pgwire::ParameterStatus{"TimeZone", "UTC"}));
  ready('I');
  EXPECT_FALSE(session.pinned());
  EXPECT_EQ(session.state(), PooledSession::State::kIdle);
}

TEST_F(PooledSessionTest, StandardConformingStringsOffPinsAtTheNextQuery) {
  PooledSession s({{"standard_conforming_strings", "off"}}, {});
  s.on_attach();
  OneFrame f(bytes_of(pgwire::Query{"INSERT INTO t VALUES ('a\\'b')"}), true);
  std::string out;
  s.on_client_frame(f.frame, statements, out);
  ASSERT_TRUE(s.pinned());
  EXPECT_EQ(s.pin()->reason, "standard_conforming_strings_off");
}

TEST_F(PooledSessionTest, ANamedStatementIsPreparedUnderThePoolsNameAfterAClose) {
  session.on_attach();
  const std::string pooled = pooled_statement_name("INSERT INTO t VALUES ($1)", {23});
  EXPECT_EQ(pooled.size(), 3u + 32u);
  EXPECT_TRUE(pooled.starts_with("wg_"));
  const auto sent =
      frames_in(client(bytes_of(pgwire::Parse{"s1", "INSERT INTO t VALUES ($1)", {23}})));
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].first, 'C');
  EXPECT_EQ(sent[0].second, "S" + pooled + std::string(1, '\0'));
  EXPECT_EQ(sent[1].first, 'P');
  auto parse = pgwire::parse_parse(sent[1].second);
  ASSERT_TRUE(parse.ok());
  EXPECT_EQ(parse->statement, pooled);
  EXPECT_EQ(parse->query, "INSERT INTO t VALUES ($1)");
  EXPECT_THAT(parse->param_type_oids, ElementsAre(23u));
  EXPECT_TRUE(statements.contains(pooled));
  // The answers: the CloseComplete was the session's own, the ParseComplete the client's.
  EXPECT_EQ(backend(close_complete()), BackendVerdict::kDrop);
  EXPECT_EQ(backend(parse_complete()), BackendVerdict::kForward);
}

TEST_F(PooledSessionTest,
       ABindOnABackendThatLacksTheStatementPreparesItFirstAndSwallowsTheAnswers) {
  session.on_attach();
  client(bytes_of(pgwire::Parse{"s1", "INSERT INTO t VALUES ($1)", {}}));
  client(sync());
  backend(close_complete());
  backend(parse_complete());
  ready('I');
  ASSERT_EQ(session.state(), PooledSession::State::kIdle);

  // The next transaction runs on another backend, with an empty cache.
  StatementCache other(100);
  session.on_attach();
  OneFrame bind(bytes_of(pgwire::Bind{"", "s1", {}, {std::string("7")}, {}}), true);
  std::string out;
  session.on_client_frame(bind.frame, other, out);
  const auto sent = frames_in(out);
  const std::string pooled = pooled_statement_name("INSERT INTO t VALUES ($1)", {});
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].first, 'C');
  EXPECT_EQ(sent[1].first, 'P');
  EXPECT_EQ(sent[2].first, 'B');
  auto rewritten = pgwire::parse_bind(sent[2].second);
  ASSERT_TRUE(rewritten.ok());
  EXPECT_EQ(rewritten->statement, pooled);
  ASSERT_EQ(rewritten->params.size(), 1u);
  EXPECT_EQ(rewritten->params[0], std::optional<std::string>("7"));
  OneFrame sync_frame(sync(), true);
  session.on_client_frame(sync_frame.frame, other, out);
  // Only the BindComplete reaches the client.
  OneFrame c3(close_complete(), false), c1(parse_complete(), false), c2(bind_complete(), false);
  EXPECT_EQ(session.on_backend_frame(c3.frame, other), BackendVerdict::kDrop);
  EXPECT_EQ(session.on_backend_frame(c1.frame, other), BackendVerdict::kDrop);
  EXPECT_EQ(session.on_backend_frame(c2.frame, other), BackendVerdict::kForward);
  OneFrame z(std::string("Z\0\0\0\5I", 6), false);
  session.on_backend_frame(z.frame, other);
  EXPECT_EQ(session.state(), PooledSession::State::kIdle);
  EXPECT_TRUE(other.contains(pooled));

  // Once there, a Bind goes without a Parse.
  session.on_attach();
  std::string again;
  session.on_client_frame(bind.frame, other, again);
  ASSERT_EQ(frames_in(again).size(), 1u);
  EXPECT_EQ(frames_in(again)[0].first, 'B');
}

TEST_F(PooledSessionTest, AFailedInjectedParseLeavesTheCacheWithoutIt) {
  session.on_attach();
  client(bytes_of(pgwire::Parse{"s1", "INSERT INTO gone VALUES ($1)", {}}));
  client(sync());
  backend(close_complete());
  backend(bytes_of(pgwire::ErrorResponse{{{{'S', "ERROR"}, {'C', "42P01"}, {'M', "no"}}}}));
  ready('I');
  const std::string pooled = pooled_statement_name("INSERT INTO gone VALUES ($1)", {});
  EXPECT_FALSE(statements.contains(pooled));
  EXPECT_EQ(session.state(), PooledSession::State::kIdle);
}

TEST_F(PooledSessionTest, ClosingANamedStatementClosesThePoolsNameAndForgetsIt) {
  session.on_attach();
  client(bytes_of(pgwire::Parse{"s1", "SELECT 1", {}}));
  const std::string pooled = pooled_statement_name("SELECT 1", {});
  const auto sent =
      frames_in(client(bytes_of(pgwire::Close{pgwire::TargetKind::kStatement, "s1"})));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].second, "S" + pooled + std::string(1, '\0'));
  EXPECT_FALSE(statements.contains(pooled));
  client(sync());
  EXPECT_EQ(backend(close_complete()), BackendVerdict::kDrop);     // the session's Close
  EXPECT_EQ(backend(parse_complete()), BackendVerdict::kForward);  // the client's Parse
  EXPECT_EQ(backend(close_complete()), BackendVerdict::kForward);  // the client's Close
  // An unknown name afterwards is the server's to judge, under the client's name.
  const auto bind = frames_in(client(bytes_of(pgwire::Bind{"", "s1", {}, {}, {}})));
  ASSERT_EQ(bind.size(), 1u);
  auto parsed = pgwire::parse_bind(bind[0].second);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->statement, "s1");
}

TEST_F(PooledSessionTest, TheCacheLimitClosesTheLeastRecentlyUsedStatement) {
  StatementCache small(2);
  session.on_attach();
  std::string out;
  for (const std::string sql : {"SELECT 1", "SELECT 2", "SELECT 3"}) {
    OneFrame f(bytes_of(pgwire::Parse{"n" + sql.substr(7), sql, {}}), true);
    session.on_client_frame(f.frame, small, out);
  }
  EXPECT_EQ(small.size(), 2u);
  EXPECT_FALSE(small.contains(pooled_statement_name("SELECT 1", {})));
  EXPECT_TRUE(small.contains(pooled_statement_name("SELECT 3", {})));
}

TEST_F(PooledSessionTest, CleanupAfterTheClientLeftRollsBackAnOpenTransaction) {
  session.on_attach();
  client(bytes_of(pgwire::Query{"BEGIN"}));
  ready('T');
  const auto sent = frames_in(session.cleanup_messages());
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].first, 'Q');
  EXPECT_EQ(sent[0].second, std::string("ROLLBACK\0", 9));
  // Nothing of the cleanup reaches anyone.
  EXPECT_EQ(backend(std::string("C\0\0\0\015ROLLBACK\0", 14)), BackendVerdict::kDrop);
  EXPECT_EQ(ready('I'), BackendVerdict::kDrop);
  EXPECT_EQ(session.state(), PooledSession::State::kIdle);
}

TEST_F(PooledSessionTest, CleanupSendsTheMissingSyncFirstAndWaitsForAnswersOwed) {
  session.on_attach();
  client(bytes_of(pgwire::Parse{"", "INSERT INTO t VALUES (1)", {}}));
  const auto sent = frames_in(session.cleanup_messages());
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].first, 'S');
  EXPECT_EQ(sent[1].first, 'Q');

  PooledSession busy(kBaseline, {});
  busy.on_attach();
  OneFrame q(bytes_of(pgwire::Query{"SELECT pg_sleep(10)"}), true);
  std::string out;
  busy.on_client_frame(q.frame, statements, out);
  EXPECT_EQ(busy.cleanup_messages(), "");  // an answer is owed: later
}

TEST_F(PooledSessionTest, NothingIsCleanedUpOnAPinnedSession) {
  session.on_attach();
  client(bytes_of(pgwire::Query{"SET search_path = x"}));
  ready('I');
  EXPECT_EQ(session.cleanup_messages(), "");
  EXPECT_EQ(session.state(), PooledSession::State::kPinned);
}

TEST(StatementCacheTest, LeastRecentlyUsedGoesFirst) {
  StatementCache cache(2);
  EXPECT_TRUE(cache.add("a").empty());
  EXPECT_TRUE(cache.add("b").empty());
  cache.touch("a");
  EXPECT_THAT(cache.add("c"), ElementsAre("b"));
  EXPECT_TRUE(cache.contains("a"));
  EXPECT_TRUE(cache.contains("c"));
  cache.remove("a");
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace writegate::proxy
