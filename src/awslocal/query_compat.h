// The two newer wire protocols of a service that began on the query API and declares
// `awsQueryCompatible` (CloudWatch): JSON 1.0 and Smithy RPC v2 CBOR. Current AWS SDKs and
// the aws CLI speak one of these to CloudWatch (botocore 1.43 picks JSON 1.0; the Go, Ruby,
// PHP and JavaScript SDKs since 2025 pick CBOR), older ones the query API.
//
//   JSON 1.0  POST /, X-Amz-Target: <target>.<Operation>, Content-Type application/x-amz-json-1.0
//   RPC v2    POST /service/<target>/operation/<Operation>, smithy-protocol: rpc-v2-cbor,
//             Content-Type application/cbor; timestamps are CBOR tag 1 (epoch seconds)
//
// The service keeps one request parser, the query API's: a JSON or CBOR body is turned into the
// query parameters the query API would have sent for it (a list's items as `Name.member.N`, a
// structure's members as `Name.Member`, timestamps as ISO 8601). Answers are one JSON document
// rendered in the caller's protocol. Errors keep the query API's code, carried as AWS carries it
// for such services: `{"__type": code, "message": ...}` plus the header
// `x-amzn-query-error: <code>;Sender`, from which the SDKs take the code they show.
//
//   auto params = query_params_from_body(Protocol::kRpcV2Cbor, body, {"StartTime", "EndTime"});
//   if (!params) return params.error();                   // SerializationException, 400
//   Response r = document_response(Protocol::kRpcV2Cbor, answer, {"Timestamp", "Timestamps"},
//                                  request_id);
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "awslocal/api.h"
#include "sigv4/sigv4.h"

namespace writegate::awslocal {

// CBOR (RFC 8949) decoding of an untrusted body: nesting deeper than `max_depth` or any
// malformed item is refused with a reason; tags are dropped (tag 1 leaves its number), byte
// strings become binary values. Never throws.
std::variant<nlohmann::json, std::string> cbor_decode(std::string_view bytes,
                                                      std::size_t max_depth = 32);

// CBOR encoding with definite lengths: text strings, integers, float64, booleans, null, arrays
// and maps (in the document's order). A number that is the value of a member named in
// `timestamp_members`, or an item of an array that is, is written as tag 1 (epoch seconds).
std::string cbor_encode(const nlohmann::ordered_json& value,
                        const std::vector<std::string_view>& timestamp_members = {});

// The query API's parameters for a JSON 1.0 or CBOR request body (empty: none). Members named
// in `timestamp_members` must be numbers (epoch seconds) and become ISO 8601 (milliseconds when
// not whole seconds).
// A body that is not one object of strings, numbers, booleans, arrays and objects is refused as
// AWS refuses it: SerializationException (400). Caps: 40,000 values, 4 MiB of names and values.
std::variant<std::vector<sigv4::QueryParam>, ApiError> query_params_from_body(
    Protocol protocol, std::string_view body,
    const std::vector<std::string_view>& timestamp_members);

// A 200 answer holding `document` in the protocol (JSON 1.0 or CBOR; timestamps as above, in
// JSON as epoch seconds numbers), with its Content-Type (and smithy-protocol for CBOR).
Response document_response(Protocol protocol, const nlohmann::ordered_json& document,
                           const std::vector<std::string_view>& timestamp_members,
                           std::string_view request_id);

}  // namespace writegate::awslocal
