// writegate::proxy::PooledSession — the protocol decisions of one client session under
// transaction pooling, with no sockets in it: the server feeds it the client's frames and the
// attached backend's frames, and it says what goes to the backend, what reaches the client,
// when the backend may go back to the pool, and when (and why) the session pins.
//
//   PooledSession session(baseline_parameters, {});
//   std::string to_backend;
//   session.on_client_frame(frame, backend.statements, to_backend);   // then write to_backend
//   ...
//   if (session.on_backend_frame(frame, backend.statements) == BackendVerdict::kForward)
//     to_client += frame.wire;
//   if (session.state() == PooledSession::State::kReleasable) pool.give_back(backend);
//
// A backend goes back to the pool when every Query / Sync / FunctionCall sent has had its
// ReadyForQuery, the last one said idle ('I'), no extended-protocol message waits for a Sync,
// the parameters the backend reports (ParameterStatus) are the ones the session started with,
// and nothing pinned the session. Pinning follows RDS Proxy's rules (proxy/pinning.h) on every
// Query and Parse; a FunctionCall, a ParameterStatus that differs from the baseline at the end
// of a transaction, or standard_conforming_strings off (the lexer would misread quotes) pin
// too: when in doubt, pin.
//
// Named prepared statements (protocol level) follow the client: a client's Parse "s1" is sent
// as the pool's name for that exact text and parameter types ("wg_" + 32 hex digits of
// SHA-256), preceded by a Close of that name, so that it never collides with what another
// client left on the backend; a Bind or Describe of "s1" on a backend that lacks the statement
// is preceded by a Close + Parse the session injects itself. Responses to injected messages
// (CloseComplete, ParseComplete) are swallowed, matched in order; after an error the backend
// skips to the Sync, and so does the ledger. Each backend keeps at most StatementCache::limit
// statements (least recently used closed first). Unnamed statements and portals pass as they
// are: they live inside one Sync, which one backend serves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pgwire/frame_decoder.h"
#include "proxy/pinning.h"

namespace writegate::proxy {

// The prepared statements the pool made on one backend, least recently used first out.
class StatementCache {
 public:
  explicit StatementCache(std::size_t limit = 100) : limit_(limit == 0 ? 1 : limit) {}
  bool contains(const std::string& name) const { return index_.contains(name); }
  void touch(const std::string& name);
  // Adds `name` as most recently used; returns the names that fell out (to be closed).
  std::vector<std::string> add(const std::string& name);
  void remove(const std::string& name);
  std::size_t size() const { return index_.size(); }
  std::size_t limit() const { return limit_; }

 private:
  std::size_t limit_;
  std::list<std::string> order_;  // front: most recently used
  std::unordered_map<std::string, std::list<std::string>::iterator> index_;
};

// The pool's name of a prepared statement: the same text and parameter types, the same name.
std::string pooled_statement_name(std::string_view query, const std::vector<std::uint32_t>& oids);

enum class BackendVerdict : std::uint8_t {
  kForward,  // pass the frame to the client
  kDrop,     // an answer to a message the session injected, or cleanup output
};

struct PinEvent {
  std::string reason;   // pin_reason_name() or: function_call, parameter_changed, ...
  std::string message;  // what the log says, in RDS Proxy's words where it has them
  std::string digest;   // the statement with literals as $n (never a value)
};

struct PooledSessionOptions {
  PinningOptions pinning;
  // RDS Proxy's session pinning filter EXCLUDE_VARIABLE_SETS: SET, RESET and set_config do
  // not pin (the session's settings may then leak to other clients, as on RDS Proxy).
  bool exclude_variable_sets = false;
};

class PooledSession {
 public:
  enum class State : std::uint8_t {
    kIdle,    // no backend attached, or attached and free to go back to the pool
    kBusy,    // the backend owes answers, a transaction is open, or a Sync is missing
    kPinned,  // the backend is this client's until it leaves
  };

  using Parameters = std::vector<std::pair<std::string, std::string>>;

  // `baseline`: the ParameterStatus values a fresh backend of this pool reports (shared by the
  // pool's sessions: a login copies nothing).
  PooledSession(std::shared_ptr<const Parameters> baseline, PooledSessionOptions options);
  PooledSession(Parameters baseline, PooledSessionOptions options)
      : PooledSession(std::make_shared<const Parameters>(std::move(baseline)), options) {}

  // Appends to `to_backend` what the attached backend must get for this client frame (the
  // frame itself, or rewritten, with injected Close / Parse messages before it). Terminate
  // ('X') is never passed: the caller ends the session instead.
  void on_client_frame(const pgwire::Frame& frame, StatementCache& statements,
                       std::string& to_backend);
  // What to do with a frame from the attached backend.
  BackendVerdict on_backend_frame(const pgwire::Frame& frame, StatementCache& statements);

  // A backend was attached: the ledger starts empty and the backend reports the baseline.
  void on_attach();
  // The client left while a backend is attached: what to send so that the backend can go back
  // (a Sync if one is missing, then ROLLBACK); empty when the backend still owes answers (call
  // again after its next ReadyForQuery) or when it must be closed instead (pinned).
  std::string cleanup_messages();

  State state() const;
  bool releasable() const { return state() == State::kIdle; }
  bool pinned() const { return pin_.has_value(); }
  const std::optional<PinEvent>& pin() const { return pin_; }
  // The pin that happened since the last call (for the log), once.
  std::optional<PinEvent> take_new_pin();
  char transaction_status() const { return status_; }
  std::size_t answers_owed() const { return owed_; }
  // Messages of the client's own since its last Sync: the backend may not go yet.
  bool awaiting_sync() const { return awaiting_sync_; }

 private:
  enum class Sent : std::uint8_t { kParse, kClose, kSyncPoint };
  struct LedgerEntry {
    Sent kind;
    bool forward;           // false: injected by the session, its answer is swallowed
    std::string statement;  // kParse: the pool's statement name
    bool answered = false;
  };
  struct ClientStatement {
    std::string pooled_name;
    std::string query;
    std::vector<std::uint32_t> oids;
  };

  void pin_on(const Classification& c);
  void pin_with(std::string reason, std::string message);
  void prepare(const ClientStatement& statement, bool forward, StatementCache& statements,
               std::string& to_backend);
  void close_pooled(const std::string& name, bool forward, std::string& to_backend);
  void sync_point(std::string_view wire, std::string& to_backend);
  void end_of_sync_point(StatementCache& statements);

  std::shared_ptr<const Parameters> baseline_;
  // What the backend reported since the baseline: filled only once a ParameterStatus arrives
  // (reported_changed_), so a session that changes nothing costs no map.
  std::map<std::string, std::string> reported_;
  PooledSessionOptions options_;
  std::map<std::string, ClientStatement> client_statements_;
  std::deque<LedgerEntry> ledger_;
  std::size_t owed_ = 0;        // ReadyForQuery answers owed by the backend
  bool awaiting_sync_ = false;  // extended-protocol messages sent since the last Sync
  char status_ = 'I';
  bool scs_off_ = false;
  bool reported_changed_ = false;  // a ParameterStatus arrived since the baseline was set
  bool cleaning_up_ = false;
  std::optional<PinEvent> pin_;
  bool pin_reported_ = false;
};

}  // namespace writegate::proxy
