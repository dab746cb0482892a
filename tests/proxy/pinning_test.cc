// classify() against RDS Proxy's pinning conditions for PostgreSQL, one row per case: the query
// string, the reason it pins for (kNone: it does not) and whether it leaves transaction-scoped
// state. Then transaction control, statement splitting and the RDS-style log text.
#include "proxy/pinning.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace writegate::proxy {
namespace {

struct PinCase {
  const char* name;
  std::string sql;
  PinReason reason;
  bool transaction_scoped = false;
};

class Pinning : public ::testing::TestWithParam<PinCase> {};

TEST_P(Pinning, Classifies) {
  const PinCase& c = GetParam();
  Classification got = classify(c.sql);
  EXPECT_EQ(got.pins, c.reason != PinReason::kNone) << c.sql;
  EXPECT_EQ(pin_reason_name(got.reason), pin_reason_name(c.reason)) << c.sql;
  EXPECT_EQ(got.transaction_scoped_state, c.transaction_scoped) << c.sql;
  EXPECT_EQ(got.message.empty(), !got.pins) << c.sql;
}

constexpr PinReason kNo = PinReason::kNone;

INSTANTIATE_TEST_SUITE_P(
    Triggers, Pinning,
    ::testing::Values(
        // SET and RESET
        PinCase{"set", "SET search_path = app", PinReason::kSet},
        PinCase{"set_lower_case_to", "set work_mem to '64MB';", PinReason::kSet},
        PinCase{"set_session", "SET SESSION statement_timeout = 5000", PinReason::kSet},
        PinCase{"set_time_zone", "SET TIME ZONE 'UTC'", PinReason::kSet},
        PinCase{"set_role", "SET ROLE app_reader", PinReason::kSet},
        PinCase{"set_session_authorization", "SET SESSION AUTHORIZATION alice", PinReason::kSet},
        PinCase{"set_session_characteristics",
                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                PinReason::kSet},
        PinCase{"set_after_comment", "/* app */ -- x\n  SET x.y = 1", PinReason::kSet},
        PinCase{"set_second_statement", "SELECT 1; SET search_path = a", PinReason::kSet},
        PinCase{"set_after_string_with_semicolon", "SELECT ';'; SET a = 1", PinReason::kSet},
        PinCase{"set_after_backslash_string", R"(SELECT 'a\'; SET x = 1; --')", PinReason::kSet},
        PinCase{"set_comment_before_local", "SET /* LOCAL */ work_mem = 1", PinReason::kSet},
        PinCase{"set_in_cte_function", "WITH s AS (SELECT set_config('a.b', 'c', false)) SELECT 1",
                PinReason::kSetConfig},
        PinCase{"set_after_routine_with_parameter_named_begin",
                "CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql AS 'select 1'; SET a = 1",
                PinReason::kSet},
        PinCase{
            "set_after_begin_atomic_body",
            "CREATE PROCEDURE p() BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; END; SET a = 1",
            PinReason::kSet},
        PinCase{"reset", "RESET search_path", PinReason::kReset},
        PinCase{"reset_all", "RESET ALL", PinReason::kReset},
        // set_config
        PinCase{"set_config_false", "SELECT set_config('search_path', 'app', false)",
                PinReason::kSetConfig},
        PinCase{"set_config_qualified", "SELECT pg_catalog.set_config('search_path', '', false);",
                PinReason::kSetConfig},
        PinCase{"set_config_string_false", "SELECT set_config('a.b', 'c', 'f')",
                PinReason::kSetConfig},
        PinCase{"set_config_parameter", "SELECT set_config($1, $2, $3)", PinReason::kSetConfig},
        PinCase{"set_config_expression", "SELECT set_config('a.b', 'c', 1 = 1)",
                PinReason::kSetConfig},
        PinCase{"set_config_quoted_name", "SELECT \"set_config\"('a.b', 'c', false)",
                PinReason::kSetConfig},
        PinCase{"set_config_nested_args",
                "SELECT set_config('a.b', concat('x', 'y'), coalesce(null, true))",
                PinReason::kSetConfig},
        PinCase{"set_config_upper_case", "SELECT SET_CONFIG('a.b', 'c', FALSE)",
                PinReason::kSetConfig},
        PinCase{"set_config_in_from", "SELECT * FROM pg_catalog.\"set_config\"('a.b', 'c', 'no')",
                PinReason::kSetConfig},
        PinCase{"set_config_unicode_escaped_name",
                R"(SELECT U&"\0073et_config"('a.b', 'c', false))", PinReason::kSetConfig},
        PinCase{"set_config_true", "SELECT set_config('a.b', 'c', true)", kNo, true},
        PinCase{"set_config_string_true", "SELECT set_config('a.b', 'c', 'on')", kNo, true},
        PinCase{"set_config_named_true",
                "SELECT set_config(setting_name => 'a.b', new_value => 'x', is_local => TRUE)", kNo,
                true},
        PinCase{"set_config_named_first",
                "SELECT set_config(is_local => false, setting_name => 'a.b', new_value => 'x')",
                PinReason::kSetConfig},
        // Prepared statements
        PinCase{"prepare", "PREPARE q(int) AS SELECT $1", PinReason::kPrepare},
        PinCase{"execute", "EXECUTE q(1)", PinReason::kExecute},
        PinCase{"deallocate", "DEALLOCATE q", PinReason::kDeallocate},
        PinCase{"deallocate_prepare_all", "DEALLOCATE PREPARE ALL", PinReason::kDeallocate},
        PinCase{"discard_all", "DISCARD ALL", PinReason::kDiscard},
        PinCase{"discard_temp", "discard temp", PinReason::kDiscard},
        // Temporary objects
        PinCase{"temp_table", "CREATE TEMP TABLE t (id int)", PinReason::kTemporaryObject},
        PinCase{"temporary_table", "CREATE TEMPORARY TABLE IF NOT EXISTS t AS SELECT 1",
                PinReason::kTemporaryObject},
        PinCase{"global_temporary_table", "CREATE GLOBAL TEMPORARY TABLE t (a int)",
                PinReason::kTemporaryObject},
        PinCase{"local_temp_table", "CREATE LOCAL TEMP TABLE t (a int)",
                PinReason::kTemporaryObject},
        PinCase{"temp_sequence", "CREATE TEMP SEQUENCE s", PinReason::kTemporaryObject},
        PinCase{"temp_table_comment_between", "CREATE /* x */ TEMP /* y */ TABLE t (a int)",
                PinReason::kTemporaryObject},
        PinCase{"temp_view", "CREATE OR REPLACE TEMP VIEW v AS SELECT 1",
                PinReason::kTemporaryObject},
        PinCase{"temp_recursive_view", "CREATE TEMP RECURSIVE VIEW v(n) AS SELECT 1",
                PinReason::kTemporaryObject},
        PinCase{"pg_temp_table", "CREATE TABLE pg_temp.t (a int)", PinReason::kTemporaryObject},
        PinCase{"pg_temp_quoted_if_not_exists", "CREATE TABLE IF NOT EXISTS \"pg_temp\".t (a int)",
                PinReason::kTemporaryObject},
        PinCase{"pg_temp_function",
                "CREATE FUNCTION pg_temp.f() RETURNS int AS 'select 1' "
                "LANGUAGE sql",
                PinReason::kTemporaryObject},
        PinCase{"pg_temp_n_view", "CREATE VIEW pg_temp_3.v AS SELECT 1",
                PinReason::kTemporaryObject},
        PinCase{"select_into_temp", "SELECT * INTO TEMP t FROM x", PinReason::kTemporaryObject},
        PinCase{"with_select_into_temporary_table",
                "WITH a AS (SELECT 1) SELECT * INTO TEMPORARY TABLE t FROM a",
                PinReason::kTemporaryObject},
        PinCase{"select_into_pg_temp", "SELECT 1 INTO pg_temp.t", PinReason::kTemporaryObject},
        PinCase{"temp_table_on_commit_drop", "CREATE TEMP TABLE t (a int) ON COMMIT DROP", kNo,
                true},
        // Cursors
        PinCase{"cursor_with_hold", "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
                PinReason::kCursorWithHold},
        PinCase{"cursor_options_with_hold",
                "DECLARE c BINARY INSENSITIVE NO SCROLL CURSOR WITH HOLD FOR SELECT 1",
                PinReason::kCursorWithHold},
        PinCase{"cursor_plain", "BEGIN; DECLARE c CURSOR FOR SELECT 1; FETCH c; COMMIT", kNo, true},
        PinCase{"cursor_without_hold", "DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1", kNo, true},
        PinCase{"cursor_with_hold_in_query_only",
                "DECLARE c CURSOR FOR WITH hold AS (SELECT 1) SELECT * FROM hold", kNo, true},
        // LISTEN, LOAD, locks, sequences
        PinCase{"listen", "LISTEN jobs", PinReason::kListen},
        PinCase{"load", "LOAD 'auto_explain'", PinReason::kLoad},
        PinCase{"advisory_lock", "SELECT pg_advisory_lock(42)", PinReason::kAdvisoryLock},
        PinCase{"advisory_lock_shared", "select pg_advisory_lock_shared(1, 2)",
                PinReason::kAdvisoryLock},
        PinCase{"try_advisory_lock", "SELECT pg_try_advisory_lock(hashtext('job'))",
                PinReason::kAdvisoryLock},
        PinCase{"try_advisory_lock_shared_in_where",
                "SELECT id FROM jobs WHERE pg_try_advisory_lock_shared(id) LIMIT 1",
                PinReason::kAdvisoryLock},
        PinCase{"advisory_xact_lock", "SELECT pg_advisory_xact_lock(42)", kNo, true},
        PinCase{"try_advisory_xact_lock_shared", "SELECT pg_try_advisory_xact_lock_shared(1)", kNo,
                true},
        PinCase{"nextval", "SELECT nextval('s')", PinReason::kSequenceFunction},
        PinCase{"setval", "SELECT setval('s', 10)", PinReason::kSequenceFunction},
        PinCase{"currval_in_insert", "INSERT INTO t VALUES (currval('s'))",
                PinReason::kSequenceFunction},
        // Size and lexing
        PinCase{"over_16k", "SELECT '" + std::string(16 * 1024, 'x') + "'",
                PinReason::kStatementTooLarge},
        PinCase{"exactly_16k", "SELECT '" + std::string(16 * 1024 - 9, 'x') + "'", kNo},
        PinCase{"unterminated_string", "SELECT 'abc", PinReason::kUnlexable},
        PinCase{"unterminated_comment", "SELECT 1 /* x", PinReason::kUnlexable},
        PinCase{"unterminated_dollar_quote", "DO $$ BEGIN", PinReason::kUnlexable},
        PinCase{"pin_before_lex_error_keeps_its_reason", "SET a = 1; SELECT 'x", PinReason::kSet}),
    [](const auto& test) { return std::string(test.param.name); });

INSTANTIATE_TEST_SUITE_P(
    Harmless, Pinning,
    ::testing::Values(
        PinCase{"update_set", "UPDATE t SET x = 1 WHERE id = 2", kNo},
        PinCase{"insert_set_string", "INSERT INTO t VALUES ('SET x = 1')", kNo},
        PinCase{"insert_escape_string", R"(INSERT INTO t VALUES (E'\'; SET x = 1; --'))", kNo},
        PinCase{"set_in_line_comment", "SELECT 1 -- SET x = 1", kNo},
        PinCase{"set_in_block_comment", "/* SET x = 1; */ SELECT 1", kNo},
        PinCase{"set_in_nested_comment", "/* a /* b */ SET x = 1; */ SELECT 1", kNo},
        PinCase{"set_in_dollar_body", "DO $$ BEGIN SET x = 1; PERFORM pg_advisory_lock(1); END $$",
                kNo},
        PinCase{"set_in_tagged_dollar_body", "SELECT $q$ ; SET x = 1; $q$", kNo},
        PinCase{"identifier_named_set", "SELECT \"set\" FROM \"SET\"", kNo},
        PinCase{"quoted_set_statement_start", "\"set\"", kNo},
        PinCase{"column_named_set_config", "SELECT set_config FROM settings", kNo},
        PinCase{"quoted_upper_case_is_another_function", "SELECT \"SET_CONFIG\"('a', 'b', false)",
                kNo},
        PinCase{"alias_named_set", "SELECT 1 AS set, 2 AS \"listen\"", kNo},
        PinCase{"on_conflict_do_update_set",
                "INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET x = excluded.x", kNo},
        PinCase{"set_local_comment_between", "SET /* c */ LOCAL -- d\n work_mem = 1", kNo, true},
        PinCase{"function_name_in_string", "SELECT 'pg_advisory_lock(1)'", kNo},
        PinCase{"other_function_suffix", "SELECT my_pg_advisory_lock(1), nextval_x(2)", kNo},
        PinCase{"alter_role_set", "ALTER ROLE app SET search_path = app", kNo},
        PinCase{"alter_database_reset", "ALTER DATABASE d RESET ALL", kNo},
        PinCase{"create_function_with_set_clause",
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = app AS $$ SELECT "
                "nextval('s')::int $$",
                kNo},
        PinCase{"column_default_nextval",
                "CREATE TABLE t (id bigint DEFAULT nextval('t_id_seq'), x int)", kNo},
        PinCase{"alter_column_default_nextval",
                "ALTER TABLE t ALTER COLUMN id SET DEFAULT pg_catalog.nextval('s')", kNo},
        PinCase{"view_using_sequence", "CREATE VIEW v AS SELECT nextval('s')", kNo},
        PinCase{"table_from_pg_temp_source", "CREATE TABLE t AS SELECT * FROM pg_temp.x", kNo},
        PinCase{"insert_into_temp_named_table", "INSERT INTO temp VALUES (1)", kNo},
        PinCase{"insert_select_into_pg_temp_table", "INSERT INTO pg_temp.t SELECT 1", kNo},
        PinCase{"select_into_regular_table", "SELECT 1 INTO t", kNo},
        PinCase{"unlisten_notify", "UNLISTEN *; NOTIFY jobs, 'x'", kNo},
        PinCase{"advisory_unlock", "SELECT pg_advisory_unlock(42)", kNo},
        PinCase{"call_procedure", "CALL do_things(1)", kNo},
        PinCase{"set_local", "SET LOCAL statement_timeout = 1000", kNo, true},
        PinCase{"set_transaction", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", kNo, true},
        PinCase{"set_transaction_snapshot", "SET TRANSACTION SNAPSHOT '00000003-1'", kNo, true},
        PinCase{"set_constraints", "SET CONSTRAINTS ALL DEFERRED", kNo, true},
        PinCase{"begin_set_local_commit", "BEGIN; SET LOCAL search_path = app; SELECT 1; COMMIT;",
                kNo, true},
        PinCase{"prepare_transaction", "PREPARE TRANSACTION 'gid-1'", kNo},
        PinCase{"commit_prepared", "COMMIT PREPARED 'gid-1'", kNo},
        PinCase{"select", "SELECT abalance FROM pgbench_accounts WHERE aid = 1;", kNo},
        PinCase{"empty", "", kNo}, PinCase{"only_semicolons_and_comments", " ; ;; -- x", kNo},
        PinCase{"sequence_functions_not_called", "SELECT 'nextval(1)', \"nextval\"", kNo}),
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
            "app,$1\".");
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

}  // namespace
}  // namespace writegate::proxy
