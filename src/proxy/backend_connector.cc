// clang-format off
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.
// clang-format on
// GCC 12 warns that Boost 1.74's coroutine frames are freed by a mismatched operator delete: a
// false positive on class-specific new/delete pairs in coroutines (GCC bug 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "proxy/backend_connector.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <optional>

#include "pgwire/encode.h"
#include "pgwire/errors.h"
#include "pgwire/frame_decoder.h"
#include "pgwire/parse.h"
#include "pgwire/scram.h"

namespace writegate::proxy {
namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using boost::system::error_code;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::string_view kCannotReach = "the proxy cannot reach the database";
constexpr std::string_view kCannotReachSecurely = "the proxy cannot reach the database securely";
constexpr std::string_view kCannotLogIn = "the proxy cannot log in to the database";

Status verify_peer_name(SSL* ssl_handle, const std::string& name) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  const bool is_ip = X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1;
  if (!is_ip && (X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0) != 1 ||
                 SSL_set_tlsext_host_name(ssl_handle, name.c_str()) != 1)) {
    return Error::invalid_argument("cannot verify the database's name " + name);
  }
  return {};
}

// The libpq require_auth name of what the server asks for.
std::string_view method_name(pgwire::AuthType type) {
  switch (type) {
    case pgwire::AuthType::kSasl:
      return "scram-sha-256";
    case pgwire::AuthType::kMd5Password:
      return "md5";
    case pgwire::AuthType::kCleartextPassword:
      return "password";
    default:
      return "unsupported";
  }
}

}  // namespace

BackendConnector::BackendConnector(asio::any_io_executor executor, ssl::context& tls,
                                   const BackendConfig& config)
    : executor_(executor),
      tls_context_(tls),
      config_(config),
      deadline_(executor),
      resolver_(executor),
      raw_(executor) {}

BackendConnector::~BackendConnector() {
  deadline_.cancel();
}

void BackendConnector::cancel() {
  cancelled_ = true;
  error_code ignored;
  resolver_.cancel();
  raw_.close(ignored);
  if (tls_) tls_->close();
}

BackendLoginError BackendConnector::failure(std::string reason, std::string detail,
                                            std::string_view sqlstate,
                                            std::string client_message) const {
  if (timed_out_) {
    return {"backend_timeout",
            "no answer from the database within " +
                std::to_string(config_.connect_timeout_seconds) + " s (" + detail + ")",
            std::string(pgwire::sqlstate::kCannotConnectNow),
            std::string(kCannotReach),
            {}};
  }
  if (cancelled_) {
    return {"backend_cancelled",
            detail,
            std::string(pgwire::sqlstate::kAdminShutdown),
            "the proxy is shutting down",
            {}};
  }
  return {
      std::move(reason), std::move(detail), std::string(sqlstate), std::move(client_message), {}};
}

// Not a coroutine itself: the request is kept in the connector, so no coroutine frame holds a
// by-value parameter (GCC 12 has destroyed those twice).
awaitable<std::variant<BackendLogin, BackendLoginError>> BackendConnector::connect(
    BackendLoginRequest request) {
  request_ = std::move(request);
  deadline_.expires_after(std::chrono::seconds(config_.connect_timeout_seconds));
  // The wait may complete after the connector is gone: it checks `alive_` before touching it.
  deadline_.async_wait([this, alive = std::weak_ptr<int>(alive_)](error_code ec) {
    if (ec || alive.expired()) return;
    timed_out_ = true;
    cancel();
  });
  return run_until_deadline();
}

awaitable<std::variant<BackendLogin, BackendLoginError>> BackendConnector::run_until_deadline() {
  auto result = co_await run();
  deadline_.cancel();
  co_return result;
}

