// classify() against RDS Proxy's pinning conditions for PostgreSQL, one row per case: the query
// string, the reason it pins for (kNone: it does not) and whether it leaves transaction-scoped
// state. Then transaction control, statement splitting and the RDS-style log text.
#include "proxy/pinning.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/pinning_cases.h"

namespace writegate::proxy {
namespace {

// The cases: tests/proxy/pinning_cases.h (shared with proxy_pinning_pg_test).

class Pinning : public ::testing::TestWithParam<PinCase> {};

TEST_P(Pinning, Classifies) {
  const PinCase& c = GetParam();
  Classification got = classify(c.sql);
  EXPECT_EQ(got.pins, c.reason != PinReason::kNone) << c.sql;
  EXPECT_EQ(pin_reason_name(got.reason), pin_reason_name(c.reason)) << c.sql;
  EXPECT_EQ(got.transaction_scoped_state, c.transaction_scoped) << c.sql;
  EXPECT_EQ(got.message.empty(), !got.pins) << c.sql;
}

INSTANTIATE_TEST_SUITE_P(Triggers, Pinning, ::testing::ValuesIn(trigger_cases()),
                         [](const auto& test) { return std::string(test.param.name); });

INSTANTIATE_TEST_SUITE_P(Harmless, Pinning, ::testing::ValuesIn(harmless_cases()),
                         [](const auto& test) { return std::string(test.param.name); });

TEST(Pinning, SequenceFunctionsCanBeExempted) {
  PinningOptions options;
  options.sequence_functions_pin = false;
  EXPECT_FALSE(classify("SELECT nextval('s')", options).pins);
  EXPECT_TRUE(classify("SELECT nextval('s'), pg_advisory_lock(1)", options).pins);
}

TEST(Pinning, SizeLimitIsAParameter) {
  PinningOptions options;
  options.max_statement_bytes = 10;
  EXPECT_FALSE(classify("SELECT 123", options).pins);  // exactly 10 bytes
  Classification c = classify("SELECT 1234", options);
  EXPECT_TRUE(c.pins);
  EXPECT_EQ(c.reason, PinReason::kStatementTooLarge);
  EXPECT_EQ(c.message, "The statement text is larger than 10 bytes. Digest: \"select $1\".");
}

TEST(Pinning, MessagesReadLikeRdsProxyLogs) {
  EXPECT_EQ(classify("SET search_path TO app, 'x'; SELECT 1").message,
            "SQL changed session settings that the proxy doesn't track. Consider moving session "
            "configuration to the proxy's initialization query. Digest: \"set search_path to "
            "$1,$2\".");
  EXPECT_EQ(classify("SELECT 1").message, "");
  EXPECT_EQ(classify("SELECT 'x").message,
            "The statement could not be tokenized (unterminated quoted string at offset 7).");
  EXPECT_EQ(classify("select 1; LISTEN \"Jobs\"").message,
            "A LISTEN statement was detected. Digest: \"listen \"Jobs\"\".");
}

struct DigestCase {
  std::string sql;
  std::string digest;
};

TEST(Pinning, DigestsHideEveryLiteral) {
  for (const DigestCase& c : {
           DigestCase{"SET app.password = 'hunter2'", "set app.password = $1"},
           DigestCase{"SELECT pg_catalog.set_config('a.b', E'sec\\'ret', false)",
                      "select pg_catalog.set_config($1,$2,false)"},
           DigestCase{"PREPARE q(int) AS SELECT $1::int + 42",
                      "prepare q(int) as select $1::int + $2"},
           DigestCase{"SELECT 1", ""},
           DigestCase{"DO $$ x $$; LOAD $x$lib$x$", "load $1"},
       }) {
    EXPECT_EQ(classify(c.sql).digest, c.digest) << c.sql;
  }
  std::string big = "SET a = '" + std::string(20000, 'x') + "'";
  EXPECT_EQ(classify(big).digest, "set a = $1");
  std::string many = "SELECT pg_advisory_lock(1)" + std::string(300, ',') + "x";
  EXPECT_EQ(classify(many).digest.size(), 203u);
}

TEST(Pinning, FirstPinningStatementGivesTheReason) {
  Classification c = classify("LISTEN a; SET x = 1; SELECT pg_advisory_lock(1)");
  EXPECT_EQ(c.reason, PinReason::kListen);
  ASSERT_EQ(c.statements.size(), 3u);
  EXPECT_EQ(c.statements[1].reason, PinReason::kSet);
  EXPECT_EQ(c.statements[2].reason, PinReason::kAdvisoryLock);
  EXPECT_EQ(c.statements[2].effect, StatementEffect::kPins);
}

struct TxCase {
  const char* name;
  std::string sql;
  std::vector<TransactionControl> controls;
};

class Transactions : public ::testing::TestWithParam<TxCase> {};

TEST_P(Transactions, Recognized) {
  Classification c = classify(GetParam().sql);
  std::vector<std::string> got;
  for (const StatementClassification& s : c.statements) {
    got.emplace_back(transaction_control_name(s.transaction));
  }
  std::vector<std::string> want;
  for (TransactionControl t : GetParam().controls) {
    want.emplace_back(transaction_control_name(t));
  }
  EXPECT_EQ(got, want) << GetParam().sql;
}

using TC = TransactionControl;
INSTANTIATE_TEST_SUITE_P(
    Cases, Transactions,
    ::testing::Values(
        TxCase{"begin", "BEGIN", {TC::kBegin}},
        TxCase{"begin_isolation", "begin isolation level serializable", {TC::kBegin}},
        TxCase{"begin_work", "BEGIN WORK", {TC::kBegin}},
        TxCase{"start_transaction", "START TRANSACTION READ ONLY", {TC::kBegin}},
        TxCase{"commit", "COMMIT", {TC::kCommit}},
        TxCase{"commit_work", "commit work", {TC::kCommit}},
        TxCase{"end", "END TRANSACTION", {TC::kCommit}},
        TxCase{"commit_and_chain", "COMMIT AND CHAIN", {TC::kCommitAndChain}},
        TxCase{"commit_and_no_chain", "COMMIT AND NO CHAIN", {TC::kCommit}},
        TxCase{"rollback", "ROLLBACK", {TC::kRollback}}, TxCase{"abort", "ABORT", {TC::kRollback}},
        TxCase{"rollback_transaction_and_chain",
               "ROLLBACK TRANSACTION AND CHAIN",
               {TC::kRollbackAndChain}},
        TxCase{"rollback_to_savepoint", "ROLLBACK TO SAVEPOINT a", {TC::kSavepoint}},
        TxCase{"rollback_work_to", "ROLLBACK WORK TO a", {TC::kSavepoint}},
        TxCase{"savepoint_release",
               "SAVEPOINT a; RELEASE SAVEPOINT a",
               {TC::kSavepoint, TC::kSavepoint}},
        TxCase{"two_phase",
               "PREPARE TRANSACTION 'g'; COMMIT PREPARED 'g'; ROLLBACK PREPARED 'h'",
               {TC::kPrepareTransaction, TC::kNone, TC::kNone}},
        TxCase{"script", "BEGIN; UPDATE t SET a = 1; COMMIT", {TC::kBegin, TC::kNone, TC::kCommit}},
        TxCase{"begin_in_dollar_body", "DO $$BEGIN NULL; END$$", {TC::kNone}},
        TxCase{"begin_atomic_body_is_one_statement",
               "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE "
               "WHEN true THEN 2 END; END; COMMIT",
               {TC::kNone, TC::kCommit}},
        TxCase{"create_or_replace_procedure_body",
               "create or replace procedure p() begin atomic insert into t values (1); end; "
               "begin",
               {TC::kNone, TC::kBegin}},
        TxCase{"case_end_outside_routine",
               "SELECT CASE WHEN a THEN 1 END FROM t; END",
               {TC::kNone, TC::kCommit}}),
    [](const auto& test) { return std::string(test.param.name); });

TEST(Pinning, StatementTexts) {
  Classification c = classify(
      "  SELECT 1 ;\n\n/* c */ SET a = 'x;y' ; ; CREATE FUNCTION f() BEGIN ATOMIC "
      "SELECT 1; END;SELECT 2");
  std::vector<std::string> texts;
  for (const StatementClassification& s : c.statements)
    texts.emplace_back(s.text);
  EXPECT_EQ(texts, (std::vector<std::string>{"SELECT 1", "SET a = 'x;y'",
                                             "CREATE FUNCTION f() BEGIN ATOMIC SELECT 1; END",
                                             "SELECT 2"}));
}

TEST(Pinning, StatementsBeforeALexingError) {
  Classification c = classify("BEGIN; SELECT 1; SELECT \"x");
  ASSERT_EQ(c.statements.size(), 3u);
  EXPECT_EQ(c.statements[0].transaction, TransactionControl::kBegin);
  EXPECT_EQ(c.statements[2].text, "SELECT");
  EXPECT_EQ(c.reason, PinReason::kUnlexable);
}

// Debug logging's statement digests: no literal, no comment, unterminated text shows nothing.
TEST(QueryDigest, LiteralsBecomeParametersAndCommentsGo) {
  EXPECT_EQ(query_digest("INSERT INTO foo.t (a, b) VALUES ('s3cret', 42) /* pw: x */ -- y"),
            "insert into foo.t(a,b) values($1,$2)");
  EXPECT_EQ(query_digest("INSERT INTO \"foo\".\"t\" (\"a\") VALUES ($1)"),
            "insert into \"foo\".\"t\"(\"a\") values($1)");
  EXPECT_EQ(query_digest("ALTER ROLE w PASSWORD 'hunter2'"), "alter role w password $1");
  EXPECT_EQ(query_digest("SET password_encryption = scram"), "set password_encryption = $1");
  EXPECT_EQ(query_digest("SELECT $$dollar secret$$, E'esc\\'aped'"), "select $1,$2");
  EXPECT_EQ(query_digest("SELECT 'unterminated"), "");
}

}  // namespace
}  // namespace writegate::proxy
