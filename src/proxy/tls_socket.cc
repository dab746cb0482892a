#include "proxy/tls_socket.h"

#include <openssl/err.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace writegate::proxy {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr std::size_t kHandshakeChunk = 4096;

// What SSL_get_error's answer (and OpenSSL's error queue) mean as an error code, as Asio's
// ssl::stream reports them: OpenSSL's reason in the ssl category, stream_truncated for a peer
// that closed without close_notify, eof for one that sent it.
error_code tls_error(int ssl_error) {
  switch (ssl_error) {
    case SSL_ERROR_ZERO_RETURN:
      return asio::error::eof;
    case SSL_ERROR_SSL: {
      const unsigned long e = ERR_get_error();
      ERR_clear_error();
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        return asio::ssl::error::stream_truncated;
      }
      if (e == 0) return asio::ssl::error::unspecified_system_error;
      return {static_cast<int>(e), asio::error::get_ssl_category()};
    }
    case SSL_ERROR_SYSCALL: {
      const int saved = errno;
      ERR_clear_error();
      if (saved == 0) return asio::ssl::error::stream_truncated;
      return {saved, boost::system::system_category()};
    }
    default:
      ERR_clear_error();
      return asio::ssl::error::unspecified_system_error;
  }
}

}  // namespace

Result<std::unique_ptr<TlsSocket>> TlsSocket::accept(asio::ip::tcp::socket socket,
                                                     SSL_CTX* context) {
  return make(std::move(socket), context, true);
}

Result<std::unique_ptr<TlsSocket>> TlsSocket::connect(asio::ip::tcp::socket socket,
                                                      SSL_CTX* context) {
  return make(std::move(socket), context, false);
}

Result<std::unique_ptr<TlsSocket>> TlsSocket::make(asio::ip::tcp::socket socket, SSL_CTX* context,
                                                   bool server) {
  error_code ec;
  socket.non_blocking(true, ec);
  if (ec) return Error::io("TLS socket: " + ec.message());
  SSL* ssl = SSL_new(context);
  BIO* read_bio = BIO_new(read_method());
  BIO* write_bio = BIO_new_socket(static_cast<int>(socket.native_handle()), BIO_NOCLOSE);
  if (ssl == nullptr || read_bio == nullptr || write_bio == nullptr) {
    SSL_free(ssl);
    BIO_free(read_bio);
    BIO_free(write_bio);
    ERR_clear_error();
    return Error::internal("TLS: SSL_new/BIO_new failed");
  }
  SSL_set_bio(ssl, read_bio, write_bio);  // the SSL owns both now
  // OpenSSL takes what was received in one call, not a record header and then its body.
  SSL_set_read_ahead(ssl, 1);
  if (server) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }
  std::unique_ptr<TlsSocket> tls(new TlsSocket(std::move(socket), ssl));
  BIO_set_data(read_bio, tls.get());
  return tls;
}

TlsSocket::TlsSocket(asio::ip::tcp::socket socket, SSL* ssl)
    : socket_(std::move(socket)), ssl_(ssl) {}

TlsSocket::~TlsSocket() {
  SSL_free(ssl_);  // The socket BIO does not close the descriptor.
  if (detached_ >= 0) ::close(detached_);
}

// The read BIO: the bytes Asio received, then (once the peer closed) the end of the stream,
// which OpenSSL reports as a truncation unless close_notify came first, as with a socket BIO.
const BIO_METHOD* TlsSocket::read_method() {
  static const BIO_METHOD* const method = [] {
    BIO_METHOD* made =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "writegate received bytes");
    BIO_meth_set_read_ex(made, &TlsSocket::bio_read);
    BIO_meth_set_ctrl(made, &TlsSocket::bio_ctrl);
    BIO_meth_set_create(made, [](BIO* bio) {
      BIO_set_init(bio, 1);
      return 1;
    });
    return made;
  }();
  return method;
}

int TlsSocket::bio_read(BIO* bio, char* out, std::size_t size, std::size_t* read) {
  auto* self = static_cast<TlsSocket*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  *read = 0;
  const std::size_t have = self == nullptr ? 0 : self->pending_bytes();
  if (have == 0) {
    if (self != nullptr && !self->received_eof_) BIO_set_retry_read(bio);
    return 0;
  }
  const std::size_t n = std::min(size, have);
  std::memcpy(out, self->received_.data() + self->received_offset_, n);
  self->received_offset_ += n;
  if (self->received_offset_ == self->received_.size()) {
    self->received_.clear();
    self->received_offset_ = 0;
  }
  *read = n;
  return 1;
}

long TlsSocket::bio_ctrl(BIO* bio, int command, long /*number*/, void* /*pointer*/) {
  const auto* self = static_cast<const TlsSocket*>(BIO_get_data(bio));
  if (self == nullptr) return 0;
  switch (command) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
      return static_cast<long>(self->pending_bytes());
    case BIO_CTRL_EOF:
      return self->received_eof_ && self->pending_bytes() == 0 ? 1 : 0;
    default:
      return 0;
  }
}