awaitable<std::variant<BackendLogin, BackendLoginError>> BackendConnector::run() {
  const BackendLoginRequest& request = request_;
  error_code ec;
  const auto endpoints = co_await resolver_.async_resolve(
      config_.host, std::to_string(config_.port), asio::redirect_error(use_awaitable, ec));
  if (ec) {
    co_return failure("backend_unreachable", "resolve " + config_.host + ": " + ec.message(),
                      pgwire::sqlstate::kCannotConnectNow, std::string(kCannotReach));
  }
  // cancel() closes the socket, but a resolve that had already completed when it ran still
  // resumes here, and the connect below would open a new socket no one cancels: a stop then
  // waited out the whole connect timeout (120 s in proxy_controls_test under ASan).
  if (cancelled_) {
    co_return failure("backend_unreachable", "cancelled before the connect",
                      pgwire::sqlstate::kCannotConnectNow, std::string(kCannotReach));
  }
  if (config_.source_address.empty()) {
    co_await asio::async_connect(raw_, endpoints, asio::redirect_error(use_awaitable, ec));
  } else {
    // From a fixed source address: each candidate gets a fresh socket bound to it first.
    const auto source = asio::ip::make_address(config_.source_address, ec);
    ec = asio::error::host_not_found;
    for (const auto& candidate : endpoints) {
      const tcp::endpoint target = candidate.endpoint();
      if (target.protocol() != tcp::endpoint(source, 0).protocol()) continue;
      if (cancelled_) break;  // no new socket after cancel()
      error_code step;
      if (raw_.is_open()) raw_.close(step);
      raw_.open(target.protocol(), step);
      if (!step) raw_.bind(tcp::endpoint(source, 0), step);
      if (!step) co_await raw_.async_connect(target, asio::redirect_error(use_awaitable, step));
      ec = step;
      if (!ec) break;
    }
  }
  if (ec || cancelled_) {
    co_return failure("backend_unreachable",
                      ec ? "connect: " + ec.message() : "cancelled during the connect",
                      pgwire::sqlstate::kCannotConnectNow, std::string(kCannotReach));
  }
  raw_.set_option(tcp::no_delay(true), ec);

  // TLS to the database, certificate and name verified.
  const std::string ssl_request = *pgwire::encode(pgwire::SslRequest{});
  co_await asio::async_write(raw_, asio::buffer(ssl_request),
                             asio::redirect_error(use_awaitable, ec));
  char answer = 0;
  if (!ec) {
    co_await asio::async_read(raw_, asio::buffer(&answer, 1),
                              asio::redirect_error(use_awaitable, ec));
  }
  if (ec || answer != 'S') {
    co_return failure("backend_tls_refused",
                      ec ? "SSLRequest: " + ec.message() : "the database did not accept TLS",
                      pgwire::sqlstate::kCannotConnectNow, std::string(kCannotReachSecurely));
  }
  auto tls = TlsSocket::connect(std::move(raw_), tls_context_.native_handle());
  if (!tls) {
    co_return failure("backend_tls_failed", tls.error().message(),
                      pgwire::sqlstate::kCannotConnectNow, std::string(kCannotReachSecurely));
  }
  tls_ = std::move(*tls);
  if (auto named = verify_peer_name(tls_->native_handle(), config_.server_name); !named) {
    co_return failure("backend_tls_failed", named.error().message(),
                      pgwire::sqlstate::kCannotConnectNow, std::string(kCannotReachSecurely));
  }
  ec = co_await tls_->handshake();
  if (ec) {
    co_return failure("backend_tls_failed", "TLS handshake with the database: " + ec.message(),
                      pgwire::sqlstate::kCannotConnectNow, std::string(kCannotReachSecurely));
  }

  pgwire::StartupMessage startup;
  startup.parameters.emplace_back("user", request.user);
  startup.parameters.emplace_back("database", request.database);
  for (const auto& parameter : request.parameters)
    startup.parameters.push_back(parameter);
  auto startup_bytes = pgwire::encode(startup);
  if (!startup_bytes) {
    co_return failure("backend_login_failed", startup_bytes.error().message(),
                      pgwire::sqlstate::kProtocolViolation, std::string(kCannotReach));
  }
  ec = co_await tls_->write(*startup_bytes);
  if (ec) {
    co_return failure("backend_closed", "sending the startup message: " + ec.message(),
                      pgwire::sqlstate::kConnectionFailure, std::string(kCannotReach));
  }

  auto decoder = pgwire::FrameDecoder::backend();
  std::optional<pgwire::ScramClient> scram;
  bool scram_verified = false;
  bool asked_for_password = false;
  BackendLogin login;
  const auto& allowed = config_.require_auth;
  for (;;) {
    auto decoded = decoder.next();
    if (!decoded) {
      co_return failure(
          "backend_protocol_error", "bad message from the database: " + decoded.error().message(),
          pgwire::sqlstate::kConnectionFailure, "the database sent an invalid message");
    }
    if (!decoded->ready()) {
      char buf[kReadChunk];
      const auto [read_ec, n] = co_await tls_->read_some(asio::buffer(buf));
      ec = read_ec;
      if (ec || n == 0) {
        co_return failure("backend_closed",
                          "the database closed the connection during login" +
                              (ec ? ": " + ec.message() : std::string()),
                          pgwire::sqlstate::kConnectionFailure,
                          "the database closed the connection");
      }
      decoder.feed(std::string_view(buf, n));
      continue;
    }
    const pgwire::Frame& frame = decoded->frame;
    switch (frame.type) {
      case 'R': {
        auto auth = pgwire::parse_authentication(frame.body);
        if (!auth) {
          co_return failure("backend_protocol_error", auth.error().message(),
                            pgwire::sqlstate::kConnectionFailure,
                            "the database sent an invalid message");
        }
        if (auth->type == pgwire::AuthType::kOk) {
          // As libpq's require_auth: the method asked for must be allowed, "none" included, and
          // a SCRAM exchange must have ended with the server's signature verified.
          if (!asked_for_password && !allowed.contains("none")) {
            co_return failure("backend_auth_method",
                              "the database let the proxy in without authentication; "
                              "backend.require_auth does not allow none",
                              pgwire::sqlstate::kCannotConnectNow, std::string(kCannotLogIn));
          }
          if (scram && !scram_verified) {
            co_return failure("backend_auth_method",
                              "the database ended SCRAM without proving it knows the password",
                              pgwire::sqlstate::kCannotConnectNow, std::string(kCannotLogIn));
          }
          break;
        }
        std::string reply;
        Status made;
        if (auth->type == pgwire::AuthType::kSasl || auth->type == pgwire::AuthType::kMd5Password ||
            auth->type == pgwire::AuthType::kCleartextPassword) {
          if (asked_for_password) {
            co_return failure("backend_protocol_error", "the database asked twice for a password",
                              pgwire::sqlstate::kProtocolViolation, std::string(kCannotLogIn));
          }
          asked_for_password = true;
          const std::string method(method_name(auth->type));
          if (!allowed.contains(method)) {
            co_return failure(
                "backend_auth_method",
                "the database asks for " + method + "; backend.require_auth does not allow it",
                pgwire::sqlstate::kCannotConnectNow, std::string(kCannotLogIn));
          }
        }
        switch (auth->type) {
          case pgwire::AuthType::kSasl: {
            const auto& mechs = auth->sasl_mechanisms;
            if (std::find(mechs.begin(), mechs.end(), pgwire::kScramSha256) == mechs.end()) {
              co_return failure("backend_auth_method", "the database offers no SCRAM-SHA-256",
                                pgwire::sqlstate::kCannotConnectNow, std::string(kCannotLogIn));
            }
            auto client = pgwire::ScramClient::create(request.password);
            if (!client) {
              made = client.error();
              break;
            }
            scram.emplace(std::move(*client));
            made = pgwire::encode_to(pgwire::SaslInitialResponse{std::string(scram->mechanism()),
                                                                 scram->client_first_message()},
                                     reply);
            break;
          }
          case pgwire::AuthType::kSaslContinue: {
            if (!scram) {
              made = Error::failed_precondition("SASLContinue before SASL");
              break;
            }
            auto final_message = scram->handle_server_first(auth->data);
            made = final_message ? pgwire::encode_to(pgwire::SaslResponse{*final_message}, reply)
                                 : Status(final_message.error());
            break;
          }
          case pgwire::AuthType::kSaslFinal:
            made = scram ? scram->verify_server_final(auth->data)
                         : Status(Error::failed_precondition("SASLFinal before SASL"));
            scram_verified = made.ok();
            break;
          case pgwire::AuthType::kMd5Password: {
            auto hashed = pgwire::md5_password_response(request.user, request.password, auth->data);
            made = hashed ? pgwire::encode_to(pgwire::PasswordMessage{*hashed}, reply)
                          : Status(hashed.error());
            break;
          }
          case pgwire::AuthType::kCleartextPassword:
            // Only when allowed, and only over the verified TLS link established above.
            made = pgwire::encode_to(pgwire::PasswordMessage{request.password}, reply);
            break;
          default:
            made = Error::failed_precondition("the database asks for an unsupported method");
        }
        if (!made) {
          co_return failure("backend_login_failed", made.error().message(),
                            pgwire::sqlstate::kCannotConnectNow, std::string(kCannotLogIn));
        }
        if (!reply.empty()) {
          ec = co_await tls_->write(reply);
          if (ec) {
            co_return failure("backend_closed", "write to the database: " + ec.message(),
                              pgwire::sqlstate::kConnectionFailure,
                              "the database closed the connection");
          }
        }
        break;
      }
      case 'E': {
        auto error = pgwire::parse_error_response(frame.body);
        const std::string message = error ? std::string(error->message()) : "unknown";
        const std::string code = error ? std::string(error->sqlstate()) : "08006";
        // Authentication errors say nothing to the client about the proxy's secret.
        if (code.starts_with("28")) {
          auto refused =
              failure("backend_login_failed", "the database refused the proxy's login: " + message,
                      pgwire::sqlstate::kCannotConnectNow, std::string(kCannotLogIn));
          refused.password_refused = true;
          co_return refused;
        }
        auto forwarded = failure("backend_login_failed", message, code, message);
        forwarded.forward = frame.wire;  // e.g. 3D000 database does not exist
        co_return forwarded;
      }
      case 'S':
      case 'N':
        login.greeting.append(frame.wire);
        break;
      case 'K': {
        auto key = pgwire::parse_backend_key_data(frame.body);
        if (key) login.key = *key;
        break;
      }
      case 'Z':
        login.ready_for_query = frame.wire;
        login.stream = std::move(tls_);
        co_return login;
      default:
        co_return failure(
            "backend_protocol_error",
            std::string("unexpected message '") + frame.type + "' from the database during login",
            pgwire::sqlstate::kProtocolViolation, "the database sent an unexpected message");
    }
  }
}

}  // namespace writegate::proxy
