// The request/response types of the local AWS endpoint and the AWS-shaped errors it answers with.
//
// The endpoint speaks the AWS wire protocols its services use: the query API (STS: form
// parameters, XML answers), JSON 1.1 (Secrets Manager: `X-Amz-Target`,
// `application/x-amz-json-1.1`), REST JSON (Lambda Invoke: the operation is in the path), and for
// a query API service that also takes them (CloudWatch, awsQueryCompatible) JSON 1.0 and Smithy
// RPC v2 CBOR (awslocal/query_compat.h). An ApiError is protocol-neutral; the
// router renders it the way the real service would, so the aws CLI prints
// `An error occurred (AccessDeniedException) when calling the GetSecretValue operation: ...`.
//
//   ApiError e = access_denied(Protocol::kJson11, "User: arn:... is not authorized to ...");
//   Response r = render_error(Protocol::kJson11, e, request_id);   // 400, {"__type":...}
//
// Error messages never contain secret values, secret keys or session tokens.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sigv4/auth_result.h"
#include "sigv4/sigv4.h"

namespace writegate::awslocal {

enum class Protocol {
  kQuery,     // Action=...&Version=... (GET query or POST form body); XML answers
  kJson11,    // POST, X-Amz-Target: Prefix.Operation, JSON body and answers
  kRestJson,  // the operation is named by method and path; JSON answers
  // A query API service's newer protocols (awsQueryCompatible: the query API's error codes).
  kJson10,     // POST, X-Amz-Target, application/x-amz-json-1.0
  kRpcV2Cbor,  // POST /service/<target>/operation/<Operation>, smithy-protocol: rpc-v2-cbor
};
// "query", "json-1.1", "rest-json", "json-1.0", "rpc-v2-cbor"
std::string_view protocol_name(Protocol protocol);
// Whether errors carry the query API's codes and statuses (query, JSON 1.0, RPC v2 CBOR).
bool query_compatible(Protocol protocol);

// One HTTP request as the endpoint received it.
struct Request {
  std::string method = "GET";
  std::string target = "/";  // as on the wire: "/path?query"
  std::vector<sigv4::Header> headers;
  std::string body;
  std::string remote_address;     // "127.0.0.1" (for aws:SourceIp and logs)
  bool secure_transport = false;  // came over TLS (aws:SecureTransport)
  // Came in on a listener opened in another network namespace (Endpoint's extra_listeners),
  // not on the host's: the router's public pages are not served there.
  bool namespace_listener = false;
};

struct Response {
  int status = 200;
  std::vector<sigv4::Header> headers;  // Content-Type and x-amzn-RequestId included
  std::string body;

  // The first header with this name (case-insensitive), if any.
  std::string_view header(std::string_view name) const;
};

// An error as an AWS service reports it.
struct ApiError {
  int http_status = 400;
  std::string code;          // "AccessDenied", "AccessDeniedException", "InvalidClientTokenId", ...
  std::string message;       // for the user; never holds a secret
  bool sender_fault = true;  // <Type>Sender</Type> vs Receiver (query API)
};

ApiError make_error(int http_status, std::string code, std::string message);

// The code and HTTP status AWS uses for a refused signature, in each protocol:
//   unknown key / bad token  query InvalidClientTokenId 403   json UnrecognizedClientException 400
//   bad signature, skew      query SignatureDoesNotMatch 403  json InvalidSignatureException 400
//   expired session          query ExpiredToken 400           json ExpiredTokenException 400
//   unsigned request         query MissingAuthenticationToken 403 (json: ...Exception 400)
//   malformed signature      query IncompleteSignature 400    json IncompleteSignatureException 400
// REST JSON uses the JSON names with status 403 (400 for malformed).
// `detail` (the verifier's reason) is appended to the message where AWS is explicit too.
ApiError auth_error(Protocol protocol, sigv4::AuthFailure failure, std::string_view detail);
// The caller's session expired (the store refused its key as expired).
ApiError expired_token(Protocol protocol);
// AccessDenied (query, 403) / AccessDeniedException (json 400, rest 403).
ApiError access_denied(Protocol protocol, std::string message);
// A service-specific error whose name is the same in every protocol, e.g.
// ResourceNotFoundException, InvalidParameterException.
ApiError service_error(int http_status, std::string code, std::string message);

// The XML namespace of query-API error bodies (STS: https://sts.amazonaws.com/doc/2011-06-15/).
inline constexpr std::string_view kStsXmlNamespace = "https://sts.amazonaws.com/doc/2011-06-15/";

// Renders an error:
//   query:     <ErrorResponse xmlns="NS"><Error><Type>Sender</Type><Code>C</Code>
//              <Message>M</Message></Error><RequestId>ID</RequestId></ErrorResponse>
//   json-1.1:  {"__type":"C","message":"M"}  (Content-Type application/x-amz-json-1.1)
//   rest-json: {"Type":"User","message":"M"} with header x-amzn-ErrorType: C
//   json-1.0, rpc-v2-cbor: {"__type":"C","message":"M"} in JSON or CBOR, with header
//              x-amzn-query-error: C;Sender (or ;Receiver), as awsQueryCompatible services send
// Every answer carries x-amzn-RequestId.
Response render_error(Protocol protocol, const ApiError& error, std::string_view request_id,
                      std::string_view xml_namespace = kStsXmlNamespace);

// A query-API answer: 200, text/xml, x-amzn-RequestId, `body` as given.
Response xml_response(std::string body, std::string_view request_id);
// The "  <ResponseMetadata><RequestId>ID</RequestId></ResponseMetadata>" block that ends it.
std::string xml_response_metadata(std::string_view request_id);

// XML text escaping (&, <, >, ", ').
std::string xml_escape(std::string_view text);

// A random (version 4) UUID, e.g. a request id.
std::string new_request_id();

}  // namespace writegate::awslocal
