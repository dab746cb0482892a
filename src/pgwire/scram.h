// writegate::pgwire SCRAM-SHA-256 (RFC 5802 / RFC 7677) and MD5 password helpers.
//
// ScramClient is what a proxy needs to log in to PostgreSQL as a user whose password it holds:
// it produces the client-first message (sent in SASLInitialResponse), turns the server-first
// message (AuthenticationSASLContinue) into the client-final message with the proof (sent in
// SASLResponse), and checks the server signature (AuthenticationSASLFinal) so that a server
// which does not know the password cannot pretend to. ScramServer is the other side, checking
// a client against a stored secret in PostgreSQL's "SCRAM-SHA-256$iter:salt$StoredKey:ServerKey"
// format. Pure computation (OpenSSL PBKDF2/HMAC/SHA-256); no sockets.
//
//   WG_ASSIGN_OR_RETURN(pgwire::ScramClient scram, pgwire::ScramClient::create(password));
//   send(pgwire::SaslInitialResponse{std::string(scram.mechanism()),
//                                    scram.client_first_message()});
//   // AuthenticationSASLContinue arrives:
//   WG_ASSIGN_OR_RETURN(std::string client_final, scram.handle_server_first(auth.data));
//   send(pgwire::SaslResponse{client_final});
//   // AuthenticationSASLFinal arrives:
//   WG_RETURN_IF_ERROR(scram.verify_server_final(auth.data));   // then AuthenticationOk
//
// Passwords: PostgreSQL normalizes passwords with SASLprep. For ASCII passwords that is the
// identity, which is all this implementation supports; a non-ASCII password is refused with a
// clear error rather than silently failing the login.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace writegate::pgwire {

inline constexpr std::string_view kScramSha256 = "SCRAM-SHA-256";
inline constexpr std::string_view kScramSha256Plus = "SCRAM-SHA-256-PLUS";
inline constexpr uint32_t kDefaultScramIterations = 4096;  // PostgreSQL's default

enum class ChannelBinding {
  kNone,               // gs2 flag "n": the client does not support channel binding
  kSupportedNotUsed,   // gs2 flag "y": the client supports it but the server did not offer -PLUS
  kTlsServerEndPoint,  // gs2 flag "p=tls-server-end-point": SCRAM-SHA-256-PLUS
};

struct ScramClientOptions {
  // Sent as n=...; PostgreSQL ignores it (libpq sends an empty name), RFC examples use "user".
  std::string username;
  ChannelBinding channel_binding = ChannelBinding::kNone;
  // kTlsServerEndPoint: the hash of the server's TLS certificate (RFC 5929 section 4.1).
  std::string channel_binding_data;
  // Empty: 18 random bytes, base64-encoded. Tests pass a fixed nonce.
  std::string client_nonce;
  // A server asking for more PBKDF2 iterations than this is refused (CPU exhaustion guard).
  uint32_t max_iterations = 100000;
};

class ScramClient {
 public:
  static Result<ScramClient> create(std::string_view password, ScramClientOptions options = {});

  ScramClient(ScramClient&& other) noexcept;
  ScramClient& operator=(ScramClient&& other) noexcept;
  ScramClient(const ScramClient&) = delete;
  ScramClient& operator=(const ScramClient&) = delete;
  ~ScramClient();

  // "SCRAM-SHA-256", or "SCRAM-SHA-256-PLUS" with kTlsServerEndPoint.
  std::string_view mechanism() const;
  // gs2 header + client-first-message-bare, e.g. "n,,n=,r=<nonce>".
  const std::string& client_first_message() const { return client_first_; }
  // Validates server-first (nonce extends ours, salt, iteration count within the cap) and
  // returns client-final-message with the proof. Errors: kInvalidArgument for a malformed
  // message, kOutOfRange for too many iterations, kFailedPrecondition when called twice.
  Result<std::string> handle_server_first(std::string_view server_first);
  // Checks "v=<ServerSignature>". kUnauthenticated when it does not match or the server sent
  // "e=<error>".
  Status verify_server_final(std::string_view server_final);
  // True once verify_server_final succeeded.
  bool authenticated() const { return state_ == State::kDone; }

 private:
  enum class State { kStart, kSentFinal, kDone, kFailed };
  ScramClient() = default;
  void wipe();

  State state_ = State::kStart;
  ScramClientOptions options_;
  std::string password_;  // wiped once the salted password is computed
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string client_first_;
  std::string expected_server_signature_;
};

// A stored SCRAM-SHA-256 secret, as in pg_authid.rolpassword.
struct ScramSecret {
  uint32_t iterations = kDefaultScramIterations;
  std::string salt;        // raw bytes
  std::string stored_key;  // raw 32 bytes
  std::string server_key;  // raw 32 bytes
  bool operator==(const ScramSecret&) const = default;
};

// Derives the secret of a password (same result as PostgreSQL for the same salt/iterations).
Result<ScramSecret> make_scram_secret(std::string_view password, std::string_view salt,
                                      uint32_t iterations = kDefaultScramIterations);
// Parses "SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>".
Result<ScramSecret> parse_scram_secret(std::string_view text);
std::string format_scram_secret(const ScramSecret& secret);

// The server side of one SCRAM-SHA-256 exchange (no channel binding offered).
class ScramServer {
 public:
  // server_nonce empty: 18 random bytes, base64-encoded.
  static Result<ScramServer> create(ScramSecret secret, std::string server_nonce = {});

  // Parses client-first-message (gs2 flag "n" or "y"; no authzid; no -PLUS) and returns
  // server-first-message.
  Result<std::string> handle_client_first(std::string_view client_first);
  // Checks the channel binding, the nonce and the proof; returns server-final-message
  // ("v=..."). kUnauthenticated when the proof is wrong.
  Result<std::string> handle_client_final(std::string_view client_final);
  bool authenticated() const { return state_ == State::kDone; }

 private:
  enum class State { kStart, kSentFirst, kDone, kFailed };
  ScramServer() = default;

  State state_ = State::kStart;
  ScramSecret secret_;
  std::string server_nonce_;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;
};

// The PasswordMessage answer to AuthenticationMD5Password:
// "md5" + hex(md5(hex(md5(password + user)) + salt)). salt must be 4 bytes.
Result<std::string> md5_password_response(std::string_view user, std::string_view password,
                                          std::string_view salt);

// Standard base64 with padding (RFC 4648), as SCRAM uses it.
std::string base64_encode(std::string_view bytes);
// Strict: rejects characters outside the alphabet, missing or misplaced padding.
Result<std::string> base64_decode(std::string_view text);

}  // namespace writegate::pgwire
