// The table of classify() cases, shared by proxy_pinning_test (what classify() answers) and
// proxy_pinning_pg_test (that what it calls harmless leaves no session state on a real
// PostgreSQL backend). Each row: a name, the query string, the reason it pins for (kNone: it does
// not), and whether it leaves transaction-scoped state.
#pragma once

#include <string>
#include <vector>

#include "proxy/pinning.h"

namespace writegate::proxy {

struct PinCase {
  const char* name;
  std::string sql;
  PinReason reason;
  bool transaction_scoped = false;
  // Pins to be safe although, run, it may leave no state (an expression classify() does not
  // evaluate): proxy_pinning_pg_test does not expect a visible change from it.
  bool conservative = false;
};

inline constexpr PinReason kNo = PinReason::kNone;

// Statements that pin (and a few transaction-scoped look-alikes next to them).
inline const std::vector<PinCase>& trigger_cases() {
  static const std::vector<PinCase> cases = {
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
      PinCase{"set_in_cte_function",
              "WITH s AS (SELECT set_config('a.b', 'c', false)) SELECT * FROM s",
              PinReason::kSetConfig},
      PinCase{"set_after_routine_with_parameter_named_begin",
              "CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql AS 'select 1'; SET a = 1",
              PinReason::kSet},
      PinCase{"set_after_begin_atomic_body",
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
      PinCase{"set_config_expression", "SELECT set_config('a.b', 'c', 1 = 0)",
              PinReason::kSetConfig},
      PinCase{"set_config_true_expression_pins_to_be_safe", "SELECT set_config('a.b', 'c', 1 = 1)",
              PinReason::kSetConfig, false, true},
      PinCase{"unreferenced_cte_pins_to_be_safe",
              "WITH s AS (SELECT set_config('a.b', 'c', false)) SELECT 1", PinReason::kSetConfig,
              false, true},
      PinCase{"set_config_quoted_name", "SELECT \"set_config\"('a.b', 'c', false)",
              PinReason::kSetConfig},
      PinCase{"set_config_nested_args",
              "SELECT set_config('a.b', concat('x', 'y'), coalesce(null, false))",
              PinReason::kSetConfig},
      PinCase{"set_config_upper_case", "SELECT SET_CONFIG('a.b', 'c', FALSE)",
              PinReason::kSetConfig},
      PinCase{"set_config_in_from", "SELECT * FROM pg_catalog.\"set_config\"('a.b', 'c', 'no')",
              PinReason::kSetConfig},
      PinCase{"set_config_unicode_escaped_name", R"(SELECT U&"\0073et_config"('a.b', 'c', false))",
              PinReason::kSetConfig},
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
      PinCase{"local_temp_table", "CREATE LOCAL TEMP TABLE t (a int)", PinReason::kTemporaryObject},
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
      PinCase{"pg_temp_n_view", "CREATE VIEW pg_temp_3.v AS SELECT 1", PinReason::kTemporaryObject},
      PinCase{"select_into_temp", "SELECT * INTO TEMP t FROM x", PinReason::kTemporaryObject},
      PinCase{"with_select_into_temporary_table",
              "WITH a AS (SELECT 1) SELECT * INTO TEMPORARY TABLE t FROM a",
              PinReason::kTemporaryObject},
      PinCase{"select_into_pg_temp", "SELECT 1 INTO pg_temp.t", PinReason::kTemporaryObject},
      PinCase{"temp_table_on_commit_drop", "CREATE TEMP TABLE t (a int) ON COMMIT DROP", kNo, true},
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
      PinCase{"pin_before_lex_error_keeps_its_reason", "SET a = 1; SELECT 'x", PinReason::kSet}};
  return cases;
}

// Statements that do not pin, many of them merely containing a trigger's words.
inline const std::vector<PinCase>& harmless_cases() {
  static const std::vector<PinCase> cases = {
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
      PinCase{"empty", "", kNo},
      PinCase{"only_semicolons_and_comments", " ; ;; -- x", kNo},
      PinCase{"sequence_functions_not_called", "SELECT 'nextval(1)', \"nextval\"", kNo}};
  return cases;
}

}  // namespace writegate::proxy
