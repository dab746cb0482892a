// One backend login: resolve, TCP, SSLRequest, TLS (certificate and name verified), startup and
// authentication (SCRAM-SHA-256 only unless the config's require_auth widens it, the server's
// final signature verified), up to the first ReadyForQuery. Every step runs under one deadline
// (backend.connect_timeout); cancel() ends a login in flight at once (shutdown, client gone).
//
//   BackendConnector connector(executor, back_tls, config.backend);
//   auto login = co_await connector.connect({.user = "lambda_writer", .database = "mydb",
//                                            .password = secret});
//   if (!login) { log(login.error().reason, login.error().detail); tell_client(...); }
//   else relay(std::move(login->stream));
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "pgwire/messages.h"
#include "proxy/config.h"
#include "proxy/tls_socket.h"

namespace writegate::proxy {

struct BackendLoginRequest {
  std::string user;
  std::string database;
  std::vector<std::pair<std::string, std::string>> parameters;  // besides user and database
  std::string password;
};

struct BackendLogin {
  std::unique_ptr<TlsSocket> stream;
  pgwire::BackendKeyData key;
  std::string greeting;         // ParameterStatus and NoticeResponse frames, as sent
  std::string ready_for_query;  // the ReadyForQuery frame that ended the login
};

struct BackendLoginError {
  std::string reason;             // for the log: backend_unreachable, backend_timeout, ...
  std::string detail;             // for the log
  std::string sqlstate;           // for the client
  std::string client_message;     // for the client: says nothing of the proxy's secret
  std::string forward;            // an ErrorResponse of the database to pass on as is (3D000 ...)
  bool password_refused = false;  // the database said 28xxx to the password: worth a re-fetch
};

class BackendConnector {
 public:
  BackendConnector(boost::asio::any_io_executor executor, boost::asio::ssl::context& tls,
                   const BackendConfig& config);
  ~BackendConnector();
  BackendConnector(const BackendConnector&) = delete;
  BackendConnector& operator=(const BackendConnector&) = delete;

  boost::asio::awaitable<std::variant<BackendLogin, BackendLoginError>> connect(
      BackendLoginRequest request);

  // Closes whatever is open; a connect() in flight returns backend_cancelled promptly.
  void cancel();

 private:
  boost::asio::awaitable<std::variant<BackendLogin, BackendLoginError>> run_until_deadline();
  boost::asio::awaitable<std::variant<BackendLogin, BackendLoginError>> run();
  BackendLoginError failure(std::string reason, std::string detail, std::string_view sqlstate,
                            std::string client_message) const;

  boost::asio::any_io_executor executor_;
  boost::asio::ssl::context& tls_context_;
  const BackendConfig& config_;
  BackendLoginRequest request_;
  boost::asio::steady_timer deadline_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket raw_;
  std::unique_ptr<TlsSocket> tls_;
  bool timed_out_ = false;
  bool cancelled_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace writegate::proxy
