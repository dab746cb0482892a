// The backend login against databases that misbehave in ways a real PostgreSQL cannot be made
// to: one that lets the proxy in without a password, asks for md5, or forges or skips the final
// SCRAM signature. The fake speaks real TLS (certificates from src/pki) and real SCRAM maths
// (pgwire's server side); only its choices are scripted. The happy paths, and every failure a
// real server can produce, are tested against real PostgreSQL in proxy_controls_test.
// clang-format off
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.
// clang-format on
#include "proxy/backend_connector.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "pgwire/encode.h"
#include "pgwire/parse.h"
#include "pgwire/scram.h"
#include "pki/pki.h"

namespace writegate::proxy {
namespace {

using ::testing::HasSubstr;
namespace asio = boost::asio;

enum class Script { kTrust, kMd5, kScramGood, kScramForgedFinal, kScramSkipsFinal };

constexpr std::string_view kPassword = "correct horse battery staple";

// One connection's worth of a fake database server on loopback, in a thread.
class FakeBackend {
 public:
  FakeBackend(Script script, const pki::Certificate& cert) : script_(script) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listener_, 4);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ctx_ = SSL_CTX_new(TLS_server_method());
    BIO* cert_bio = BIO_new_mem_buf(cert.cert_pem.data(), static_cast<int>(cert.cert_pem.size()));
    X509* x509 = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    BIO* key_bio = BIO_new_mem_buf(cert.key_pem.data(), static_cast<int>(cert.key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    SSL_CTX_use_certificate(ctx_, x509);
    SSL_CTX_use_PrivateKey(ctx_, key);
    X509_free(x509);
    EVP_PKEY_free(key);
    BIO_free(cert_bio);
    BIO_free(key_bio);
    thread_ = std::thread([this] {
      // The connector may hang up before the script's last writes (a forged signature is refused
      // at once): that write must fail with EPIPE, not kill the test with SIGPIPE.
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
      serve();
    });
  }
  ~FakeBackend() {
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
    SSL_CTX_free(ctx_);
  }
  int port() const { return port_; }
  // What the fake saw: "md5 response ok", "scram proof ok", ...
  const std::string& notes() const { return notes_; }

 private:
  std::string read_exact(SSL* ssl, std::size_t n) {
    std::string out(n, '\0');
    std::size_t got = 0;
    while (got < n) {
      const int r = SSL_read(ssl, out.data() + got, static_cast<int>(n - got));
      if (r <= 0) return {};
      got += static_cast<std::size_t>(r);
    }
    return out;
  }
  // A typed message's body, or "" on a closed connection.
  std::string read_message(SSL* ssl, char* type) {
    const std::string head = read_exact(ssl, 5);
    if (head.size() != 5) return {};
    *type = head[0];
    const std::uint32_t len = (std::uint32_t(std::uint8_t(head[1])) << 24) |
                              (std::uint32_t(std::uint8_t(head[2])) << 16) |
                              (std::uint32_t(std::uint8_t(head[3])) << 8) | std::uint8_t(head[4]);
    return read_exact(ssl, len - 4);
  }
  void send(SSL* ssl, const pgwire::BackendMessage& m) {
    const std::string bytes = *pgwire::encode(m);
    SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size()));
  }
  void finish(SSL* ssl) {
    send(ssl, pgwire::Authentication::ok());
    send(ssl, pgwire::BackendKeyData{4242, 99});
    send(ssl, pgwire::ReadyForQuery{});
  }

  void serve() {
    const int fd = ::accept(listener_, nullptr, nullptr);
    if (fd < 0) return;
    char request[8];
    if (::recv(fd, request, 8, MSG_WAITALL) != 8 || ::send(fd, "S", 1, 0) != 1) {
      ::close(fd);
      return;
    }
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) converse(ssl);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    ::close(fd);
  }

  void converse(SSL* ssl) {
    const std::string head = read_exact(ssl, 4);  // the startup message
    if (head.size() != 4) return;
    const std::uint32_t len = (std::uint32_t(std::uint8_t(head[0])) << 24) |
                              (std::uint32_t(std::uint8_t(head[1])) << 16) |
                              (std::uint32_t(std::uint8_t(head[2])) << 8) | std::uint8_t(head[3]);
    if (read_exact(ssl, len - 4).empty()) return;
    char type = 0;
    switch (script_) {
      case Script::kTrust:
        finish(ssl);
        return;
      case Script::kMd5: {
        send(ssl, pgwire::Authentication::md5_password("salt"));
        const std::string body = read_message(ssl, &type);
        auto password = pgwire::parse_password_message(body);
        auto expected = pgwire::md5_password_response("lambda_writer", kPassword, "salt");
        if (type == 'p' && password && expected && password->password == *expected) {
          notes_ += "md5 response ok;";
          finish(ssl);
        }
        return;
      }
      default:
        break;
    }
    send(ssl, pgwire::Authentication::sasl({"SCRAM-SHA-256"}));
    auto secret = pgwire::make_scram_secret(kPassword, "0123456789abcdef", 4096);
    auto server = pgwire::ScramServer::create(*secret);
    auto initial = pgwire::parse_sasl_initial_response(read_message(ssl, &type));
    if (!initial || !initial->initial_response) return;
    auto first = server->handle_client_first(*initial->initial_response);
    if (!first) return;
    send(ssl, pgwire::Authentication::sasl_continue(*first));
    auto response = pgwire::parse_sasl_response(read_message(ssl, &type));
    if (!response) return;
    auto final_message = server->handle_client_final(response->data);
    if (!final_message) return;
    notes_ += "scram proof ok;";
    if (script_ == Script::kScramForgedFinal) {
      send(ssl, pgwire::Authentication::sasl_final("v=" + std::string(44, 'A')));
    } else if (script_ == Script::kScramGood) {
      send(ssl, pgwire::Authentication::sasl_final(*final_message));
    }
    finish(ssl);  // kScramSkipsFinal: AuthenticationOk without the signature
  }

  Script script_;
  int listener_ = -1;
  int port_ = 0;
  SSL_CTX* ctx_ = nullptr;
  std::thread thread_;
  std::string notes_;
};

class BackendConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = pki::CertificateAuthority::create("connector test CA");
    ASSERT_TRUE(ca.ok());
    auto cert = ca->issue_server({"db.test"}, {"127.0.0.1"});
    ASSERT_TRUE(cert.ok());
    cert_ = *cert;
    ca_file_ = (std::filesystem::temp_directory_path() /
                ("writegate-connector-ca-" + std::to_string(::getpid()) + ".crt"))
                   .string();
    ASSERT_TRUE(pki::write_file(ca_file_, ca->certificate().cert_pem, 0644).ok());
    tls_.set_verify_mode(asio::ssl::verify_peer);
    tls_.load_verify_file(ca_file_);
  }
  void TearDown() override { std::filesystem::remove(ca_file_); }

  // Logs in to a fake backend playing `script`; "" on success, else "reason: detail".
  std::string login(Script script, std::set<std::string> require_auth = {"scram-sha-256"},
                    std::string* notes = nullptr) {
    FakeBackend fake(script, cert_);
    BackendConfig config{.host = "127.0.0.1",
                         .port = fake.port(),
                         .ca_file = ca_file_,
                         .server_name = "db.test",
                         .connect_timeout_seconds = 5,
                         .require_auth = std::move(require_auth),
                         .source_address = {}};
    asio::io_context io;
    std::string outcome = "not run";
    // A named coroutine lambda: its captures must outlive io.run().
    auto body = [&]() -> asio::awaitable<void> {
      BackendConnector connector(io.get_executor(), tls_, config);
      // Named, not a braced temporary inside co_await (GCC 12 destroys those twice).
      BackendLoginRequest request;
      request.user = "lambda_writer";
      request.database = "mydb";
      request.password = std::string(kPassword);
      auto result = co_await connector.connect(std::move(request));
      if (auto* error = std::get_if<BackendLoginError>(&result)) {
        outcome = error->reason + ": " + error->detail;
      } else {
        outcome = std::get<BackendLogin>(result).key.process_id == 4242 ? "" : "bad key";
      }
    };
    asio::co_spawn(io, body(), asio::detached);
    io.run();
    if (notes) *notes = fake.notes();
    return outcome;
  }

  asio::ssl::context tls_{asio::ssl::context::tls_client};
  pki::Certificate cert_;
  std::string ca_file_;
};

TEST_F(BackendConnectorTest, ARealScramExchangeLogsIn) {
  std::string notes;
  EXPECT_EQ(login(Script::kScramGood, {"scram-sha-256"}, &notes), "");
  EXPECT_EQ(notes, "scram proof ok;");
}

TEST_F(BackendConnectorTest, AForgedServerSignatureIsRefused) {
  EXPECT_THAT(login(Script::kScramForgedFinal), HasSubstr("backend_login_failed: "));
}

TEST_F(BackendConnectorTest, AServerThatSkipsItsSignatureIsRefused) {
  EXPECT_EQ(login(Script::kScramSkipsFinal),
            "backend_auth_method: the database ended SCRAM without proving it knows the password");
}

TEST_F(BackendConnectorTest, NoAuthenticationIsRefusedUnlessAllowed) {
  EXPECT_EQ(login(Script::kTrust),
            "backend_auth_method: the database let the proxy in without authentication; "
            "backend.require_auth does not allow none");
  EXPECT_EQ(login(Script::kTrust, {"scram-sha-256", "none"}), "");
}

TEST_F(BackendConnectorTest, Md5IsRefusedUnlessAllowed) {
  EXPECT_EQ(login(Script::kMd5),
            "backend_auth_method: the database asks for md5; backend.require_auth does not "
            "allow it");
  std::string notes;
  EXPECT_EQ(login(Script::kMd5, {"md5"}, &notes), "");
  EXPECT_EQ(notes, "md5 response ok;");
}

}  // namespace
}  // namespace writegate::proxy
