#include "awslocal/http_codec.h"

#include <algorithm>
#include <boost/beast/http.hpp>

#include "awslocal/http_internal.h"

namespace writegate::awslocal {

namespace http = boost::beast::http;

ApiError http_error_for(const boost::system::error_code& ec) {
  if (ec == http::error::header_limit) {
    return make_error(431, "RequestHeaderFieldsTooLarge",
                      "the request line and headers exceed the endpoint's limit");
  }
  if (ec == http::error::body_limit) {
    return make_error(413, "RequestEntityTooLarge",
                      "the request body exceeds the endpoint's limit");
  }
  return make_error(400, "MalformedHTTPRequest", "the HTTP request is malformed: " + ec.message());
}

Request to_request(http::request<http::string_body>&& message) {
  Request r;
  r.method = std::string(message.method_string());
  r.target = std::string(message.target());
  for (const auto& field : message) {
    r.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  r.body = std::move(message.body());
  return r;
}

http::response<http::string_body> to_message(const Response& response, unsigned version,
                                             bool keep_alive) {
  http::response<http::string_body> out;
  out.version(version);
  out.result(static_cast<unsigned>(response.status));
  for (const auto& h : response.headers)
    out.insert(h.name, h.value);
  out.set(http::field::server, "writegate");
  out.body() = response.body;
  out.keep_alive(keep_alive);
  out.prepare_payload();
  return out;
}

bool is_invoke_target(std::string_view target) {
  return target.rfind("/2015-03-31/functions/", 0) == 0;
}

size_t body_limit_for(std::string_view target, const HttpLimits& limits) {
  return is_invoke_target(target) ? limits.max_invoke_body_bytes : limits.max_body_bytes;
}

Response body_too_large(std::string_view target, const HttpLimits& limits,
                        std::string_view request_id) {
  if (is_invoke_target(target)) {
    return render_error(
        Protocol::kRestJson,
        make_error(413, "RequestEntityTooLargeException",
                   "Request must be smaller than " + std::to_string(limits.max_invoke_body_bytes) +
                       " bytes for the InvokeFunction operation"),
        request_id);
  }
  return render_error(Protocol::kQuery, http_error_for(http::error::body_limit), request_id);
}

std::variant<Request, ApiError> parse_http_request(std::string_view bytes,
                                                   const HttpLimits& limits) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  // The header decides the route's cap; Beast checks Content-Length while parsing the header,
  // so it starts with the larger cap and the route's cap is applied once the header is known.
  parser.body_limit(std::max(limits.max_body_bytes, limits.max_invoke_body_bytes));
  parser.eager(false);
  boost::system::error_code ec;
  size_t used = 0;
  while (!parser.is_header_done() && used < bytes.size()) {
    size_t n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) return http_error_for(http::error::partial_message);
    if (ec) return http_error_for(ec);
    if (n == 0) break;
  }
  if (!parser.is_header_done()) return http_error_for(http::error::partial_message);
  const auto target = parser.get().target();
  const size_t cap = body_limit_for(std::string_view(target.data(), target.size()), limits);
  if (parser.content_length() && *parser.content_length() > cap) {
    return http_error_for(http::error::body_limit);
  }
  parser.body_limit(cap);
  parser.eager(true);
  // Every byte is offered at once and the parser is eager, so "need more" after a call means
  // the request is incomplete. (Offering the same bytes again would break Beast's contract that
  // a retry brings new data: found by the fuzzer, it asserts in the chunk parser.)
  while (!parser.is_done() && used < bytes.size()) {
    size_t n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) return http_error_for(http::error::partial_message);
    if (ec) return http_error_for(ec);
    if (n == 0) break;
  }
  if (!parser.is_done()) return http_error_for(http::error::partial_message);
  return to_request(parser.release());
}

std::string serialize_http_response(const Response& response, bool keep_alive) {
  auto message = to_message(response, 11, keep_alive);
  std::string out;
  http::response_serializer<http::string_body> serializer(message);
  boost::system::error_code ec;
  while (!serializer.is_done() && !ec) {
    serializer.next(ec, [&](boost::system::error_code&, const auto& buffers) {
      size_t n = 0;
      for (auto b : boost::beast::buffers_range_ref(buffers)) {
        out.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      serializer.consume(n);
    });
  }
  return out;
}

}  // namespace writegate::awslocal
