// TlsSocket over a real loopback TCP connection and a real TLS handshake (an Asio ssl::stream
// client in the same event loop): idle clients give their record buffers back, busy ones keep
// them, and no byte is lost either way.
// clang-format off
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.
// clang-format on
#include "proxy/tls_socket.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <boost/asio/ssl.hpp>
#include <memory>
#include <string>
#include <thread>

#include "pki/pki.h"

namespace writegate::proxy {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

class TlsSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = pki::CertificateAuthority::create("client tls test CA");
    ASSERT_TRUE(ca.ok());
    auto cert = ca->issue_server({"proxy.test"}, {"127.0.0.1"});
    ASSERT_TRUE(cert.ok());
    server_tls_.use_certificate_chain(asio::buffer(cert->cert_pem));
    server_tls_.use_private_key(asio::buffer(cert->key_pem), asio::ssl::context::pem);
    client_tls_.add_certificate_authority(asio::buffer(ca->certificate().cert_pem));
    client_tls_.set_verify_mode(asio::ssl::verify_peer);
  }

  // Runs `body` with a logged-in pair: the server's TlsSocket and the client's stream.
  template <typename Body>
  void with_connection(Body body) {
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    bool finished = false;
    auto run = [&]() -> asio::awaitable<void> {
      asio::ssl::stream<tcp::socket> client(io, client_tls_);
      co_await client.next_layer().async_connect(acceptor.local_endpoint(), asio::use_awaitable);
      tcp::socket accepted = co_await acceptor.async_accept(asio::use_awaitable);
      auto made = TlsSocket::accept(std::move(accepted), server_tls_.native_handle());
      EXPECT_TRUE(made.ok());
      if (!made.ok()) co_return;
      std::unique_ptr<TlsSocket> server = std::move(*made);
      error_code client_ec;
      bool client_done = false;
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            co_await client.async_handshake(asio::ssl::stream_base::client,
                                            asio::redirect_error(asio::use_awaitable, client_ec));
            client_done = true;
          },
          asio::detached);
      const error_code server_ec = co_await server->handshake();
      EXPECT_FALSE(server_ec) << server_ec.message();
      while (!client_done) {
        asio::steady_timer tick(io, std::chrono::milliseconds(1));
        co_await tick.async_wait(asio::use_awaitable);
      }
      EXPECT_FALSE(client_ec) << client_ec.message();
      co_await body(*server, client);
      finished = true;
    };
    asio::co_spawn(io, run(), asio::detached);
    io.run_for(std::chrono::seconds(20));
    EXPECT_TRUE(finished) << "the exchange did not finish";
  }

  static asio::awaitable<std::string> read_exactly(TlsSocket& server, std::size_t size,
                                                   std::size_t chunk) {
    std::string got;
    while (got.size() < size) {
      std::string buf(std::min(chunk, size - got.size()), '\0');
      auto [ec, n] = co_await server.read_some(asio::buffer(buf));
      EXPECT_FALSE(ec) << ec.message();
      if (ec) break;
      got.append(buf, 0, n);
    }
    co_return got;
  }

  asio::ssl::context server_tls_{asio::ssl::context::tls_server};
  asio::ssl::context client_tls_{asio::ssl::context::tls_client};
};

TEST_F(TlsSocketTest, AClientIdleForAWholeSweepGivesItsBuffersBackAndStillWorks) {
  with_connection(
      [](TlsSocket& server, asio::ssl::stream<tcp::socket>& client) -> asio::awaitable<void> {
        // The handshake was activity: the first sweep only notes it.
        EXPECT_FALSE(server.release_buffers_if_idle());
        // Nothing since: freed now, and only once.
        EXPECT_TRUE(server.release_buffers_if_idle());
        EXPECT_FALSE(server.release_buffers_if_idle());

        // Both directions still work (OpenSSL makes the buffers again).
        const std::string hello = "hello after the buffers went";
        co_await asio::async_write(client, asio::buffer(hello), asio::use_awaitable);
        EXPECT_EQ(co_await read_exactly(server, hello.size(), 4096), hello);
        const error_code ec = co_await server.write("and back");
        EXPECT_FALSE(ec) << ec.message();
        std::string back(8, '\0');
        co_await asio::async_read(client, asio::buffer(back), asio::use_awaitable);
        EXPECT_EQ(back, "and back");

        // A busy client keeps them: each sweep after activity only notes it.
        EXPECT_FALSE(server.release_buffers_if_idle());
        EXPECT_EQ(co_await server.write("x"), error_code{});
        EXPECT_FALSE(server.release_buffers_if_idle());
        std::string x(1, '\0');
        co_await asio::async_read(client, asio::buffer(x), asio::use_awaitable);
        EXPECT_TRUE(server.release_buffers_if_idle());
      });
}

TEST_F(TlsSocketTest, BytesStillBufferedAreNeverFreed) {
  with_connection(
      [](TlsSocket& server, asio::ssl::stream<tcp::socket>& client) -> asio::awaitable<void> {
        const std::string record = "0123456789abcdefghij";
        co_await asio::async_write(client, asio::buffer(record), asio::use_awaitable);
        // Half of the record read: the rest waits decrypted in OpenSSL's buffer.
        EXPECT_EQ(co_await read_exactly(server, 10, 10), "0123456789");
        EXPECT_FALSE(server.release_buffers_if_idle());  // the read
        EXPECT_FALSE(server.release_buffers_if_idle()) << "freed a buffer holding unread bytes";
        EXPECT_FALSE(server.release_buffers_if_idle());
        EXPECT_EQ(co_await read_exactly(server, 10, 10), "abcdefghij");
        EXPECT_FALSE(server.release_buffers_if_idle());
        EXPECT_TRUE(server.release_buffers_if_idle());
      });
}

