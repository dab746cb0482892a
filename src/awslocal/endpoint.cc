#include "awslocal/endpoint.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <iostream>
#include <optional>
#include <thread>
#include <vector>

#include "awslocal/http_internal.h"
#include "awslocal/secretsmanager.h"
#include "awslocal/sts.h"
#include "common/netns.h"

namespace writegate::awslocal {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

struct Shared {
  std::shared_ptr<Router> router;
  EndpointOptions options;
  std::atomic<size_t> connections{0};
};

// How far past its cap an Invoke body is still read before the 413 (see on_header).
constexpr size_t kInvokeDrainBytes = 2 * 1024 * 1024;

bool is_http_parse_error(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  Connection(tcp::socket&& socket, std::shared_ptr<Shared> shared, ssl::context* tls,
             bool namespace_listener)
      : stream_(make_stream(std::move(socket), tls)),
        shared_(std::move(shared)),
        namespace_listener_(namespace_listener) {
    error_code ec;
    auto remote = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) remote_address_ = remote.address().to_string();
  }
  ~Connection() { --shared_->connections; }

  void run() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->start(); });
  }

 private:
  static Stream make_stream(tcp::socket&& socket, ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *tls);
    } else {
      (void)tls;
      return Stream(std::move(socket));
    }
  }

  void start() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(shared_->options.read_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code ec) {
                                if (!ec) self->read_request();
                              });
    } else {
      read_request();
    }
  }

  void read_request() {
    const HttpLimits& limits = shared_->options.limits;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    // Beast checks Content-Length against the cap while parsing the header: start with the
    // larger cap, then apply the route's cap (6 MB for Lambda Invoke) once the target is known.
    parser_->body_limit(
        std::max(limits.max_body_bytes, limits.max_invoke_body_bytes + kInvokeDrainBytes));
    beast::get_lowest_layer(stream_).expires_after(requests_ == 0 ? shared_->options.read_timeout
                                                                  : shared_->options.idle_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    if (ec) return on_read(ec);
    const HttpLimits& limits = shared_->options.limits;
    const std::string target(parser_->get().target());
    const size_t cap = body_limit_for(target, limits);
    // A client that sends its whole body before reading the answer (the aws CLI) would see a
    // reset instead of the 413 if the connection closed early: on the Invoke route a body a
    // little over the cap is read (and dropped) first.
    const size_t drain = is_invoke_target(target) ? cap + kInvokeDrainBytes : cap;
    if (parser_->content_length() && *parser_->content_length() > drain) {
      // Answer, then close: the unread body leaves the stream out of sync.
      return write(body_too_large(target, limits, new_request_id()), parser_->get().version(),
                   /*keep_alive=*/false);
    }
    parser_->body_limit(drain);
    beast::get_lowest_layer(stream_).expires_after(shared_->options.read_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](error_code ec2, size_t) { self->on_read(ec2); });
  }

  void on_read(error_code ec) {
    if (ec) {
      if (is_http_parse_error(ec)) {
        // Answer what was wrong, then close: the stream is out of sync.
        Response r = ec == http::error::body_limit && parser_ && parser_->is_header_done()
                         ? body_too_large(std::string(parser_->get().target()),
                                          shared_->options.limits, new_request_id())
                         : render_error(Protocol::kQuery, http_error_for(ec), new_request_id());
        return write(r, 11, /*keep_alive=*/false);
      }
      return close();
    }
    ++requests_;
    const bool keep_alive = parser_->get().keep_alive();
    const unsigned version = parser_->get().version();
    Request request = to_request(parser_->release());
    request.remote_address = remote_address_;
    request.secure_transport = kTls;
    request.namespace_listener = namespace_listener_;
    if (request.body.size() > body_limit_for(request.target, shared_->options.limits)) {
      return write(body_too_large(request.target, shared_->options.limits, new_request_id()),
                   version, /*keep_alive=*/false);
    }
    Response response;
    try {
      response = shared_->router->handle(request);
    } catch (const std::exception& e) {
      // The router returns errors rather than throwing; this is the outer edge that keeps a
      // bug (or bad_alloc) from ending the server thread.
      std::cerr << "writegate endpoint: internal error: " << e.what() << "\n";
      response = render_error(Protocol::kQuery,
                              make_error(500, "InternalFailure", "the endpoint failed internally"),
                              new_request_id());
    }
    write(response, version, keep_alive);
  }

  void write(const Response& response, unsigned version, bool keep_alive) {
    response_ = std::make_shared<http::response<http::string_body>>(
        to_message(response, version, keep_alive));
    beast::get_lowest_layer(stream_).expires_after(shared_->options.read_timeout);
    http::async_write(stream_, *response_,
                      [self = this->shared_from_this(), keep_alive](error_code ec, size_t) {
                        self->response_.reset();
                        if (ec) return;
                        if (!keep_alive) return self->close();
                        self->read_request();
                      });
  }

  void close() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
      stream_.async_shutdown([self = this->shared_from_this()](error_code) {});
    } else {
      error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  Stream stream_;
  std::shared_ptr<Shared> shared_;
  std::string remote_address_;
  bool namespace_listener_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> response_;
  size_t requests_ = 0;
};

}  // namespace

