#include "awslocal/api.h"

#include <openssl/rand.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "awslocal/query_compat.h"
#include "common/strings.h"

namespace writegate::awslocal {

namespace {

constexpr std::string_view kInvalidToken = "The security token included in the request is invalid.";
constexpr std::string_view kBadSignature =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";
constexpr std::string_view kExpiredToken = "The security token included in the request is expired";

// The code of a signature error in each protocol: query name, JSON name.
struct CodePair {
  std::string_view query;
  std::string_view json;
};

ApiError protocol_error(Protocol protocol, CodePair codes, int query_status, int json_status,
                        int rest_status, std::string message) {
  switch (protocol) {
    case Protocol::kQuery:
    case Protocol::kJson10:
    case Protocol::kRpcV2Cbor:
      return make_error(query_status, std::string(codes.query), std::move(message));
    case Protocol::kJson11:
      return make_error(json_status, std::string(codes.json), std::move(message));
    case Protocol::kRestJson:
      return make_error(rest_status, std::string(codes.json), std::move(message));
  }
  return make_error(500, "InternalFailure", "unknown protocol");
}

}  // namespace

std::string_view protocol_name(Protocol protocol) {
  switch (protocol) {
    case Protocol::kQuery:
      return "query";
    case Protocol::kJson11:
      return "json-1.1";
    case Protocol::kRestJson:
      return "rest-json";
    case Protocol::kJson10:
      return "json-1.0";
    case Protocol::kRpcV2Cbor:
      return "rpc-v2-cbor";
  }
  return "unknown";
}

bool query_compatible(Protocol protocol) {
  return protocol == Protocol::kQuery || protocol == Protocol::kJson10 ||
         protocol == Protocol::kRpcV2Cbor;
}

std::string_view Response::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return {};
}

ApiError make_error(int http_status, std::string code, std::string message) {
  ApiError e;
  e.http_status = http_status;
  e.code = std::move(code);
  e.message = std::move(message);
  e.sender_fault = http_status < 500;
  return e;
}

ApiError auth_error(Protocol protocol, sigv4::AuthFailure failure, std::string_view detail) {
  using sigv4::AuthFailure;
  const std::string detail_text(detail);
  switch (failure) {
    case AuthFailure::kUnknownKey:
    case AuthFailure::kBadSecurityToken:
      return protocol_error(protocol, {"InvalidClientTokenId", "UnrecognizedClientException"}, 403,
                            400, 403, std::string(kInvalidToken));
    case AuthFailure::kSessionExpired:
      return expired_token(protocol);
    case AuthFailure::kBadSignature:
    case AuthFailure::kPayloadHashMismatch:
    case AuthFailure::kUnsignedPayload:
      return protocol_error(protocol, {"SignatureDoesNotMatch", "InvalidSignatureException"}, 403,
                            400, 403, std::string(kBadSignature));
    case AuthFailure::kExpired:
    case AuthFailure::kNotYetValid:
      return protocol_error(protocol, {"SignatureDoesNotMatch", "InvalidSignatureException"}, 403,
                            400, 403, "Signature expired: " + detail_text);
    case AuthFailure::kWrongService:
      return protocol_error(protocol, {"SignatureDoesNotMatch", "InvalidSignatureException"}, 403,
                            400, 403,
                            "Credential should be scoped to correct service: " + detail_text);
    case AuthFailure::kWrongRegion:
      return protocol_error(protocol, {"SignatureDoesNotMatch", "InvalidSignatureException"}, 403,
                            400, 403,
                            "Credential should be scoped to a valid region: " + detail_text);
    default:
      return protocol_error(protocol, {"IncompleteSignature", "IncompleteSignatureException"}, 400,
                            400, 400, detail_text);
  }
}

ApiError expired_token(Protocol protocol) {
  return protocol_error(protocol, {"ExpiredToken", "ExpiredTokenException"}, 400, 400, 403,
                        std::string(kExpiredToken));
}

ApiError access_denied(Protocol protocol, std::string message) {
  return protocol_error(protocol, {"AccessDenied", "AccessDeniedException"}, 403, 400, 403,
                        std::move(message));
}

ApiError service_error(int http_status, std::string code, std::string message) {
  return make_error(http_status, std::move(code), std::move(message));
}

Response xml_response(std::string body, std::string_view request_id) {
  Response r;
  r.status = 200;
  r.headers.push_back({"x-amzn-RequestId", std::string(request_id)});
  r.headers.push_back({"Content-Type", "text/xml"});
  r.body = std::move(body);
  return r;
}

std::string xml_response_metadata(std::string_view request_id) {
  return "  <ResponseMetadata>\n    <RequestId>" + xml_escape(request_id) +
         "</RequestId>\n  </ResponseMetadata>\n";
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 forbids most control characters, even escaped: replace them.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') {
          out += '?';
        } else {
          out += c;
        }
    }
  }
  return out;
}

Response render_error(Protocol protocol, const ApiError& error, std::string_view request_id,
                      std::string_view xml_namespace) {
  Response r;
  r.status = error.http_status;
  r.headers.push_back({"x-amzn-RequestId", std::string(request_id)});
  switch (protocol) {
    case Protocol::kQuery: {
      r.headers.push_back({"Content-Type", "text/xml"});
      r.body = "<ErrorResponse xmlns=\"" + xml_escape(xml_namespace) +
               "\">\n  <Error>\n    <Type>" + (error.sender_fault ? "Sender" : "Receiver") +
               "</Type>\n    <Code>" + xml_escape(error.code) + "</Code>\n    <Message>" +
               xml_escape(error.message) + "</Message>\n  </Error>\n  <RequestId>" +
               xml_escape(request_id) + "</RequestId>\n</ErrorResponse>\n";
      break;
    }
    case Protocol::kJson11: {
      r.headers.push_back({"Content-Type", "application/x-amz-json-1.1"});
      nlohmann::ordered_json body{{"__type", error.code}, {"message", error.message}};
      r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      break;
    }
    case Protocol::kRestJson: {
      r.headers.push_back({"Content-Type", "application/json"});
      r.headers.push_back({"x-amzn-ErrorType", error.code});
      nlohmann::ordered_json body{{"Type", error.sender_fault ? "User" : "Service"},
                                  {"message", error.message}};
      r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      break;
    }
    case Protocol::kJson10:
    case Protocol::kRpcV2Cbor: {
      r.headers.push_back(
          {"x-amzn-query-error", error.code + (error.sender_fault ? ";Sender" : ";Receiver")});
      nlohmann::ordered_json body{{"__type", error.code}, {"message", error.message}};
      if (protocol == Protocol::kJson10) {
        r.headers.push_back({"Content-Type", "application/x-amz-json-1.0"});
        r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      } else {
        r.headers.push_back({"Content-Type", "application/cbor"});
        r.headers.push_back({"smithy-protocol", "rpc-v2-cbor"});
        r.body = cbor_encode(body);
      }
      break;
    }
  }
  return r;
}

std::string new_request_id() {
  std::array<uint8_t, 16> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    // Request ids only correlate logs; a counter keeps them unique if the CSPRNG fails.
    static std::atomic<uint64_t> counter{0};
    uint64_t n = ++counter;
    for (size_t i = 0; i < 8; ++i)
      b[i] = static_cast<uint8_t>(n >> (8 * i));
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0xf];
  }
  return out;
}

}  // namespace writegate::awslocal