// Asio reads the socket into the caller's buffer and OpenSSL takes the bytes from there: bytes
// that arrive in many TLS records and in reads smaller than a record all come out, in order.
TEST_F(TlsSocketTest, ManyRecordsThroughReadsSmallerThanARecordComeOutWholeAndInOrder) {
  with_connection([](TlsSocket& server,
                     asio::ssl::stream<tcp::socket>& client) -> asio::awaitable<void> {
    std::string sent;
    for (int i = 0; sent.size() < 200 * 1024; ++i)
      sent += "record " + std::to_string(i) + ";";
    // Several writes of different sizes: records of up to 16 KiB each.
    for (std::size_t at = 0, step = 1; at < sent.size(); at += step, step = step * 3 + 7) {
      co_await asio::async_write(client,
                                 asio::buffer(sent.data() + at, std::min(step, sent.size() - at)),
                                 asio::use_awaitable);
    }
    EXPECT_EQ(co_await read_exactly(server, sent.size(), 1000), sent);
    EXPECT_EQ(server.pending_bytes(), 0u);
  });
}

TEST_F(TlsSocketTest, CloseNotifyIsTheEndOfTheStreamAndABareCloseIsATruncation) {
  with_connection(
      [](TlsSocket& server, asio::ssl::stream<tcp::socket>& client) -> asio::awaitable<void> {
        co_await asio::async_write(client, asio::buffer(std::string("last words")),
                                   asio::use_awaitable);
        // The client sends close_notify and then waits for the server's, which never comes.
        auto shut = std::make_shared<bool>(false);
        asio::co_spawn(
            client.get_executor(),
            [&client, shut]() -> asio::awaitable<void> {
              error_code ignored;
              co_await client.async_shutdown(asio::redirect_error(asio::use_awaitable, ignored));
              *shut = true;
            },
            asio::detached);
        EXPECT_EQ(co_await read_exactly(server, 10, 64), "last words");
        char buf[64];
        auto [end, n] = co_await server.read_some(asio::buffer(buf));
        EXPECT_EQ(end, asio::error::eof) << end.message();
        EXPECT_EQ(n, 0u);
        // The server closes: the client's wait for close_notify ends before the client goes.
        server.close();
        while (!*shut) {
          asio::steady_timer tick(client.get_executor(), std::chrono::milliseconds(1));
          co_await tick.async_wait(asio::use_awaitable);
        }
      });
  with_connection([](TlsSocket& server,
                     asio::ssl::stream<tcp::socket>& client) -> asio::awaitable<void> {
    co_await asio::async_write(client, asio::buffer(std::string("cut off")), asio::use_awaitable);
    // A FIN without close_notify (a close() would reset: the client left the server's
    // session tickets unread).
    client.lowest_layer().shutdown(tcp::socket::shutdown_send);
    EXPECT_EQ(co_await read_exactly(server, 7, 64), "cut off");
    char buf[64];
    auto [end, n] = co_await server.read_some(asio::buffer(buf));
    EXPECT_EQ(end, asio::ssl::error::stream_truncated) << end.message();
    EXPECT_EQ(n, 0u);
  });
}

// A pooled backend handed to another worker moves to that worker's event loop: the TLS session
// carries on there (bytes that came while it moved included), and back again; one that never
// arrives has its descriptor closed.
TEST_F(TlsSocketTest, AConnectionMovesToAnotherEventLoopAndBackWithItsSession) {
  asio::io_context other;
  auto keep = asio::make_work_guard(other);
  std::thread other_thread([&] { other.run(); });
  with_connection(
      [&other](TlsSocket& server, asio::ssl::stream<tcp::socket>& client) -> asio::awaitable<void> {
        const auto home = server.socket().get_executor();
        EXPECT_EQ(server.attach(home), asio::error::bad_descriptor) << "attached without detach";
        EXPECT_FALSE(server.detach());
        EXPECT_FALSE(server.socket().is_open());
        EXPECT_EQ(server.detach(), asio::error::bad_descriptor) << "detached twice";
        // Sent while the connection belongs to no loop.
        co_await asio::async_write(client, asio::buffer(std::string("while moving")),
                                   asio::use_awaitable);
        const std::thread::id there = co_await asio::co_spawn(
            other,
            [&server, &other]() -> asio::awaitable<std::thread::id> {
              EXPECT_FALSE(server.attach(other.get_executor()));
              EXPECT_TRUE(server.socket().is_open());
              EXPECT_EQ(co_await read_exactly(server, 12, 64), "while moving");
              EXPECT_FALSE(co_await server.write("from the other loop"));
              EXPECT_FALSE(server.detach());
              co_return std::this_thread::get_id();
            },
            asio::use_awaitable);
        EXPECT_NE(there, std::this_thread::get_id());
        std::string got(19, '\0');
        co_await asio::async_read(client, asio::buffer(got), asio::use_awaitable);
        EXPECT_EQ(got, "from the other loop");
        // Home again.
        EXPECT_FALSE(server.attach(home));
        co_await asio::async_write(client, asio::buffer(std::string("home")), asio::use_awaitable);
        EXPECT_EQ(co_await read_exactly(server, 4, 64), "home");
        // Detached and closed without arriving anywhere: the descriptor is closed.
        const int fd = server.socket().native_handle();
        EXPECT_FALSE(server.detach());
        EXPECT_NE(::fcntl(fd, F_GETFD), -1) << "closed by detach";
        server.close();
        EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "the descriptor of a detached connection leaked";
      });
  keep.reset();
  other_thread.join();
}

}  // namespace
}  // namespace writegate::proxy