struct Endpoint::Impl {
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  std::optional<ssl::context> tls;
  // Owned by pointer so stop() can destroy them: destroying the io_context destroys every
  // pending handler, which closes every connection.
  std::unique_ptr<net::io_context> ioc = std::make_unique<net::io_context>();
  std::unique_ptr<tcp::acceptor> acceptor = std::make_unique<tcp::acceptor>(*ioc);
  // options.extra_listeners, adopted from sockets opened in their namespaces.
  std::vector<std::unique_ptr<tcp::acceptor>> extra_acceptors;
  std::vector<uint16_t> extra_ports;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  std::string host;
  bool stopped = false;

  void accept(tcp::acceptor* on) {
    const bool namespace_listener = on != acceptor.get();
    on->async_accept(net::make_strand(*ioc),
                     [this, on, namespace_listener](error_code ec, tcp::socket socket) {
                       if (ec == net::error::operation_aborted || !on->is_open()) return;
                       if (!ec) {
                         if (++shared->connections > shared->options.max_connections) {
                           --shared->connections;
                           error_code ignored;
                           socket.close(ignored);
                         } else if (tls) {
                           std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(
                               std::move(socket), shared, &*tls, namespace_listener)
                               ->run();
                         } else {
                           std::make_shared<Connection<beast::tcp_stream>>(
                               std::move(socket), shared, nullptr, namespace_listener)
                               ->run();
                         }
                       }
                       accept(on);
                     });
  }
};

Result<ListenAddress> parse_listen_address(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return Error::invalid_argument("--listen '" + std::string(text) + "' is not HOST:PORT");
  }
  ListenAddress out;
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty())
    return Error::invalid_argument("--listen '" + std::string(text) + "' has no host");
  out.host = std::string(host);
  std::string_view port = text.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return Error::invalid_argument("--listen '" + std::string(text) +
                                   "': the port must be a number from 0 to 65535");
  }
  out.port = static_cast<uint16_t>(value);
  return out;
}

Result<std::shared_ptr<Router>> make_default_router(const std::string& state_dir,
                                                    RouterOptions options) {
  WG_ASSIGN_OR_RETURN(auto store, iam::IamStore::open(state_dir));
  WG_ASSIGN_OR_RETURN(auto secrets, SecretStore::open(state_dir));
  auto router = std::make_shared<Router>(std::shared_ptr<iam::IamStore>(std::move(store)),
                                         std::move(options));
  router->add(std::make_shared<StsService>());
  router->add(
      std::make_shared<SecretsManagerService>(std::shared_ptr<SecretStore>(std::move(secrets))));
  return router;
}

Result<std::unique_ptr<Endpoint>> Endpoint::start(const EndpointOptions& options) {
  WG_ASSIGN_OR_RETURN(auto router, make_default_router(options.state_dir, options.router));
  return start(options, std::move(router));
}