asio::awaitable<error_code> TlsSocket::wait_for(int ssl_error, asio::mutable_buffer scratch) {
  error_code ec;
  if (ssl_error == SSL_ERROR_WANT_READ) {
    if (scratch.size() == 0 || pending_bytes() != 0) {
      // OpenSSL wants to read while writing (a TLS 1.2 renegotiation, which OpenSSL 3 refuses
      // from clients), or left received bytes untaken: nothing to wait for that would help.
      co_return asio::error::operation_not_supported;
    }
    const std::size_t n =
        co_await socket_.async_read_some(scratch, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::eof) {
      received_eof_ = true;
      ec = {};
    } else if (!ec) {
      received_.assign(static_cast<const char*>(scratch.data()), n);
      received_offset_ = 0;
    }
  } else if (ssl_error == SSL_ERROR_WANT_WRITE) {
    co_await socket_.async_wait(asio::ip::tcp::socket::wait_write,
                                asio::redirect_error(asio::use_awaitable, ec));
  } else {
    ec = tls_error(ssl_error);
  }
  // A close() while waiting (or before): OpenSSL must not touch the descriptor again.
  if (!ec && !socket_.is_open()) ec = asio::error::operation_aborted;
  co_return ec;
}

asio::awaitable<error_code> TlsSocket::handshake() {
  ++operations_;
  std::vector<char> scratch(kHandshakeChunk);  // a ClientHello is a few hundred bytes
  for (;;) {
    if (!socket_.is_open()) co_return asio::error::bad_descriptor;
    ERR_clear_error();
    const int result = SSL_do_handshake(ssl_);
    if (result == 1) co_return error_code{};
    if (auto ec = co_await wait_for(SSL_get_error(ssl_, result), asio::buffer(scratch)); ec) {
      co_return ec;
    }
  }
}

asio::awaitable<TlsSocket::ReadResult> TlsSocket::read_some(asio::mutable_buffer buffer) {
  ++operations_;
  for (;;) {
    if (!socket_.is_open()) co_return ReadResult{asio::error::bad_descriptor, 0};
    ERR_clear_error();
    std::size_t read = 0;
    const int result = SSL_read_ex(ssl_, buffer.data(), buffer.size(), &read);
    if (result == 1) co_return ReadResult{{}, read};
    // The ciphertext is read into the caller's buffer and copied out before OpenSSL writes the
    // plaintext there.
    if (auto ec = co_await wait_for(SSL_get_error(ssl_, result), buffer); ec) {
      co_return ReadResult{ec, 0};
    }
  }
}

asio::awaitable<error_code> TlsSocket::write(std::string_view bytes) {
  ++operations_;
  while (!bytes.empty()) {
    if (!socket_.is_open()) co_return asio::error::bad_descriptor;
    ERR_clear_error();
    std::size_t written = 0;
    // Retried with the same bytes after a WANT_*, as OpenSSL requires; without partial writes
    // the whole buffer goes at once.
    const int result = SSL_write_ex(ssl_, bytes.data(), bytes.size(), &written);
    if (result == 1) {
      bytes.remove_prefix(written);
      continue;
    }
    if (auto ec = co_await wait_for(SSL_get_error(ssl_, result), {}); ec) co_return ec;
  }
  co_return error_code{};
}

bool TlsSocket::try_write(std::string_view bytes) {
  if (!socket_.is_open()) return false;
  ++operations_;
  ERR_clear_error();
  std::size_t written = 0;
  const bool all =
      SSL_write_ex(ssl_, bytes.data(), bytes.size(), &written) == 1 && written == bytes.size();
  ERR_clear_error();
  return all;
}

bool TlsSocket::release_buffers_if_idle() {
  bool released = false;
  if (operations_ != operations_seen_) {
    buffers_released_ = false;
  } else if (!buffers_released_ && socket_.is_open() && pending_bytes() == 0) {
    // 0 when a buffer holds bytes not yet read or written: kept, tried again next time.
    released = buffers_released_ = SSL_free_buffers(ssl_) == 1;
    if (released) std::string().swap(received_);
  }
  operations_seen_ = operations_;
  return released;
}

bool TlsSocket::try_close_notify() {
  if (close_notify_sent_ || !socket_.is_open()) return true;
  ERR_clear_error();
  const int result = SSL_shutdown(ssl_);
  if (result >= 0) {
    close_notify_sent_ = true;
    return true;
  }
  const int why = SSL_get_error(ssl_, result);
  if (why == SSL_ERROR_WANT_WRITE) return false;
  close_notify_sent_ = true;  // Nothing more to try (the peer is gone or broke the protocol).
  ERR_clear_error();
  return true;
}

asio::awaitable<void> TlsSocket::shutdown() {
  while (!try_close_notify()) {
    error_code ec;
    co_await socket_.async_wait(asio::ip::tcp::socket::wait_write,
                                asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

void TlsSocket::cancel() {
  error_code ignored;
  socket_.cancel(ignored);
}

void TlsSocket::close() {
  error_code ignored;
  socket_.close(ignored);
  if (detached_ >= 0) ::close(std::exchange(detached_, -1));
}

error_code TlsSocket::detach() {
  if (!socket_.is_open()) return asio::error::bad_descriptor;
  error_code ec;
  const auto local = socket_.local_endpoint(ec);
  if (ec) return ec;
  const int fd = socket_.release(ec);
  if (ec) return ec;
  detached_ = fd;
  detached_v6_ = local.protocol() == asio::ip::tcp::v6();
  return {};
}

error_code TlsSocket::attach(const asio::any_io_executor& executor) {
  if (detached_ < 0) return asio::error::bad_descriptor;
  asio::ip::tcp::socket socket(executor);
  error_code ec;
  socket.assign(detached_v6_ ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), detached_, ec);
  if (ec) return ec;  // still ours: close() or the destructor closes it
  detached_ = -1;
  socket_ = std::move(socket);
  // Asio's own record that the descriptor is non-blocking (it already is: make()).
  socket_.non_blocking(true, ec);
  return ec;
}

}  // namespace writegate::proxy
