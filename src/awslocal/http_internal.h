// Private to writegate_awslocal: conversions between Beast messages and Request/Response.
#pragma once

#include <boost/beast/http.hpp>

#include "awslocal/api.h"

namespace writegate::awslocal {

ApiError http_error_for(const boost::system::error_code& ec);
Request to_request(boost::beast::http::request<boost::beast::http::string_body>&& message);
boost::beast::http::response<boost::beast::http::string_body> to_message(const Response& response,
                                                                         unsigned version,
                                                                         bool keep_alive);

}  // namespace writegate::awslocal
