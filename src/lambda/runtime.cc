#include "lambda/runtime.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "common/strings.h"

namespace writegate::lambda {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string_view header_of(const std::vector<HeaderField>& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return {};
}

constexpr std::chrono::seconds kStepTimeout{10};
constexpr int kAttempts = 3;

}  // namespace

std::chrono::milliseconds Invocation::remaining(std::chrono::system_clock::time_point now) const {
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  return std::chrono::milliseconds(deadline_ms > now_ms ? deadline_ms - now_ms : 0);
}

Result<Invocation> invocation_from_response(int status, const std::vector<HeaderField>& headers,
                                            std::string body) {
  if (status != 200) {
    return Error::unavailable("the runtime API answered /next with HTTP " + std::to_string(status));
  }
  Invocation out;
  out.request_id = std::string(header_of(headers, "Lambda-Runtime-Aws-Request-Id"));
  if (out.request_id.empty() || out.request_id.size() > 128) {
    return Error::invalid_argument("the runtime API sent no usable Lambda-Runtime-Aws-Request-Id");
  }
  for (char c : out.request_id) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) {
      return Error::invalid_argument(
          "Lambda-Runtime-Aws-Request-Id has a character outside "
          "[A-Za-z0-9-]");
    }
  }
  std::string_view deadline = header_of(headers, "Lambda-Runtime-Deadline-Ms");
  auto [end, ec] =
      std::from_chars(deadline.data(), deadline.data() + deadline.size(), out.deadline_ms);
  if (deadline.empty() || ec != std::errc() || end != deadline.data() + deadline.size() ||
      out.deadline_ms <= 0) {
    return Error::invalid_argument("Lambda-Runtime-Deadline-Ms is not a number of milliseconds");
  }
  out.function_arn = std::string(header_of(headers, "Lambda-Runtime-Invoked-Function-Arn"));
  out.trace_id = std::string(header_of(headers, "Lambda-Runtime-Trace-Id"));
  out.client_context = std::string(header_of(headers, "Lambda-Runtime-Client-Context"));
  out.cognito_identity = std::string(header_of(headers, "Lambda-Runtime-Cognito-Identity"));
  if (body.size() > kMaxPayloadBytes) {
    return Error::out_of_range("the event is larger than 6 MB");
  }
  out.payload = std::move(body);
  return out;
}

std::string next_path() {
  return "/" + std::string(kRuntimeApiVersion) + "/runtime/invocation/next";
}
std::string response_path(std::string_view request_id) {
  return "/" + std::string(kRuntimeApiVersion) + "/runtime/invocation/" + std::string(request_id) +
         "/response";
}
std::string error_path(std::string_view request_id) {
  return "/" + std::string(kRuntimeApiVersion) + "/runtime/invocation/" + std::string(request_id) +
         "/error";
}
std::string init_error_path() {
  return "/" + std::string(kRuntimeApiVersion) + "/runtime/init/error";
}

