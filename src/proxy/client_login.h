// writegate::proxy::ClientLogin — the login half of a client session as a protocol state
// machine with no sockets in it: the server feeds it events (a client frame, a decode error,
// the TLS handshake done, the token checked, the pool ready or not) and it answers with a step:
// the bytes to write to the client, then what to do next (read, start TLS, forward a cancel,
// verify the token, find the pool, finish, close) and, when the attempt ends, what the log says.
//
//   ClientLogin login({.databases = config.databases});
//   LoginStep step = login.on_client_frame(frame, decoder.buffered_bytes());
//   write(step.to_client);
//   switch (step.action) { case LoginAction::kStartTls: handshake(); login.on_tls_established();
//   ...
//
// What it decides, as RDS Proxy (and PostgreSQL where RDS Proxy says nothing) does:
// - SSLRequest is answered 'S' (plaintext bytes pipelined after it are refused, CVE-2021-23214),
//   GSSENCRequest 'N', a CancelRequest is handed over and the connection closes without a word;
//   anything else before the startup packet is a protocol violation.
// - A startup packet without TLS: FATAL 28000 "This RDS Proxy requires TLS connections.";
//   a replication connection: FATAL 0A000.
// - IAM only: the token is asked for as a cleartext password (inside TLS); anything but a
//   PasswordMessage is a protocol violation; a refused token gives the client only
//   FATAL 28P01 "IAM authentication failed for user ..." (the precise reason is for the log).
// - Only the configured databases: another is FATAL 42501 as PostgreSQL says a missing CONNECT.
// - The pool's answer: AuthenticationOk, its ParameterStatus, the client's cancel key and
//   ReadyForQuery; or the database's own error, or FATAL with the reason's SQLSTATE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "pgwire/frame_decoder.h"
#include "pgwire/messages.h"
#include "proxy/authenticator.h"
#include "proxy/backend_connector.h"

namespace writegate::proxy {

enum class LoginAction : std::uint8_t {
  kRead,         // read more from the client and feed its next frame
  kStartTls,     // TLS handshake as the server, then on_tls_established()
  kCancel,       // forward `cancel`, then close (PostgreSQL answers a cancel with nothing)
  kVerifyToken,  // check token() for user(), then on_token_verified()
  kFindPool,     // borrow (or know) the pool of pool_parameters(), then on_pool_ready/failed()
  kDone,         // logged in: relay from now on
  kClose,        // close the connection
};

struct LoginStep {
  std::string to_client;  // written to the client before the action
  LoginAction action = LoginAction::kRead;
  // When the attempt ends here: "ok", "refused" or "error" for the log; empty: no log line.
  std::string outcome;
  std::string reason;        // for the log, a stable code; never sent to the client
  std::string detail;        // for the log
  bool failed_auth = false;  // counts as ClientConnectionsSetupFailedAuth
  std::optional<pgwire::CancelRequest> cancel;  // kCancel
};

struct ClientLoginSettings {
  std::vector<std::string> databases;  // the only ones served
};

class ClientLogin {
 public:
  enum class State : std::uint8_t {
    kStartup,        // before the startup packet (SSLRequest, GSSENCRequest, cancel)
    kTlsHandshake,   // 'S' sent: the shell runs the handshake
    kAwaitingToken,  // AuthenticationCleartextPassword sent
    kVerifying,      // the token is being checked
    kFindingPool,    // the pool is being found
    kDone,           // logged in
    kClosed,         // refused or failed
  };

  explicit ClientLogin(ClientLoginSettings settings);

  // The next complete frame from the client; `bytes_after`: what the decoder holds beyond it.
  LoginStep on_client_frame(const pgwire::Frame& frame, std::size_t bytes_after);
  // The client's bytes do not decode: a FATAL 08P01, except for a startup packet whose length
  // is out of range (the decoder's kOutOfRange before the startup message), closed without a
  // word as PostgreSQL closes it.
  LoginStep on_decode_error(const Error& error);
  // The client closed or the read failed while the login waited for it (`reason` for the log:
  // client_closed, auth_timeout, ...). A client that leaves before its startup packet (a
  // health check) is not logged; nothing is sent.
  LoginStep on_client_gone(std::string reason);
  void on_tls_established();
  // The token's verdict; `still_admitted`: the connection still holds its admission places (a
  // newer connection may have evicted it while the token was checked).
  LoginStep on_token_verified(const AuthOutcome& outcome, bool still_admitted);
  // The pool is known: its greeting (the ParameterStatus bytes) and the key the client gets.
  LoginStep on_pool_ready(std::string_view greeting, const pgwire::BackendKeyData& client_key);
  LoginStep on_pool_failed(const BackendLoginError& failure);

  State state() const { return state_; }
  bool tls() const { return tls_; }
  const std::string& user() const { return user_; }
  const std::string& database() const { return database_; }
  const std::string& token() const { return token_; }
  // The attempt ended on a refused IAM token (the log says so in words).
  bool token_refused() const { return token_refused_; }
  // The startup parameters other than user and database, sorted by name (the pool's key).
  const std::vector<std::pair<std::string, std::string>>& pool_parameters() const {
    return pool_parameters_;
  }

 private:
  LoginStep refuse(std::string_view sqlstate, const std::string& message, std::string reason,
                   std::string_view detail = {});
  LoginStep close(std::string outcome, std::string reason);
  LoginStep on_token_frame(const pgwire::Frame& frame);
  LoginStep on_startup(const pgwire::Frame& frame);

  ClientLoginSettings settings_;
  State state_ = State::kStartup;
  bool tls_ = false;
  std::string user_;
  std::string database_;
  std::string token_;
  bool token_refused_ = false;
  std::vector<std::pair<std::string, std::string>> pool_parameters_;
};

}  // namespace writegate::proxy
