#include "awslocal/client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <nlohmann/json.hpp>

#include "awslocal/kms.h"
#include "iam/policy.h"

namespace writegate::awslocal {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using nlohmann::json;

// Runs one asynchronous step to completion on `ioc`; the stream's timer bounds it.
template <class Start>
error_code run_step(net::io_context& ioc, Start&& start) {
  error_code result = net::error::would_block;
  start([&result](error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

Error transport_error(const EndpointUrl& url, std::string_view step, const error_code& ec) {
  return Error::unavailable("cannot reach the AWS endpoint " + url.host + ":" +
                            std::to_string(url.port) + " (" + std::string(step) +
                            "): " + ec.message());
}

Response to_response(http::response<http::string_body>&& message) {
  Response r;
  r.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    r.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  r.body = std::move(message.body());
  return r;
}

template <class Stream>
Result<Response> exchange(net::io_context& ioc, Stream& stream, const EndpointUrl& url,
                          http::request<http::string_body>& request,
                          std::chrono::milliseconds timeout) {
  auto& lowest = beast::get_lowest_layer(stream);
  lowest.expires_after(timeout);
  error_code ec = run_step(ioc, [&](auto handler) { http::async_write(stream, request, handler); });
  if (ec) return transport_error(url, "sending the request", ec);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  lowest.expires_after(timeout);
  ec = run_step(ioc, [&](auto handler) { http::async_read(stream, buffer, response, handler); });
  if (ec) return transport_error(url, "reading the answer", ec);
  return to_response(std::move(response));
}

ErrorCode error_code_for(std::string_view code) {
  if (code.rfind("AccessDenied", 0) == 0) return ErrorCode::kPermissionDenied;
  if (code == "InvalidClientTokenId" || code == "UnrecognizedClientException" ||
      code == "SignatureDoesNotMatch" || code == "InvalidSignatureException" ||
      code == "ExpiredToken" || code == "ExpiredTokenException" ||
      code.rfind("MissingAuthenticationToken", 0) == 0 ||
      code.rfind("IncompleteSignature", 0) == 0) {
    return ErrorCode::kUnauthenticated;
  }
  if (code == "ResourceNotFoundException") return ErrorCode::kNotFound;
  if (code == "InternalFailure" || code == "InternalServiceError") return ErrorCode::kUnavailable;
  return ErrorCode::kFailedPrecondition;
}

std::string xml_unescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out += text[i];
      continue;
    }
    size_t semi = text.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out += text[i];
      continue;
    }
    std::string_view entity = text.substr(i + 1, semi - i - 1);
    if (entity == "amp") {
      out += '&';
    } else if (entity == "lt") {
      out += '<';
    } else if (entity == "gt") {
      out += '>';
    } else if (entity == "quot") {
      out += '"';
    } else if (entity == "apos") {
      out += '\'';
    } else if (entity.size() > 1 && entity[0] == '#') {
      unsigned value = 0;
      bool hex = entity[1] == 'x';
      std::string_view digits = entity.substr(hex ? 2 : 1);
      auto [end, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), value, hex ? 16 : 10);
      if (ec != std::errc() || end != digits.data() + digits.size() || value > 0x7f) {
        out += '?';  // only ASCII character references are expected in STS answers
      } else {
        out += static_cast<char>(value);
      }
    } else {
      out.append(text.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += sigv4::uri_encode(k);
    out += '=';
    out += sigv4::uri_encode(v);
  }
  return out;
}

}  // namespace