std::string error_body(std::string_view message, std::string_view type) {
  nlohmann::ordered_json body;
  body["errorMessage"] = std::string(message);
  body["errorType"] = std::string(type);
  body["stackTrace"] = nlohmann::json::array();
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

struct RuntimeClient::Impl {
  std::string host;
  std::string port;
  std::string host_header;
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  // Runs one asynchronous step to completion: tcp_stream's expiry (the step's deadline) only
  // applies to asynchronous operations.
  template <class Start>
  boost::system::error_code run_step(Start start) {
    boost::system::error_code result = net::error::would_block;
    start([&result](boost::system::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  Status ensure_connected() {
    if (stream) return {};
    tcp::resolver resolver(ioc);
    boost::system::error_code ec;
    auto results = resolver.resolve(host, port, ec);
    if (ec) return Error::unavailable("cannot resolve the runtime API " + host_header);
    stream.emplace(ioc);
    stream->expires_after(kStepTimeout);
    ec = run_step([&](auto handler) { stream->async_connect(results, handler); });
    if (ec) {
      stream.reset();
      return Error::unavailable("cannot connect to the runtime API " + host_header + ": " +
                                ec.message());
    }
    stream->socket().set_option(tcp::no_delay(true), ec);
    return {};
  }

  void drop() {
    if (stream) {
      boost::system::error_code ignored;
      stream->socket().close(ignored);
    }
    stream.reset();
    buffer.clear();
  }

  // One request/answer on the kept-alive connection. `wait_forever`: /next, which the runtime
  // API holds until an event arrives (on AWS the environment is frozen meanwhile).
  Result<http::response<http::string_body>> exchange(http::verb verb, const std::string& path,
                                                     std::string_view body,
                                                     const std::vector<HeaderField>& headers,
                                                     bool wait_forever) {
    WG_RETURN_IF_ERROR(ensure_connected());
    http::request<http::string_body> req{verb, path, 11};
    req.set(http::field::host, host_header);
    req.set(http::field::user_agent, "writegate-bootstrap");
    for (const auto& h : headers)
      req.set(h.name, h.value);
    if (verb == http::verb::post) {
      req.set(http::field::content_type, "application/json");
      req.body() = std::string(body);
    }
    req.keep_alive(true);
    req.prepare_payload();
    stream->expires_after(kStepTimeout);
    auto ec = run_step([&](auto handler) { http::async_write(*stream, req, handler); });
    if (ec) {
      drop();
      return Error::unavailable("runtime API write: " + ec.message());
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxPayloadBytes + 1024);
    parser.header_limit(64 * 1024);
    if (wait_forever) {
      stream->expires_never();
    } else {
      stream->expires_after(kStepTimeout);
    }
    ec = run_step([&](auto handler) { http::async_read(*stream, buffer, parser, handler); });
    if (ec) {
      drop();
      return Error::unavailable("runtime API read: " + ec.message());
    }
    auto res = parser.release();
    if (!res.keep_alive()) drop();
    return res;
  }
};

RuntimeClient::RuntimeClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RuntimeClient::~RuntimeClient() = default;

Result<std::unique_ptr<RuntimeClient>> RuntimeClient::from_environment() {
  const char* api = std::getenv("AWS_LAMBDA_RUNTIME_API");
  if (api == nullptr || *api == '\0') {
    return Error::failed_precondition(
        "AWS_LAMBDA_RUNTIME_API is not set: bootstrap runs inside Lambda (or the local Lambda "
        "of `writegate endpoint serve`)");
  }
  return connect_to(api);
}

Result<std::unique_ptr<RuntimeClient>> RuntimeClient::connect_to(std::string_view host_port) {
  auto impl = std::make_unique<Impl>();
  std::size_t colon = host_port.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == host_port.size()) {
    return Error::invalid_argument("AWS_LAMBDA_RUNTIME_API must be HOST:PORT");
  }
  impl->host = std::string(host_port.substr(0, colon));
  impl->port = std::string(host_port.substr(colon + 1));
  impl->host_header = std::string(host_port);
  return std::unique_ptr<RuntimeClient>(new RuntimeClient(std::move(impl)));
}

Result<Invocation> RuntimeClient::next() {
  Error last = Error::unavailable("no attempt");
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20 << (2 * attempt)));
    auto res = impl_->exchange(http::verb::get, next_path(), {}, {}, /*wait_forever=*/true);
    if (!res) {
      last = std::move(res).error();
      continue;
    }
    std::vector<HeaderField> headers;
    for (const auto& field : *res)
      headers.push_back({std::string(field.name_string()), std::string(field.value())});
    const int status = static_cast<int>(res->result_int());
    if (status >= 500) {
      last =
          Error::unavailable("the runtime API answered /next with HTTP " + std::to_string(status));
      continue;
    }
    return invocation_from_response(status, headers, std::move(res->body()));
  }
  return last;
}

Status RuntimeClient::post(const std::string& path, std::string_view body,
                           const std::vector<HeaderField>& headers) {
  Error last = Error::unavailable("no attempt");
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20 << (2 * attempt)));
    auto res = impl_->exchange(http::verb::post, path, body, headers, /*wait_forever=*/false);
    if (!res) {
      last = std::move(res).error();
      continue;
    }
    const int status = static_cast<int>(res->result_int());
    if (status == 202 || status == 200) return {};
    if (status >= 500) {
      last = Error::unavailable("the runtime API answered " + path + " with HTTP " +
                                std::to_string(status));
      continue;
    }
    // 400 (bad request id), 403, 413 (payload too large): retrying cannot help.
    return Error::failed_precondition("the runtime API refused " + path + " with HTTP " +
                                      std::to_string(status) + ": " + res->body().substr(0, 256));
  }
  return last;
}

Status RuntimeClient::respond(std::string_view request_id, std::string_view body) {
  return post(response_path(request_id), body, {});
}

Status RuntimeClient::fail(std::string_view request_id, const FunctionError& error) {
  return post(error_path(request_id), error_body(error.message, error.type),
              {{"Lambda-Runtime-Function-Error-Type", error.type}});
}

Status RuntimeClient::init_failed(const FunctionError& error) {
  return post(init_error_path(), error_body(error.message, error.type),
              {{"Lambda-Runtime-Function-Error-Type", error.type}});
}

}  // namespace writegate::lambda