Result<std::unique_ptr<Endpoint>> Endpoint::start(const EndpointOptions& options,
                                                  std::shared_ptr<Router> router) {
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return Error::invalid_argument("give both --tls-cert and --tls-key, or neither");
  }
  if (options.threads < 1) return Error::invalid_argument("the endpoint needs at least 1 thread");
  auto impl = std::make_unique<Impl>();
  impl->shared->router = std::move(router);
  impl->shared->options = options;
  error_code ec;
  if (!options.tls_cert_file.empty()) {
    impl->tls.emplace(ssl::context::tls_server);
    impl->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                               ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                               ssl::context::no_tlsv1_1,
                           ec);
    impl->tls->use_certificate_chain_file(options.tls_cert_file, ec);
    if (ec) {
      return Error::invalid_argument("cannot load the TLS certificate " + options.tls_cert_file +
                                     ": " + ec.message());
    }
    impl->tls->use_private_key_file(options.tls_key_file, ssl::context::pem, ec);
    if (ec) {
      return Error::invalid_argument("cannot load the TLS key " + options.tls_key_file + ": " +
                                     ec.message());
    }
  }
  auto address = net::ip::make_address(options.listen_host, ec);
  if (ec) {
    // A host name such as "localhost": resolve it.
    tcp::resolver resolver(*impl->ioc);
    auto results = resolver.resolve(options.listen_host, "", ec);
    if (ec || results.empty()) {
      return Error::invalid_argument("cannot resolve the listen host " + options.listen_host);
    }
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint where(address, options.port);
  impl->acceptor->open(where.protocol(), ec);
  if (!ec) impl->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor->bind(where, ec);
  if (!ec) impl->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Error::unavailable("cannot listen on " + options.listen_host + ":" +
                              std::to_string(options.port) + ": " + ec.message());
  }
  impl->port = impl->acceptor->local_endpoint(ec).port();
  impl->host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  for (const auto& extra : options.extra_listeners) {
    const std::string where_text =
        extra.host + ":" + std::to_string(extra.port) +
        (extra.netns.empty() ? "" : " in network namespace " + extra.netns);
    auto fd = open_tcp_listener_in_netns(extra.netns, extra.host, extra.port,
                                         net::socket_base::max_listen_connections);
    if (!fd) return std::move(fd).error().with_context("cannot listen on " + where_text);
    auto acceptor = std::make_unique<tcp::acceptor>(*impl->ioc);
    acceptor->assign(tcp::v4(), *fd, ec);
    if (ec) {
      ::close(*fd);
      return Error::internal("cannot adopt the listener on " + where_text + ": " + ec.message());
    }
    impl->extra_ports.push_back(acceptor->local_endpoint(ec).port());
    impl->extra_acceptors.push_back(std::move(acceptor));
  }
  impl->accept(impl->acceptor.get());
  for (auto& extra : impl->extra_acceptors)
    impl->accept(extra.get());
  for (int i = 0; i < options.threads; ++i) {
    impl->threads.emplace_back([ioc = impl->ioc.get()] { ioc->run(); });
  }
  return std::unique_ptr<Endpoint>(new Endpoint(std::move(impl)));
}

Endpoint::Endpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Endpoint::~Endpoint() {
  stop();
}

uint16_t Endpoint::port() const {
  return impl_->port;
}
std::vector<uint16_t> Endpoint::extra_ports() const {
  return impl_->extra_ports;
}
bool Endpoint::tls() const {
  return impl_->tls.has_value();
}
std::string Endpoint::url() const {
  return std::string(tls() ? "https://" : "http://") + impl_->host + ":" +
         std::to_string(impl_->port);
}
Router& Endpoint::router() {
  return *impl_->shared->router;
}

void Endpoint::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->ioc->stop();
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->acceptor.reset();
  impl_->extra_acceptors.clear();
  impl_->ioc.reset();
}

}  // namespace writegate::awslocal