Result<EndpointUrl> parse_endpoint_url(std::string_view url) {
  EndpointUrl out;
  std::string_view rest;
  if (url.rfind("https://", 0) == 0) {
    out.tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return Error::invalid_argument("endpoint URL '" + std::string(url) +
                                   "' must start with https:// or http://");
  }
  while (!rest.empty() && rest.back() == '/')
    rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) {
    return Error::invalid_argument("endpoint URL '" + std::string(url) + "' must not have a path");
  }
  std::string_view host = rest;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return Error::invalid_argument("endpoint URL '" + std::string(url) + "' has a bad IPv6 host");
    }
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':')
        return Error::invalid_argument("bad endpoint URL " + std::string(url));
      port = rest.substr(close + 2);
    }
  } else if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty())
    return Error::invalid_argument("endpoint URL '" + std::string(url) + "' has no host");
  out.host = std::string(host);
  out.port = out.tls ? 443 : 80;
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return Error::invalid_argument("endpoint URL '" + std::string(url) + "' has a bad port");
    }
    out.port = static_cast<uint16_t>(value);
  }
  return out;
}

Result<Response> send_signed(const ClientOptions& options, sigv4::HttpRequest request,
                             std::string_view service, const sigv4::Credentials& credentials) {
  WG_ASSIGN_OR_RETURN(EndpointUrl url, parse_endpoint_url(options.endpoint_url));
  const bool v6 = url.host.find(':') != std::string::npos;
  const std::string host_header =
      (v6 ? "[" + url.host + "]" : url.host) + ":" + std::to_string(url.port);
  request.headers.push_back({"Host", host_header});
  sigv4::SigningParams params;
  params.region = options.region;
  params.service = std::string(service);
  params.time = std::chrono::system_clock::now();
  WG_RETURN_IF_ERROR(sigv4::sign_request(request, credentials, params));

  http::request<http::string_body> message;
  message.method_string(request.method);
  std::string target = request.path;
  if (!request.query.empty()) target += sigv4::encode_query_string(request.query);
  message.target(target);
  message.version(11);
  for (const auto& h : request.headers)
    message.insert(h.name, h.value);
  message.set(http::field::user_agent, "writegate-awslocal");
  message.body() = request.body;
  message.keep_alive(false);
  message.prepare_payload();

  net::io_context ioc;
  tcp::resolver resolver(ioc);
  error_code ec;
  auto endpoints = resolver.resolve(url.host, std::to_string(url.port), ec);
  if (ec) return transport_error(url, "resolving the host", ec);

  if (!url.tls) {
    beast::tcp_stream stream(ioc);
    stream.expires_after(options.timeout);
    ec = run_step(ioc, [&](auto handler) { stream.async_connect(endpoints, handler); });
    if (ec) return transport_error(url, "connecting", ec);
    auto response = exchange(ioc, stream, url, message, options.timeout);
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return response;
  }

  ssl::context tls(ssl::context::tls_client);
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                  ec);
  tls.set_verify_mode(ssl::verify_peer, ec);
  if (!options.ca_file.empty()) {
    tls.load_verify_file(options.ca_file, ec);
    if (ec) {
      return Error::invalid_argument("cannot load the CA bundle " + options.ca_file + ": " +
                                     ec.message());
    }
  } else {
    tls.set_default_verify_paths(ec);
  }
  beast::ssl_stream<beast::tcp_stream> stream(ioc, tls);
  SSL* ssl_handle = stream.native_handle();
  error_code address_ec;
  (void)net::ip::make_address(url.host, address_ec);
  if (!address_ec) {
    // An IP address: the certificate must name it in subjectAltName (iPAddress).
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), url.host.c_str()) != 1) {
      return Error::internal("cannot set the expected server IP address");
    }
  } else {
    if (SSL_set_tlsext_host_name(ssl_handle, url.host.c_str()) != 1 ||
        SSL_set1_host(ssl_handle, url.host.c_str()) != 1) {
      return Error::internal("cannot set the expected server name");
    }
  }
  beast::get_lowest_layer(stream).expires_after(options.timeout);
  ec = run_step(ioc, [&](auto handler) {
    beast::get_lowest_layer(stream).async_connect(endpoints, handler);
  });
  if (ec) return transport_error(url, "connecting", ec);
  beast::get_lowest_layer(stream).expires_after(options.timeout);
  ec = run_step(ioc,
                [&](auto handler) { stream.async_handshake(ssl::stream_base::client, handler); });
  if (ec) return transport_error(url, "TLS handshake, verifying the server certificate", ec);
  auto response = exchange(ioc, stream, url, message, options.timeout);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
  (void)run_step(ioc, [&](auto handler) { stream.async_shutdown(handler); });
  return response;
}

