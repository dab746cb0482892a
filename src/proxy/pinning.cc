#include "proxy/pinning.h"

#include <algorithm>
#include <array>
#include <span>
#include <string>

#include "proxy/sql_lexer.h"

namespace writegate::proxy {
namespace {

using Tokens = std::span<const SqlToken>;

bool keyword_at(Tokens t, std::size_t i, std::string_view word) {
  return i < t.size() && t[i].is_keyword(word);
}

// pg_temp, or the pg_temp_NN schema the session's temporary schema really is.
bool is_temp_schema(const SqlToken& token) {
  if (token.kind != SqlTokenKind::kIdentifier && token.kind != SqlTokenKind::kQuotedIdentifier) {
    return false;
  }
  std::string name = token.identifier_name();
  return name == "pg_temp" || name.starts_with("pg_temp_");
}

// A name written as pg_temp.something at t[i].
bool temp_qualified_name_at(Tokens t, std::size_t i) {
  return i + 1 < t.size() && is_temp_schema(t[i]) && t[i + 1].is_punctuation('.');
}

// A literal that PostgreSQL's boolin reads as true: true, 't', 'yes', 'on', '1', ... (any case,
// unique prefixes of true/yes).
bool is_literal_true(Tokens arg) {
  if (arg.size() != 1) return false;
  if (arg[0].is_keyword("true")) return true;
  if (arg[0].kind != SqlTokenKind::kString) return false;
  std::string v = arg[0].string_value();
  std::string s;
  for (char c : v) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      s.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  if (s.empty()) return false;
  return std::string_view("true").starts_with(s) || std::string_view("yes").starts_with(s) ||
         s == "on" || s == "1";
}

// The is_local argument of a set_config( call whose '(' is at t[open]: positional third, or
// named (is_local => x). Empty when it cannot be told.
Tokens set_config_is_local(Tokens t, std::size_t open) {
  std::vector<Tokens> args;
  std::size_t depth = 0;
  std::size_t arg_start = open + 1;
  for (std::size_t i = open; i < t.size(); ++i) {
    const SqlToken& tok = t[i];
    if (tok.is_punctuation('(') || tok.is_punctuation('[')) {
      ++depth;
    } else if (tok.is_punctuation(')') || tok.is_punctuation(']')) {
      if (--depth == 0) {
        args.push_back(t.subspan(arg_start, i - arg_start));
        break;
      }
    } else if (depth == 1 && tok.is_punctuation(',')) {
      args.push_back(t.subspan(arg_start, i - arg_start));
      arg_start = i + 1;
    }
  }
  std::size_t positional = 0;
  for (Tokens arg : args) {
    bool named = arg.size() >= 2 && arg[0].kind != SqlTokenKind::kString &&
                 arg[1].kind == SqlTokenKind::kOperator && arg[1].text == "=>";
    if (named) {
      if (arg[0].identifier_name() == "is_local") return arg.subspan(2);
    } else if (positional++ == 2) {
      return arg;
    }
  }
  return {};
}

enum class Call : std::uint8_t { kNone, kSetConfig, kSessionLock, kXactLock, kSequence };

Call call_kind(const std::string& name) {
  static constexpr std::array<std::string_view, 4> kSessionLocks = {
      "pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock",
      "pg_try_advisory_lock_shared"};
  static constexpr std::array<std::string_view, 4> kXactLocks = {
      "pg_advisory_xact_lock", "pg_advisory_xact_lock_shared", "pg_try_advisory_xact_lock",
      "pg_try_advisory_xact_lock_shared"};
  static constexpr std::array<std::string_view, 4> kSequences = {"nextval", "setval", "currval",
                                                                 "lastval"};
  if (name == "set_config") return Call::kSetConfig;
  auto in = [&](const auto& list) {
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  if (in(kSessionLocks)) return Call::kSessionLock;
  if (in(kXactLocks)) return Call::kXactLock;
  if (in(kSequences)) return Call::kSequence;
  return Call::kNone;
}

class StatementClassifier {
 public:
  StatementClassifier(Tokens tokens, const PinningOptions& options)
      : t_(tokens), options_(options) {}

  StatementClassification run() {
    leading_keywords();
    if (scan_calls_) function_calls();
    return result_;
  }

 private:
  void pin(PinReason reason) {
    if (result_.effect != StatementEffect::kPins) {
      result_.effect = StatementEffect::kPins;
      result_.reason = reason;
    }
  }
  void transaction_scoped() {
    if (result_.effect == StatementEffect::kHarmless) {
      result_.effect = StatementEffect::kTransactionScoped;
    }
  }
  bool kw(std::size_t i, std::string_view word) const { return keyword_at(t_, i, word); }

  void leading_keywords() {
    if (kw(0, "set")) {
      // SET LOCAL, SET TRANSACTION (this transaction's modes, SNAPSHOT) and SET CONSTRAINTS end
      // with the transaction. SET SESSION ..., SET SESSION CHARACTERISTICS AS TRANSACTION (the
      // session's default), SET ROLE, SET TIME ZONE, ... stay.
      if (kw(1, "local") || kw(1, "transaction") || kw(1, "constraints")) {
        transaction_scoped();
      } else {
        pin(PinReason::kSet);
      }
    } else if (kw(0, "reset")) {
      pin(PinReason::kReset);
    } else if (kw(0, "prepare")) {
      if (kw(1, "transaction")) {
        result_.transaction = TransactionControl::kPrepareTransaction;
      } else {
        pin(PinReason::kPrepare);
      }
    } else if (kw(0, "execute")) {
      pin(PinReason::kExecute);
    } else if (kw(0, "deallocate")) {
      pin(PinReason::kDeallocate);
    } else if (kw(0, "discard")) {
      pin(PinReason::kDiscard);
    } else if (kw(0, "listen")) {
      pin(PinReason::kListen);
    } else if (kw(0, "load")) {
      pin(PinReason::kLoad);
    } else if (kw(0, "declare")) {
      declare_cursor();
    } else if (kw(0, "create")) {
      create();
    } else if (kw(0, "select") || kw(0, "with")) {
      select_into();
    } else if (kw(0, "begin") || (kw(0, "start") && kw(1, "transaction"))) {
      result_.transaction = TransactionControl::kBegin;
    } else if (kw(0, "commit") || kw(0, "end")) {
      // COMMIT PREPARED 'gid' finishes another, prepared transaction: not this one.
      if (!kw(1, "prepared")) {
        result_.transaction =
            and_chain() ? TransactionControl::kCommitAndChain : TransactionControl::kCommit;
      }
    } else if (kw(0, "rollback") || kw(0, "abort")) {
      std::size_t i = (kw(1, "work") || kw(1, "transaction")) ? 2 : 1;
      if (kw(1, "prepared")) {
        // ROLLBACK PREPARED 'gid': another transaction.
      } else if (kw(i, "to")) {
        result_.transaction = TransactionControl::kSavepoint;  // ROLLBACK TO [SAVEPOINT] x
      } else {
        result_.transaction =
            and_chain() ? TransactionControl::kRollbackAndChain : TransactionControl::kRollback;
      }
    } else if (kw(0, "savepoint") || kw(0, "release")) {
      result_.transaction = TransactionControl::kSavepoint;
    }
  }

  // COMMIT/ROLLBACK [WORK | TRANSACTION] [AND [NO] CHAIN]
  bool and_chain() const {
    std::size_t i = (kw(1, "work") || kw(1, "transaction")) ? 2 : 1;
    return kw(i, "and") && kw(i + 1, "chain");
  }

  // DECLARE name [BINARY] [ASENSITIVE | INSENSITIVE] [[NO] SCROLL] CURSOR [{WITH | WITHOUT} HOLD]
  // FOR query. Without HOLD a cursor is closed when its transaction ends (and PostgreSQL only
  // allows it inside a transaction block).
  void declare_cursor() {
    for (std::size_t i = 2; i + 1 < t_.size(); ++i) {
      if (t_[i].is_keyword("for")) break;
      if (t_[i].is_keyword("with") && t_[i + 1].is_keyword("hold")) {
        pin(PinReason::kCursorWithHold);
        return;
      }
    }
    transaction_scoped();
  }

  // CREATE [OR REPLACE] [GLOBAL | LOCAL] [TEMP | TEMPORARY | UNLOGGED] [RECURSIVE] kind
  // [IF NOT EXISTS] name ...
  void create() {
    std::size_t i = 1;
    if (kw(i, "or") && kw(i + 1, "replace")) i += 2;
    bool temporary = false;
    bool materialized = false;
    for (;; ++i) {
      if (kw(i, "temp") || kw(i, "temporary")) {
        temporary = true;
      } else if (kw(i, "materialized")) {
        materialized = true;
      } else if (!(kw(i, "global") || kw(i, "local") || kw(i, "unlogged") || kw(i, "recursive") ||
                   kw(i, "trusted") || kw(i, "procedural") || kw(i, "constraint"))) {
        break;
      }
    }
    const bool table = kw(i, "table");
    const bool view = kw(i, "view");
    const bool routine = kw(i, "function") || kw(i, "procedure");
    // A definition runs nothing: calls in a view's query, a routine's BEGIN ATOMIC body or a
    // trigger's condition are not made now. CREATE TABLE AS and materialized views do run.
    if ((view && !materialized) || routine || kw(i, "trigger") || kw(i, "rule")) {
      scan_calls_ = false;
    }
    if (temporary && (table || view || kw(i, "sequence"))) {
      if (table && on_commit_drop()) {
        transaction_scoped();
      } else {
        pin(PinReason::kTemporaryObject);
      }
      return;
    }
    ++i;
    if (kw(i, "if") && kw(i + 1, "not") && kw(i + 2, "exists")) i += 3;
    if (temp_qualified_name_at(t_, i)) {
      if (table && on_commit_drop()) {
        transaction_scoped();
      } else {
        pin(PinReason::kTemporaryObject);
      }
    }
  }

  bool on_commit_drop() const {
    for (std::size_t i = 0; i + 2 < t_.size(); ++i) {
      if (t_[i].is_keyword("on") && t_[i + 1].is_keyword("commit") &&
          t_[i + 2].is_keyword("drop")) {
        return true;
      }
    }
    return false;
  }

  // SELECT ... INTO [TEMP | TEMPORARY | UNLOGGED] [TABLE] name: creates a table. INSERT INTO and
  // MERGE INTO (after a WITH) fill an existing one.
  void select_into() {
    std::size_t depth = 0;
    for (std::size_t i = 0; i < t_.size(); ++i) {
      const SqlToken& tok = t_[i];
      if (tok.is_punctuation('(') || tok.is_punctuation('[')) {
        ++depth;
      } else if ((tok.is_punctuation(')') || tok.is_punctuation(']')) && depth > 0) {
        --depth;
      } else if (depth == 0 && tok.is_keyword("into") && i > 0 && !t_[i - 1].is_keyword("insert") &&
                 !t_[i - 1].is_keyword("merge")) {
        std::size_t j = i + 1;
        bool temporary = false;
        for (;; ++j) {
          if (kw(j, "temp") || kw(j, "temporary")) {
            temporary = true;
          } else if (!(kw(j, "global") || kw(j, "local") || kw(j, "unlogged"))) {
            break;
          }
        }
        if (kw(j, "table")) ++j;
        if (temporary || temp_qualified_name_at(t_, j)) pin(PinReason::kTemporaryObject);
        return;
      }
    }
  }

  // name( ... ) anywhere in the statement, schema-qualified or not, unless it is a column
  // default being defined (DEFAULT nextval('s')), which is not a call now.
  void function_calls() {
    for (std::size_t i = 0; i + 1 < t_.size(); ++i) {
      const SqlToken& tok = t_[i];
      if (tok.kind != SqlTokenKind::kIdentifier && tok.kind != SqlTokenKind::kQuotedIdentifier) {
        continue;
      }
      if (!t_[i + 1].is_punctuation('(')) continue;
      if (i > 0 && t_[i - 1].is_keyword("default")) continue;
      if (i > 2 && t_[i - 1].is_punctuation('.') && t_[i - 3].is_keyword("default")) continue;
      switch (call_kind(tok.identifier_name())) {
        case Call::kNone:
          break;
        case Call::kSetConfig:
          if (is_literal_true(set_config_is_local(t_, i + 1))) {
            transaction_scoped();
          } else {
            pin(PinReason::kSetConfig);
          }
          break;
        case Call::kSessionLock:
          pin(PinReason::kAdvisoryLock);
          break;
        case Call::kXactLock:
          transaction_scoped();
          break;
        case Call::kSequence:
          if (options_.sequence_functions_pin) pin(PinReason::kSequenceFunction);
          break;
      }
    }
  }

  Tokens t_;
  const PinningOptions& options_;
  StatementClassification result_;
  bool scan_calls_ = true;
};

// The statement as RDS Proxy's logs show it: literals replaced by $1, $2, ... (so no value, a
// password included, reaches a log), unquoted names in lower case, single spaces, capped.
std::string digest(Tokens t) {
  constexpr std::size_t kMaxDigest = 200;
  std::string out;
  // Literals are numbered after the statement's own parameters ($1 in PREPARE ... AS).
  int literal = 0;
  for (const SqlToken& tok : t) {
    if (tok.kind == SqlTokenKind::kParameter && tok.text.size() < 6) {
      literal = std::max(literal, std::stoi(std::string(tok.text.substr(1))));
    }
  }
  // In SET name = value / SET name TO value, the value is data even when it is written as a
  // name (SET search_path = tenant_42, SET role = someone): it becomes $n too.
  std::size_t value_from = t.size();
  if (!t.empty() && t[0].is_keyword("set")) {
    for (std::size_t i = 2; i < t.size(); ++i) {
      if ((t[i].kind == SqlTokenKind::kOperator && t[i].text == "=") || t[i].is_keyword("to")) {
        value_from = i + 1;
        break;
      }
    }
  }
  bool glue = true;  // no space before the next token
  bool after_name = false;
  std::size_t index = 0;
  for (const SqlToken& tok : t) {
    const bool value = index++ >= value_from && (tok.kind == SqlTokenKind::kIdentifier ||
                                                 tok.kind == SqlTokenKind::kQuotedIdentifier);
    const bool closing = tok.is_punctuation(',') || tok.is_punctuation(')') ||
                         tok.is_punctuation(']') || tok.is_punctuation('.') ||
                         (tok.kind == SqlTokenKind::kPunctuation && tok.text == "::") ||
                         (after_name && tok.is_punctuation('('));
    if (!glue && !closing) out += ' ';
    after_name =
        tok.kind == SqlTokenKind::kIdentifier || tok.kind == SqlTokenKind::kQuotedIdentifier;
    if (value) {
      out += "$" + std::to_string(++literal);
    } else {
      switch (tok.kind) {
        case SqlTokenKind::kString:
        case SqlTokenKind::kDollarString:
        case SqlTokenKind::kNumber:
          out += "$" + std::to_string(++literal);
          break;
        case SqlTokenKind::kIdentifier:
          out += tok.identifier_name();
          break;
        default:
          out += tok.text;
          break;
      }
    }
    glue = tok.is_punctuation('(') || tok.is_punctuation('[') || tok.is_punctuation(',') ||
           tok.is_punctuation('.') || (tok.kind == SqlTokenKind::kPunctuation && tok.text == "::");
    if (out.size() > kMaxDigest) {
      out.resize(kMaxDigest);
      out += "...";
      break;
    }
  }
  return out;
}

std::string pin_message(PinReason reason, const PinningOptions& options, std::string_view lex) {
  // RDS Proxy's own words for a changed session setting.
  constexpr std::string_view kSessionSettings =
      "SQL changed session settings that the proxy doesn't track. Consider moving session "
      "configuration to the proxy's initialization query.";
  switch (reason) {
    case PinReason::kNone:
      return "";
    case PinReason::kSet:
    case PinReason::kReset:
    case PinReason::kSetConfig:
      return std::string(kSessionSettings);
    case PinReason::kPrepare:
      return "A PREPARE statement was detected.";
    case PinReason::kExecute:
      return "An EXECUTE statement was detected.";
    case PinReason::kDeallocate:
      return "A DEALLOCATE statement was detected.";
    case PinReason::kDiscard:
      return "A DISCARD statement was detected.";
    case PinReason::kTemporaryObject:
      return "A temporary table, sequence or view was created.";
    case PinReason::kCursorWithHold:
      return "A cursor declared WITH HOLD was detected.";
    case PinReason::kListen:
      return "A LISTEN statement was detected.";
    case PinReason::kAdvisoryLock:
      return "A session-level advisory lock function was called.";
    case PinReason::kLoad:
      return "A LOAD statement was detected.";
    case PinReason::kSequenceFunction:
      return "A sequence function (nextval, setval, currval or lastval) was called.";
    case PinReason::kStatementTooLarge:
      return "The statement text is larger than " + std::to_string(options.max_statement_bytes) +
             " bytes.";
    case PinReason::kUnlexable:
      return "The statement could not be tokenized (" + std::string(lex) + ").";
  }
  return "";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\t' ||
                        s.front() == '\r' || s.front() == '\f' || s.front() == '\v')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t' ||
                        s.back() == '\r' || s.back() == '\f' || s.back() == '\v')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::string_view pin_reason_name(PinReason reason) {
  switch (reason) {
    case PinReason::kNone:
      return "none";
    case PinReason::kSet:
      return "set";
    case PinReason::kReset:
      return "reset";
    case PinReason::kSetConfig:
      return "set_config";
    case PinReason::kPrepare:
      return "prepare";
    case PinReason::kExecute:
      return "execute";
    case PinReason::kDeallocate:
      return "deallocate";
    case PinReason::kDiscard:
      return "discard";
    case PinReason::kTemporaryObject:
      return "temporary_object";
    case PinReason::kCursorWithHold:
      return "cursor_with_hold";
    case PinReason::kListen:
      return "listen";
    case PinReason::kAdvisoryLock:
      return "advisory_lock";
    case PinReason::kLoad:
      return "load";
    case PinReason::kSequenceFunction:
      return "sequence_function";
    case PinReason::kStatementTooLarge:
      return "statement_too_large";
    case PinReason::kUnlexable:
      return "unlexable";
  }
  return "unknown";
}

std::string_view transaction_control_name(TransactionControl control) {
  switch (control) {
    case TransactionControl::kNone:
      return "none";
    case TransactionControl::kBegin:
      return "begin";
    case TransactionControl::kCommit:
      return "commit";
    case TransactionControl::kRollback:
      return "rollback";
    case TransactionControl::kCommitAndChain:
      return "commit_and_chain";
    case TransactionControl::kRollbackAndChain:
      return "rollback_and_chain";
    case TransactionControl::kSavepoint:
      return "savepoint";
    case TransactionControl::kPrepareTransaction:
      return "prepare_transaction";
  }
  return "unknown";
}

Classification classify(std::string_view sql, const PinningOptions& options) {
  Classification out;
  std::vector<SqlToken> tokens;
  SqlLexer lexer(sql);
  SqlToken token;
  while (lexer.next(token))
    tokens.push_back(token);

  // Split at top-level ';'. Inside CREATE [OR REPLACE] FUNCTION/PROCEDURE, a SQL-standard body
  // (BEGIN ATOMIC ... END) holds ';'s of its own: count its CASEs against ENDs, as psql does,
  // so the body stays whole and its "END" is not taken for a COMMIT.
  Tokens pinning_statement;
  auto emit = [&](std::size_t begin, std::size_t end) {
    if (begin == end) return;
    Tokens span(tokens.data() + begin, end - begin);
    StatementClassification s = StatementClassifier(span, options).run();
    const SqlToken& last = tokens[end - 1];
    s.text = trim(
        sql.substr(tokens[begin].offset, last.offset + last.text.size() - tokens[begin].offset));
    if (s.effect == StatementEffect::kPins && !out.pins) {
      out.pins = true;
      out.reason = s.reason;
      pinning_statement = span;
    }
    if (s.effect == StatementEffect::kTransactionScoped) out.transaction_scoped_state = true;
    out.statements.push_back(s);
  };
  std::size_t begin = 0;
  std::size_t routine_depth = 0;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const SqlToken& tok = tokens[i];
    if (tok.kind == SqlTokenKind::kSemicolon) {
      if (routine_depth == 0) {
        emit(begin, i);
        begin = i + 1;
      }
      continue;
    }
    if (tok.kind != SqlTokenKind::kIdentifier) continue;
    Tokens stmt(tokens.data() + begin, i + 1 - begin);
    std::size_t k = keyword_at(stmt, 1, "or") && keyword_at(stmt, 2, "replace") ? 3 : 1;
    bool routine = keyword_at(stmt, 0, "create") &&
                   (keyword_at(stmt, k, "function") || keyword_at(stmt, k, "procedure"));
    if (!routine) continue;
    // The body opens with BEGIN ATOMIC (only: "begin" alone may be a parameter's name) and
    // closes with the END that matches it, past any CASE ... END inside.
    const bool body_opens =
        tok.is_keyword("begin") && i + 1 < tokens.size() && tokens[i + 1].is_keyword("atomic");
    if (body_opens || (routine_depth > 0 && tok.is_keyword("case"))) {
      ++routine_depth;
    } else if (routine_depth > 0 && tok.is_keyword("end")) {
      --routine_depth;
    }
  }
  emit(begin, tokens.size());

  if (lexer.error() != SqlLexError::kNone) {
    if (!out.pins) {
      out.pins = true;
      out.reason = PinReason::kUnlexable;
    }
  } else if (!out.pins && sql.size() > options.max_statement_bytes) {
    out.pins = true;
    out.reason = PinReason::kStatementTooLarge;
    pinning_statement = tokens;
  }
  if (out.pins) {
    std::string lex = std::string(sql_lex_error_message(lexer.error())) + " at offset " +
                      std::to_string(lexer.error_offset());
    out.message = pin_message(out.reason, options, lex);
    if (!pinning_statement.empty()) {
      out.digest = digest(pinning_statement);
      out.message += " Digest: \"" + out.digest + "\".";
    }
  }
  return out;
}

std::string query_digest(std::string_view sql) {
  std::vector<SqlToken> tokens;
  SqlLexer lexer(sql);
  SqlToken token;
  while (lexer.next(token))
    tokens.push_back(token);
  if (lexer.error() != SqlLexError::kNone) return {};
  return digest(tokens);
}

}  // namespace writegate::proxy
