#include "proxy/client_login.h"

#include <algorithm>

#include "pgwire/encode.h"
#include "pgwire/errors.h"
#include "pgwire/parse.h"

namespace writegate::proxy {

namespace {

constexpr std::string_view kTlsRequired = "This RDS Proxy requires TLS connections.";

std::string error_bytes(std::string_view sqlstate, const std::string& message,
                        std::string_view detail = {}) {
  auto bytes = pgwire::error_response_bytes(pgwire::Severity::kFatal, sqlstate, message, detail);
  return bytes ? std::move(*bytes) : std::string();
}

}  // namespace

ClientLogin::ClientLogin(ClientLoginSettings settings) : settings_(std::move(settings)) {}

LoginStep ClientLogin::refuse(std::string_view sqlstate, const std::string& message,
                              std::string reason, std::string_view detail) {
  LoginStep step = close("refused", std::move(reason));
  step.to_client = error_bytes(sqlstate, message, detail);
  return step;
}

LoginStep ClientLogin::close(std::string outcome, std::string reason) {
  state_ = State::kClosed;
  LoginStep step;
  step.action = LoginAction::kClose;
  step.outcome = std::move(outcome);
  step.reason = std::move(reason);
  return step;
}

LoginStep ClientLogin::on_client_frame(const pgwire::Frame& frame, std::size_t bytes_after) {
  switch (state_) {
    case State::kStartup:
      break;
    case State::kAwaitingToken:
      return on_token_frame(frame);
    default:
      // The shell feeds frames only when a step asked it to read.
      return refuse(pgwire::sqlstate::kProtocolViolation, "unexpected message during login",
                    "protocol_violation");
  }
  switch (frame.kind) {
    case pgwire::FrameKind::kSslRequest: {
      LoginStep step;
      step.to_client = pgwire::encryption_response(true);
      if (bytes_after != 0) {
        // Bytes sent in plaintext before the handshake must not pass as encrypted
        // (CVE-2021-23214); said as PostgreSQL says it, in plaintext, after the 'S'.
        LoginStep refused =
            refuse(pgwire::sqlstate::kProtocolViolation,
                   "received unencrypted data after SSL request", "plaintext_after_sslrequest");
        refused.to_client = step.to_client + refused.to_client;
        return refused;
      }
      state_ = State::kTlsHandshake;
      step.action = LoginAction::kStartTls;
      return step;
    }
    case pgwire::FrameKind::kGssEncRequest: {
      LoginStep step;
      step.to_client = pgwire::encryption_response(false);
      return step;
    }
    case pgwire::FrameKind::kCancelRequest: {
      LoginStep step = close("", "cancel_request");
      if (auto cancel = pgwire::parse_cancel_request(frame.body)) {
        step.action = LoginAction::kCancel;
        step.cancel = *cancel;
      }
      return step;
    }
    case pgwire::FrameKind::kStartupMessage:
      return on_startup(frame);
    default:
      return refuse(pgwire::sqlstate::kProtocolViolation, "unexpected message before startup",
                    "protocol_violation");
  }
}

LoginStep ClientLogin::on_startup(const pgwire::Frame& frame) {
  auto startup = pgwire::parse_startup_message(frame.body);
  if (!startup) {
    return refuse(pgwire::sqlstate::kProtocolViolation, startup.error().message(), "bad_startup");
  }
  user_ = std::string(startup->user());
  database_ = std::string(startup->database());
  for (const auto& [name, value] : startup->parameters) {
    if (name != "user" && name != "database") pool_parameters_.emplace_back(name, value);
  }
  std::sort(pool_parameters_.begin(), pool_parameters_.end());
  if (!tls_) {
    LoginStep step = refuse(pgwire::sqlstate::kInvalidAuthorizationSpecification,
                            std::string(kTlsRequired), "tls_required");
    step.failed_auth = true;
    return step;
  }
  if (startup->parameter("replication")) {
    return refuse(pgwire::sqlstate::kFeatureNotSupported,
                  "replication connections are not supported by this proxy", "replication_refused");
  }
  // IAM only: the token is asked for as a cleartext password, inside TLS.
  LoginStep step;
  step.to_client = *pgwire::encode(pgwire::Authentication::cleartext_password());
  state_ = State::kAwaitingToken;
  return step;
}

LoginStep ClientLogin::on_token_frame(const pgwire::Frame& frame) {
  if (frame.kind != pgwire::FrameKind::kMessage || frame.type != 'p') {
    return refuse(pgwire::sqlstate::kProtocolViolation, "expected a password message",
                  "protocol_violation");
  }
  auto password = pgwire::parse_password_message(frame.body);
  // An unreadable PasswordMessage is an empty token: refused by the check, said the same way.
  token_ = password ? password->password : std::string();
  state_ = State::kVerifying;
  LoginStep step;
  step.action = LoginAction::kVerifyToken;
  return step;
}

LoginStep ClientLogin::on_decode_error(const Error& error) {
  if (state_ == State::kStartup && error.code() == ErrorCode::kOutOfRange) {
    // A startup packet whose length is out of range (node-postgres sends Terminate, 'X' 0 0 0
    // 4, when it hangs up before TLS): PostgreSQL closes without a word and only logs "invalid
    // length of startup packet". An answer here would be read as the answer to the client's
    // SSLRequest.
    LoginStep step = close("refused", "invalid_startup_length");
    step.detail = error.message();
    return step;
  }
  return refuse(pgwire::sqlstate::kProtocolViolation,
                "invalid message from client: " + error.message(), "protocol_violation");
}

LoginStep ClientLogin::on_client_gone(std::string reason) {
  // Gone before saying anything that makes it a login (a health check, a port scan): no line.
  const bool silent = state_ == State::kStartup && reason == "client_closed";
  return close(silent ? "" : "refused", std::move(reason));
}

void ClientLogin::on_tls_established() {
  tls_ = true;
  state_ = State::kStartup;
}

LoginStep ClientLogin::on_token_verified(const AuthOutcome& outcome, bool still_admitted) {
  token_.clear();  // not kept longer than needed
  LoginStep step;
  if (!outcome.ok) {
    token_refused_ = true;
    // Generic to the client; the precise reason is in the proxy's log.
    step = refuse(pgwire::sqlstate::kInvalidPassword,
                  "IAM authentication failed for user \"" + user_ + "\"", outcome.reason);
    step.failed_auth = true;
  } else if (!still_admitted) {
    // Evicted (its places given to a newer connection) a moment before its token checked out.
    step = close("refused", "evicted_unauthenticated");
  } else if (std::find(settings_.databases.begin(), settings_.databases.end(), database_) ==
             settings_.databases.end()) {
    // Only the databases the config names (the spec's one by default): PUBLIC's CONNECT and
    // TEMPORARY on `postgres` or `template1` must not become a way around "no DDL". Said as
    // PostgreSQL says a missing CONNECT privilege.
    std::string names;
    for (const auto& name : settings_.databases)
      names += (names.empty() ? "" : ", ") + name;
    step = refuse(pgwire::sqlstate::kInsufficientPrivilege,
                  "permission denied for database \"" + database_ + "\"", "database_not_allowed",
                  "This proxy serves only the database(s): " + names + ".");
  } else {
    state_ = State::kFindingPool;
    step.action = LoginAction::kFindPool;
  }
  step.detail = outcome.detail;
  return step;
}

LoginStep ClientLogin::on_pool_ready(std::string_view greeting,
                                     const pgwire::BackendKeyData& client_key) {
  state_ = State::kDone;
  LoginStep step;
  step.action = LoginAction::kDone;
  step.outcome = "ok";
  step.reason = "ok";
  step.to_client = *pgwire::encode(pgwire::Authentication::ok());
  step.to_client += greeting;
  (void)pgwire::encode_to(client_key, step.to_client);
  (void)pgwire::encode_to(pgwire::ReadyForQuery{pgwire::TransactionStatus::kIdle}, step.to_client);
  return step;
}

LoginStep ClientLogin::on_pool_failed(const BackendLoginError& failure) {
  LoginStep step = close("error", failure.reason);
  step.detail = failure.detail;
  // The database's own words when it refused (no such database, ...); else ours.
  step.to_client = !failure.forward.empty() ? failure.forward
                                            : error_bytes(failure.sqlstate, failure.client_message);
  return step;
}

}  // namespace writegate::proxy