Result<std::string> xml_element_text(std::string_view xml, std::string_view name) {
  const std::string open = "<" + std::string(name) + ">";
  const std::string close = "</" + std::string(name) + ">";
  size_t start = xml.find(open);
  if (start == std::string_view::npos) {
    return Error::not_found("the answer has no <" + std::string(name) + "> element");
  }
  start += open.size();
  size_t end = xml.find(close, start);
  if (end == std::string_view::npos) {
    return Error::invalid_argument("the <" + std::string(name) + "> element is not closed");
  }
  return xml_unescape(xml.substr(start, end - start));
}

Error error_from_response(const Response& response, std::string_view operation) {
  std::string code;
  std::string message;
  std::string_view error_type = response.header("x-amzn-ErrorType");
  json doc = json::parse(response.body, nullptr, false);
  if (doc.is_object()) {
    if (auto it = doc.find("__type"); it != doc.end() && it->is_string()) {
      code = it->get<std::string>();
    }
    for (const char* key : {"message", "Message"}) {
      if (auto it = doc.find(key); it != doc.end() && it->is_string() && message.empty()) {
        message = it->get<std::string>();
      }
    }
  } else {
    if (auto c = xml_element_text(response.body, "Code")) code = *c;
    if (auto m = xml_element_text(response.body, "Message")) message = *m;
  }
  if (code.empty() && !error_type.empty())
    code = std::string(error_type.substr(0, error_type.find(':')));
  if (size_t hash = code.rfind('#'); hash != std::string::npos) code = code.substr(hash + 1);
  if (code.empty()) code = "HTTP" + std::to_string(response.status);
  return Error(error_code_for(code), std::string(operation) + ": " + code + ": " +
                                         (message.empty() ? "(no message)" : message))
      .with_subcode(code);
}

