#include "proxy/pooled_session.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include "pgwire/parse.h"

namespace writegate::proxy {
namespace {

void append_int32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>((v >> 24) & 0xff));
  out.push_back(static_cast<char>((v >> 16) & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

// type, length, then the body made of `parts`.
void append_message(std::string& out, char type, std::initializer_list<std::string_view> parts) {
  std::size_t length = 4;
  for (auto part : parts)
    length += part.size();
  out.push_back(type);
  append_int32(out, static_cast<std::uint32_t>(length));
  for (auto part : parts)
    out.append(part);
}

constexpr std::string_view kNul("\0", 1);

// A NUL-terminated string at `offset` of a frame body the decoder validated.
std::string_view c_string_at(std::string_view body, std::size_t offset) {
  if (offset >= body.size()) return {};
  const auto end = body.find('\0', offset);
  if (end == std::string_view::npos) return body.substr(offset);
  return body.substr(offset, end - offset);
}

std::string parse_body(std::string_view name, std::string_view query,
                       const std::vector<std::uint32_t>& oids) {
  std::string body;
  body.append(name).append(kNul).append(query).append(kNul);
  body.push_back(static_cast<char>((oids.size() >> 8) & 0xff));
  body.push_back(static_cast<char>(oids.size() & 0xff));
  for (auto oid : oids)
    append_int32(body, oid);
  return body;
}

bool is_variable_set(PinReason reason) {
  return reason == PinReason::kSet || reason == PinReason::kReset ||
         reason == PinReason::kSetConfig;
}

}  // namespace

// ---- StatementCache ----

void StatementCache::touch(const std::string& name) {
  const auto it = index_.find(name);
  if (it == index_.end()) return;
  order_.splice(order_.begin(), order_, it->second);
}

std::vector<std::string> StatementCache::add(const std::string& name) {
  if (contains(name)) {
    touch(name);
    return {};
  }
  order_.push_front(name);
  index_.emplace(name, order_.begin());
  std::vector<std::string> evicted;
  while (index_.size() > limit_) {
    evicted.push_back(order_.back());
    index_.erase(order_.back());
    order_.pop_back();
  }
  return evicted;
}

void StatementCache::remove(const std::string& name) {
  const auto it = index_.find(name);
  if (it == index_.end()) return;
  order_.erase(it->second);
  index_.erase(it);
}

std::string pooled_statement_name(std::string_view query, const std::vector<std::uint32_t>& oids) {
  std::string input(query);
  input.push_back('\0');
  for (auto oid : oids)
    append_int32(input, oid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name = "wg_";
  for (unsigned int i = 0; i < 16 && i < length; ++i) {
    name.push_back(kHex[digest[i] >> 4]);
    name.push_back(kHex[digest[i] & 0xf]);
  }
  return name;
}

// ---- PooledSession ----

PooledSession::PooledSession(std::shared_ptr<const Parameters> baseline,
                             PooledSessionOptions options)
    : baseline_(std::move(baseline)), options_(options) {
  for (const auto& [name, value] : *baseline_) {
    if (name == "standard_conforming_strings" && value != "on") scs_off_ = true;
  }
}

PooledSession::State PooledSession::state() const {
  if (pin_) return State::kPinned;
  if (owed_ != 0 || awaiting_sync_ || status_ != 'I' || !ledger_.empty()) return State::kBusy;
  return State::kIdle;
}

void PooledSession::on_attach() {
  ledger_.clear();
  owed_ = 0;
  awaiting_sync_ = false;
  status_ = 'I';
  cleaning_up_ = false;
  // A backend comes back only reporting the baseline (the common case costs nothing).
  if (reported_changed_) {
    reported_.clear();
    reported_changed_ = false;
  }
}

std::optional<PinEvent> PooledSession::take_new_pin() {
  if (!pin_ || pin_reported_) return std::nullopt;
  pin_reported_ = true;
  return pin_;
}

void PooledSession::pin_with(std::string reason, std::string message) {
  if (pin_) return;
  pin_ = PinEvent{.reason = std::move(reason), .message = std::move(message), .digest = {}};
}

void PooledSession::pin_on(const Classification& c) {
  if (pin_ || !c.pins) return;
  if (!options_.exclude_variable_sets || !is_variable_set(c.reason)) {
    pin_ = PinEvent{
        .reason = std::string(pin_reason_name(c.reason)), .message = c.message, .digest = c.digest};
    return;
  }
  // EXCLUDE_VARIABLE_SETS: only a pin for another reason counts.
  for (const auto& statement : c.statements) {
    if (statement.effect == StatementEffect::kPins && !is_variable_set(statement.reason)) {
      pin_with(std::string(pin_reason_name(statement.reason)),
               "The client session was pinned to the database connection for the remainder of "
               "the session. Reason: " +
                   std::string(pin_reason_name(statement.reason)) + ".");
      return;
    }
  }
}

void PooledSession::sync_point(std::string_view wire, std::string& to_backend) {
  to_backend.append(wire);
  ledger_.push_back(LedgerEntry{.kind = Sent::kSyncPoint, .forward = true, .statement = {}});
  ++owed_;
  awaiting_sync_ = false;
}

void PooledSession::close_pooled(const std::string& name, bool forward, std::string& to_backend) {
  append_message(to_backend, 'C', {"S", name, kNul});
  ledger_.push_back(LedgerEntry{.kind = Sent::kClose, .forward = forward, .statement = name});
}

// Close first: the name may exist on the backend though the cache lost track of it (a Close
// skipped after an error); closing a statement that does not exist is not an error. `forward`:
// the client's own Parse (its ParseComplete goes to the client); else one the session injects.
void PooledSession::prepare(const ClientStatement& statement, bool forward,
                            StatementCache& statements, std::string& to_backend) {
  for (const auto& evicted : statements.add(statement.pooled_name))
    close_pooled(evicted, false, to_backend);
  close_pooled(statement.pooled_name, false, to_backend);
  append_message(to_backend, 'P',
                 {parse_body(statement.pooled_name, statement.query, statement.oids)});
  ledger_.push_back(
      LedgerEntry{.kind = Sent::kParse, .forward = forward, .statement = statement.pooled_name});
}

void PooledSession::on_client_frame(const pgwire::Frame& frame, StatementCache& statements,
                                    std::string& to_backend) {
  if (frame.kind != pgwire::FrameKind::kMessage) return;
  switch (frame.type) {
    case 'Q': {
      if (scs_off_) {
        pin_with("standard_conforming_strings_off",
                 "standard_conforming_strings is off: the proxy cannot read the session's SQL.");
      }
      if (!pin_) {
        auto query = pgwire::parse_query(frame.body);
        if (query) pin_on(classify(query->sql, options_.pinning));
      }
      sync_point(frame.wire, to_backend);
      return;
    }
    case 'F':
      pin_with("function_call",
               "A FunctionCall message may change session state the proxy does not track.");
      sync_point(frame.wire, to_backend);
      return;
    case 'S':
      sync_point(frame.wire, to_backend);
      return;
    case 'P': {
      awaiting_sync_ = true;
      auto parse = pgwire::parse_parse(frame.body);
      if (!parse) {  // the decoder validated it; pass it on and let the server answer
        to_backend.append(frame.wire);
        return;
      }
      if (scs_off_) {
        pin_with("standard_conforming_strings_off",
                 "standard_conforming_strings is off: the proxy cannot read the session's SQL.");
      }
      if (!pin_) pin_on(classify(parse->query, options_.pinning));
      if (parse->statement.empty()) {
        to_backend.append(frame.wire);
        ledger_.push_back(LedgerEntry{.kind = Sent::kParse, .forward = true, .statement = {}});
        return;
      }
      ClientStatement statement{
          .pooled_name = pooled_statement_name(parse->query, parse->param_type_oids),
          .query = std::move(parse->query),
          .oids = std::move(parse->param_type_oids)};
      prepare(statement, true, statements, to_backend);
      client_statements_[parse->statement] = std::move(statement);
      return;
    }
    case 'B': {
      awaiting_sync_ = true;
      const std::string_view portal = c_string_at(frame.body, 0);
      const std::string_view name = c_string_at(frame.body, portal.size() + 1);
      const auto it =
          name.empty() ? client_statements_.end() : client_statements_.find(std::string(name));
      if (it == client_statements_.end()) {
        to_backend.append(frame.wire);  // unnamed, or unknown: the server says so
        return;
      }
      if (!statements.contains(it->second.pooled_name)) {
        prepare(it->second, false, statements, to_backend);
      } else {
        statements.touch(it->second.pooled_name);
      }
      const std::size_t rest = portal.size() + 1 + name.size() + 1;
      append_message(to_backend, 'B',
                     {portal, kNul, it->second.pooled_name, kNul, frame.body.substr(rest)});
      return;
    }
    case 'D':
    case 'C': {
      awaiting_sync_ = true;
      const char kind = frame.body.empty() ? 'S' : frame.body[0];
      const std::string_view name = c_string_at(frame.body, 1);
      const auto it = (kind != 'S' || name.empty()) ? client_statements_.end()
                                                    : client_statements_.find(std::string(name));
      if (it == client_statements_.end()) {
        to_backend.append(frame.wire);
        if (frame.type == 'C') {
          ledger_.push_back(LedgerEntry{.kind = Sent::kClose, .forward = true, .statement = {}});
        }
        return;
      }
      if (frame.type == 'C') {
        // The client's name goes; the pool's statement is closed on this backend (other
        // clients that use the same text prepare it again when they need it).
        statements.remove(it->second.pooled_name);
        close_pooled(it->second.pooled_name, true, to_backend);
        client_statements_.erase(it);
        return;
      }
      if (!statements.contains(it->second.pooled_name)) {
        prepare(it->second, false, statements, to_backend);
      } else {
        statements.touch(it->second.pooled_name);
      }
      append_message(to_backend, 'D', {"S", it->second.pooled_name, kNul});
      return;
    }
    case 'X':
      return;  // the caller ends the session
    default:
      // Execute, Flush, CopyData, CopyDone, CopyFail: as they are. Execute and Flush wait for
      // a Sync; copy messages belong to a Query already counted.
      if (frame.type == 'E' || frame.type == 'H') awaiting_sync_ = true;
      to_backend.append(frame.wire);
      return;
  }
}

void PooledSession::end_of_sync_point(StatementCache& statements) {
  // Everything up to the first sync point is answered or was skipped after an error. A
  // statement whose Parse got no ParseComplete is not on the backend.
  while (!ledger_.empty()) {
    LedgerEntry entry = std::move(ledger_.front());
    ledger_.pop_front();
    if (entry.kind == Sent::kSyncPoint) break;
    if (entry.kind == Sent::kParse && !entry.answered && !entry.statement.empty()) {
      statements.remove(entry.statement);
    }
  }
}

BackendVerdict PooledSession::on_backend_frame(const pgwire::Frame& frame,
                                               StatementCache& statements) {
  const BackendVerdict pass = cleaning_up_ ? BackendVerdict::kDrop : BackendVerdict::kForward;
  if (frame.kind != pgwire::FrameKind::kMessage) return pass;
  switch (frame.type) {
    case '1':
    case '3': {
      const Sent kind = frame.type == '1' ? Sent::kParse : Sent::kClose;
      for (auto& entry : ledger_) {
        if (entry.kind == Sent::kSyncPoint) break;
        if (entry.kind != kind || entry.answered) continue;
        entry.answered = true;
        // Answered entries at the front are done with.
        const bool forward = entry.forward;
        while (!ledger_.empty() && ledger_.front().kind != Sent::kSyncPoint &&
               ledger_.front().answered) {
          ledger_.pop_front();
        }
        return forward ? pass : BackendVerdict::kDrop;
      }
      return pass;  // not ours to track (the server sent what it sent)
    }
    case 'Z': {
      if (!frame.body.empty()) status_ = frame.body[0];
      if (owed_ > 0) --owed_;
      end_of_sync_point(statements);
      if (owed_ == 0 && status_ == 'I' && !pin_ && reported_changed_) {
        // A transaction ended: the backend must report what it reported at the start.
        for (const auto& [name, value] : *baseline_) {
          const auto it = reported_.find(name);
          if (it == reported_.end() || it->second != value) {
            pin_with("parameter_changed", "The session changed the reported parameter " + name +
                                              ", which the proxy doesn't track.");
            break;
          }
        }
      }
      return pass;
    }
    case 'S': {
      auto parameter = pgwire::parse_parameter_status(frame.body);
      if (parameter) {
        if (parameter->name == "standard_conforming_strings" && parameter->value != "on") {
          scs_off_ = true;
        }
        if (!reported_changed_) {
          for (const auto& [name, value] : *baseline_)
            reported_[name] = value;
          reported_changed_ = true;
        }
        reported_[parameter->name] = parameter->value;
      }
      return pass;
    }
    default:
      return pass;
  }
}

std::string PooledSession::cleanup_messages() {
  cleaning_up_ = true;
  if (pin_ || owed_ != 0) return {};
  std::string out;
  if (awaiting_sync_) sync_point(std::string_view("S\0\0\0\4", 5), out);
  if (status_ != 'I' || !out.empty()) {
    static constexpr std::string_view kRollback("Q\0\0\0\015ROLLBACK\0", 14);
    sync_point(kRollback, out);
  }
  return out;
}

}  // namespace writegate::proxy
