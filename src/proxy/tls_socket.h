// A TLS connection on a TCP socket, either side: the server side of a client's connection
// (accept) or the proxy's connection to the database (connect). OpenSSL writes the socket itself
// (a socket BIO) and reads what the event loop read for it (a BIO over the bytes received).
//
// Asio's ssl::stream runs OpenSSL over a BIO pair: two 17 KiB buffers of its own per
// connection, every record copied through them, a composed operation per read and per write,
// and several more event-loop operations per handshake. For a client that logs in, runs one
// transaction and leaves (the Lambda pattern), that is a measurable part of a login's CPU and
// of an idle client's memory; for a backend, of every transaction (bench/README.md).
//
//   auto tls = TlsSocket::accept(std::move(socket), front_context);  // or connect(...)
//   if (!tls) ...;
//   if (auto ec = co_await (*tls)->handshake(); ec) log("tls_handshake_failed", ec.message());
//   auto [ec, n] = co_await (*tls)->read_some(buffer);
//   ec = co_await (*tls)->write(bytes);
//   co_await (*tls)->shutdown();  // close_notify, as PostgreSQL sends it: once, no waiting
//
// Reading: Asio reads the socket into the caller's buffer and those bytes are handed to
// OpenSSL. (When OpenSSL read the socket itself, each wait for more bytes was a failed read
// plus Asio's async_wait, which in Boost 1.74 re-arms the descriptor with epoll_ctl every time:
// a system call more per read. Asio 1.74 still tries a read before it waits.)
//
// One operation of each direction at a time (a read and a write may be in flight together),
// all on the socket's executor. After close() no OpenSSL call touches the file descriptor
// again (its number may already belong to another connection).
#pragma once

// clang-format off
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.
// clang-format on
#include <openssl/ssl.h>

#include <boost/asio.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace writegate::proxy {

class TlsSocket {
 public:
  struct ReadResult {
    boost::system::error_code ec;
    std::size_t bytes = 0;
  };

  // The server side (a client's connection) and the client side (to the database; set the
  // name to verify on native_handle() before the handshake).
  static Result<std::unique_ptr<TlsSocket>> accept(boost::asio::ip::tcp::socket socket,
                                                   SSL_CTX* context);
  static Result<std::unique_ptr<TlsSocket>> connect(boost::asio::ip::tcp::socket socket,
                                                    SSL_CTX* context);
  ~TlsSocket();
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;

  // The handshake (as the side made); an error as Asio's ssl::stream reports it (its message names
  // OpenSSL's reason, e.g. "wrong version number"; a peer that closed: stream truncated).
  boost::asio::awaitable<boost::system::error_code> handshake();

  // Some decrypted bytes; eof when the client sent close_notify or closed the connection.
  boost::asio::awaitable<ReadResult> read_some(boost::asio::mutable_buffer buffer);

  // All of bytes, or an error.
  boost::asio::awaitable<boost::system::error_code> write(std::string_view bytes);

  // Writes bytes if the socket takes them now, without waiting: true when all of them went.
  // (Best effort, for a last message before close().)
  bool try_write(std::string_view bytes);

  // Sends close_notify without waiting for the client's (PostgreSQL's server does the same).
  // True when it went out at once; false when the socket is full: then shutdown() finishes it.
  bool try_close_notify();
  boost::asio::awaitable<void> shutdown();

  // Frees OpenSSL's record buffers (about 34 KiB) if no handshake, read or write has started
  // since the last call, and nothing is buffered; the next read or write makes them again. The
  // worker calls it every second, so an idle client holds none while a busy one keeps its own
  // (OpenSSL's SSL_MODE_RELEASE_BUFFERS would free and make them again at every record). True
  // when this call freed them.
  bool release_buffers_if_idle();

  boost::asio::ip::tcp::socket& socket() { return socket_; }
  SSL* native_handle() { return ssl_; }
  // The received bytes OpenSSL has not taken yet (the read BIO's).
  std::size_t pending_bytes() const { return received_.size() - received_offset_; }
  // Bytes received and not read yet: the read BIO's or OpenSSL's (records taken, not read).
  bool holds_unread() const { return pending_bytes() != 0 || SSL_has_pending(ssl_) == 1; }
  void cancel();  // ends the waits in flight with operation_aborted
  void close();   // closes the socket; every later operation fails

  // Moves the connection to another event loop (a pooled backend one worker hands to another),
  // with no operation in flight: detach() on the thread of the loop it is on (the descriptor
  // leaves that loop's epoll set), then attach() on the new loop's thread. The TLS session, its
  // buffers and the descriptor stay as they are. Between the two, socket() is closed and the
  // descriptor is this object's: close() or the destructor closes it if it never arrives.
  boost::system::error_code detach();
  boost::system::error_code attach(const boost::asio::any_io_executor& executor);

 private:
  TlsSocket(boost::asio::ip::tcp::socket socket, SSL* ssl);
  static Result<std::unique_ptr<TlsSocket>> make(boost::asio::ip::tcp::socket socket,
                                                 SSL_CTX* context, bool server);

  // Meets OpenSSL's wish: WANT_READ reads the socket into `scratch` and hands the bytes over
  // (eof marks the stream's end, which OpenSSL then reports), WANT_WRITE waits until the socket
  // takes more. Any other result of SSL_get_error becomes the error to report.
  boost::asio::awaitable<boost::system::error_code> wait_for(int ssl_error,
                                                             boost::asio::mutable_buffer scratch);
  static int bio_read(BIO* bio, char* out, std::size_t size, std::size_t* read);
  static long bio_ctrl(BIO* bio, int command, long number, void* pointer);
  static const BIO_METHOD* read_method();

  boost::asio::ip::tcp::socket socket_;
  SSL* ssl_;
  bool close_notify_sent_ = false;
  // What Asio read and OpenSSL has not taken yet; the peer's end of the stream once read.
  std::string received_;
  std::size_t received_offset_ = 0;
  bool received_eof_ = false;
  std::uint64_t operations_ = 0;       // handshakes, reads and writes started
  std::uint64_t operations_seen_ = 0;  // as of the last release_buffers_if_idle()
  bool buffers_released_ = false;      // and no operation since
  int detached_ = -1;                  // the descriptor between detach() and attach()
  bool detached_v6_ = false;
};

}  // namespace writegate::proxy