Result<GetSecretValueResult> SecretsManagerClient::get_secret_value(
    std::string_view secret_id, const sigv4::Credentials& credentials,
    std::string_view version_stage) const {
  json body{{"SecretId", std::string(secret_id)}};
  if (!version_stage.empty()) body["VersionStage"] = std::string(version_stage);
  sigv4::HttpRequest request;
  request.method = "POST";
  request.path = "/";
  request.headers.push_back({"Content-Type", "application/x-amz-json-1.1"});
  request.headers.push_back({"X-Amz-Target", "secretsmanager.GetSecretValue"});
  request.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  WG_ASSIGN_OR_RETURN(Response response,
                      send_signed(options_, std::move(request), "secretsmanager", credentials));
  if (response.status != 200) return error_from_response(response, "GetSecretValue");
  json doc = json::parse(response.body, nullptr, false);
  // The body held the plaintext; from here on only the SecretStrings below do.
  wipe_string(response.body);
  if (!doc.is_object()) {
    return Error::invalid_argument("GetSecretValue: the answer is not a JSON object");
  }
  GetSecretValueResult out;
  auto text = [&](const char* key) -> std::optional<std::string> {
    auto it = doc.find(key);
    if (it == doc.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  out.arn = text("ARN").value_or("");
  out.name = text("Name").value_or("");
  out.version_id = text("VersionId").value_or("");
  if (auto it = doc.find("VersionStages"); it != doc.end() && it->is_array()) {
    for (const auto& s : *it) {
      if (s.is_string()) out.version_stages.push_back(s.get<std::string>());
    }
  }
  // The value moves out of the parsed document into a SecretString, which wipes the source.
  if (auto it = doc.find("SecretString"); it != doc.end() && it->is_string()) {
    out.secret_string.emplace(std::move(it->get_ref<std::string&>()));
  }
  if (auto it = doc.find("SecretBinary"); it != doc.end() && it->is_string()) {
    auto decoded = base64_decode(it->get_ref<const std::string&>());
    if (!decoded) return Error::invalid_argument("GetSecretValue: SecretBinary is not base64");
    out.secret_binary.emplace(std::move(*decoded));
  }
  if (out.arn.empty() || (!out.secret_string && !out.secret_binary)) {
    return Error::invalid_argument("GetSecretValue: the answer lacks ARN or the secret value");
  }
  return out;
}

Result<DatabaseSecret> parse_database_secret(std::string_view secret_string) {
  json doc = json::parse(secret_string, nullptr, false);
  if (!doc.is_object()) {
    return Error::invalid_argument(
        "the secret is not a JSON object with \"username\" and \"password\"");
  }
  DatabaseSecret out;
  for (const char* key : {"username", "password"}) {
    auto it = doc.find(key);
    if (it == doc.end() || !it->is_string()) {
      return Error::invalid_argument(std::string("the secret has no string \"") + key + "\"");
    }
  }
  out.username = doc["username"].get<std::string>();
  // Moved into the SecretString, which wipes the parsed copy.
  out.password = std::move(doc["password"].get_ref<std::string&>());
  if (out.username.empty()) return Error::invalid_argument("the secret's username is empty");
  return out;
}

Result<CallerIdentity> StsClient::get_caller_identity(const sigv4::Credentials& credentials) const {
  sigv4::HttpRequest request;
  request.method = "POST";
  request.path = "/";
  request.headers.push_back({"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"});
  request.body = form_encode({{"Action", "GetCallerIdentity"}, {"Version", "2011-06-15"}});
  WG_ASSIGN_OR_RETURN(Response response,
                      send_signed(options_, std::move(request), "sts", credentials));
  if (response.status != 200) return error_from_response(response, "GetCallerIdentity");
  CallerIdentity out;
  WG_ASSIGN_OR_RETURN(out.arn, xml_element_text(response.body, "Arn"));
  WG_ASSIGN_OR_RETURN(out.user_id, xml_element_text(response.body, "UserId"));
  WG_ASSIGN_OR_RETURN(out.account, xml_element_text(response.body, "Account"));
  return out;
}

Result<AssumedRole> StsClient::assume_role(const sigv4::Credentials& credentials,
                                           std::string_view role_arn, std::string_view session_name,
                                           std::chrono::seconds duration) const {
  sigv4::HttpRequest request;
  request.method = "POST";
  request.path = "/";
  request.headers.push_back({"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"});
  request.body = form_encode({{"Action", "AssumeRole"},
                              {"Version", "2011-06-15"},
                              {"RoleArn", std::string(role_arn)},
                              {"RoleSessionName", std::string(session_name)},
                              {"DurationSeconds", std::to_string(duration.count())}});
  WG_ASSIGN_OR_RETURN(Response response,
                      send_signed(options_, std::move(request), "sts", credentials));
  if (response.status != 200) return error_from_response(response, "AssumeRole");
  AssumedRole out;
  WG_ASSIGN_OR_RETURN(out.credentials.access_key_id,
                      xml_element_text(response.body, "AccessKeyId"));
  WG_ASSIGN_OR_RETURN(out.credentials.secret_access_key,
                      xml_element_text(response.body, "SecretAccessKey"));
  WG_ASSIGN_OR_RETURN(out.credentials.session_token,
                      xml_element_text(response.body, "SessionToken"));
  WG_ASSIGN_OR_RETURN(std::string expiration, xml_element_text(response.body, "Expiration"));
  WG_ASSIGN_OR_RETURN(int64_t expiration_ms, iam::parse_date(expiration));
  out.expiration = std::chrono::system_clock::time_point(std::chrono::milliseconds(expiration_ms));
  WG_ASSIGN_OR_RETURN(out.assumed_role_arn, xml_element_text(response.body, "Arn"));
  WG_ASSIGN_OR_RETURN(out.assumed_role_id, xml_element_text(response.body, "AssumedRoleId"));
  return out;
}

}  // namespace writegate::awslocal
