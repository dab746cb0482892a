// writegate::proxy::classify — does a query string pin its client to its backend, and why.
//
// A transaction pooler may hand a backend to another client once it is idle, unless the client
// left session state on it. RDS Proxy's rules for PostgreSQL ("Avoiding pinning an RDS Proxy")
// pin a session on: SET and set_config (session level), RESET, SQL PREPARE / EXECUTE /
// DEALLOCATE, DISCARD, temporary tables / sequences / views, cursors, LISTEN, LOAD of a library,
// sequence functions (nextval, setval, ...), session-level advisory locks, and any statement
// over 16 KB. Transaction-level advisory locks do not pin; calls of stored functions and
// procedures are not looked into (state they change is not detected — by RDS Proxy neither).
//
// classify() lexes the string with SqlLexer (so a SET inside a string, a comment, a dollar-
// quoted body or a quoted identifier is not a SET), splits it into statements at top-level ';'
// (keeping CREATE FUNCTION ... BEGIN ATOMIC ... END whole, as psql does) and looks at each
// statement's leading keywords and its function calls (schema-qualified, quoted or U&"..."
// names included; not a column DEFAULT being defined, nor the body of a view, function,
// procedure, trigger or rule being created, which runs nothing now). tests/proxy runs the case
// table on a real PostgreSQL: what is called harmless there leaves no session state behind.
// The lexer assumes standard_conforming_strings on (PostgreSQL's default since 9.1); a pooler
// should pin, or refuse, a backend that reports it off. Decisions where RDS Proxy's list is
// loose:
//  - SET LOCAL, SET TRANSACTION, SET CONSTRAINTS, set_config(..., true) and a plain (not WITH
//    HOLD) cursor last only until the transaction ends: transaction-scoped, not pinning. A
//    pooler keeps the backend until ReadyForQuery says idle, by which time they are gone.
//    SET SESSION CHARACTERISTICS AS TRANSACTION sets the session's default: it pins.
//  - CREATE TEMP TABLE ... ON COMMIT DROP is transaction-scoped too.
//  - set_config whose is_local argument is not a literal true (a parameter, an expression)
//    pins: when in doubt, pin. So does a call in a CTE that the query never reads.
//  - PREPARE TRANSACTION, COMMIT PREPARED and ROLLBACK PREPARED are two-phase commit, not
//    prepared statements: transaction control, not pinning.
//  - Text the lexer cannot finish (an unterminated quote or comment) pins, reason kUnlexable.
//    PostgreSQL rejects such a string whole, so nothing ran, but the pooler and the server
//    lexing differently (say, standard_conforming_strings off on the server) is exactly when
//    to be careful.
//
//   Classification c = classify("BEGIN; SET LOCAL work_mem = '64MB'; SELECT 1; COMMIT");
//   c.pins              -> false
//   c.transaction_scoped_state -> true
//   c.statements[0].transaction -> TransactionControl::kBegin
//   classify("SET search_path = app").reason -> PinReason::kSet
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace writegate::proxy {

enum class PinReason : std::uint8_t {
  kNone,
  kSet,                // SET (not LOCAL), SET SESSION CHARACTERISTICS, SET ROLE, ...
  kReset,              // RESET name / RESET ALL
  kSetConfig,          // set_config(name, value, false)
  kPrepare,            // PREPARE name AS ...
  kExecute,            // EXECUTE name
  kDeallocate,         // DEALLOCATE [PREPARE] name | ALL
  kDiscard,            // DISCARD ALL | PLANS | SEQUENCES | TEMP
  kTemporaryObject,    // CREATE TEMP TABLE/SEQUENCE/VIEW, pg_temp.x, SELECT INTO TEMP
  kCursorWithHold,     // DECLARE ... CURSOR WITH HOLD
  kListen,             // LISTEN channel
  kAdvisoryLock,       // pg_advisory_lock and friends, session level
  kLoad,               // LOAD 'library'
  kSequenceFunction,   // nextval, setval, currval, lastval
  kStatementTooLarge,  // the text is over PinningOptions::max_statement_bytes
  kUnlexable,          // unterminated quote, comment or dollar quote
};

// A stable lower-case name for logs and metrics ("set", "advisory_lock", ...).
std::string_view pin_reason_name(PinReason reason);

enum class TransactionControl : std::uint8_t {
  kNone,
  kBegin,               // BEGIN, START TRANSACTION
  kCommit,              // COMMIT, END
  kRollback,            // ROLLBACK, ABORT
  kCommitAndChain,      // COMMIT AND CHAIN: a new transaction starts at once
  kRollbackAndChain,    // ROLLBACK AND CHAIN
  kSavepoint,           // SAVEPOINT, RELEASE [SAVEPOINT], ROLLBACK TO [SAVEPOINT]
  kPrepareTransaction,  // PREPARE TRANSACTION 'gid': ends the transaction (two-phase commit)
};

std::string_view transaction_control_name(TransactionControl control);

// What one statement does to the session.
enum class StatementEffect : std::uint8_t {
  kHarmless,           // no state outlives the transaction
  kTransactionScoped,  // state until the transaction ends (SET LOCAL, xact locks, cursors)
  kPins,               // state for the rest of the session
};

struct StatementClassification {
  std::string_view text;  // the statement, without its ';', trimmed of surrounding space
  StatementEffect effect = StatementEffect::kHarmless;
  PinReason reason = PinReason::kNone;
  TransactionControl transaction = TransactionControl::kNone;
};

struct Classification {
  bool pins = false;
  PinReason reason = PinReason::kNone;  // of the first statement that pins
  // What RDS Proxy would log after "The client session was pinned to the database connection
  // [...] for the remainder of the session. The proxy can't reuse this connection until the
  // session ends. Reason: ", e.g. "SQL changed session settings that the proxy doesn't track.
  // Consider moving session configuration to the proxy's initialization query. Digest: \"set
  // search_path to $1\"." (RDS Proxy's words for SET; writegate's own, in the same form, for
  // the other reasons). Empty when nothing pins.
  std::string message;
  // The pinning statement with every literal replaced by $1, $2, ... (so a value, a password
  // included, never reaches a log), unquoted names in lower case, at most ~200 characters.
  // Empty when nothing pins or the text could not be tokenized.
  std::string digest;
  // Some statement leaves state until its transaction ends (SET LOCAL, ...).
  bool transaction_scoped_state = false;
  // Statements in order; empty statements (";;") are left out. After a lexing error, the
  // statements before the bad token.
  std::vector<StatementClassification> statements;
};

struct PinningOptions {
  // RDS Proxy pins on any statement whose text is over 16 KB.
  std::size_t max_statement_bytes = std::size_t{16} * 1024;
  // RDS Proxy lists nextval/setval among the pinning conditions; a pooler that resets
  // sequences itself may turn this off.
  bool sequence_functions_pin = true;
};

Classification classify(std::string_view sql, const PinningOptions& options = {});

// A whole query string as a digest (debug logging): every literal as $n, comments dropped,
// unquoted names in lower case, at most ~200 characters, e.g.
//   query_digest("INSERT INTO foo.t (a) VALUES ('secret') /* x */") ->
//   "insert into foo.t(a) values($1)"
// Empty when the text cannot be tokenized (an unterminated quote): nothing of it is shown then.
std::string query_digest(std::string_view sql);

}  // namespace writegate::proxy
