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
  // Lambda Invoke (POST /2015-03-31/functions/...): Lambda's synchronous payload limit.
  size_t max_invoke_body_bytes = 6 * 1024 * 1024;
};

// True for a request target on the Lambda Invoke route ("/2015-03-31/functions/...").
bool is_invoke_target(std::string_view target);
// The body cap for a request target: max_invoke_body_bytes on the Invoke route, else
// max_body_bytes.
size_t body_limit_for(std::string_view target, const HttpLimits& limits);
// The 413 answer for a body over the cap of its route: RequestEntityTooLargeException (REST
// JSON, as Lambda answers) on the Invoke route, else the query API's RequestEntityTooLarge.
Response body_too_large(std::string_view target, const HttpLimits& limits,
                        std::string_view request_id);

// One complete request from `bytes`, or the error the endpoint answers with:
// 431 RequestHeaderFieldsTooLarge, 413 RequestEntityTooLarge, 400 MalformedHTTPRequest
// (also for a request that ends early). The body cap depends on the route (body_limit_for).
std::variant<Request, ApiError> parse_http_request(std::string_view bytes,
                                                   const HttpLimits& limits = {});

// "HTTP/1.1 <status> <reason>\r\n" + headers + Content-Length + body.
std::string serialize_http_response(const Response& response, bool keep_alive);

}  // namespace writegate::awslocal
