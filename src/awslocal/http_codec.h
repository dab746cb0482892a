// HTTP/1.1 framing for the local AWS endpoint without sockets: bytes -> Request (with the
// endpoint's size caps) and Response -> bytes. The server uses the same caps and the same
// error answers; the fuzz target drives bytes -> parse -> Router -> bytes through here.
//
//   auto request = parse_http_request(bytes, HttpLimits{});
//   Response response = request ? router.handle(*request)
//                               : render_error(Protocol::kQuery, request.error(), id);
//   std::string wire = serialize_http_response(response, /*keep_alive=*/false);
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include "awslocal/api.h"

namespace writegate::awslocal {

struct HttpLimits {
  size_t max_header_bytes = 16 * 1024;  // request line + headers
  size_t max_body_bytes = 1024 * 1024;
};

// One complete request from `bytes`, or the error the endpoint answers with:
// 431 RequestHeaderFieldsTooLarge, 413 RequestEntityTooLarge, 400 MalformedHTTPRequest
// (also for a request that ends early).
std::variant<Request, ApiError> parse_http_request(std::string_view bytes,
                                                   const HttpLimits& limits = {});

// "HTTP/1.1 <status> <reason>\r\n" + headers + Content-Length + body.
std::string serialize_http_response(const Response& response, bool keep_alive);

}  // namespace writegate::awslocal
