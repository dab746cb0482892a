// JSON 1.0 and RPC v2 CBOR bodies (awslocal/query_compat.h) come from any caller before its
// signature is known to be good: the CBOR decoder and the flattening must take any bytes, never
// recurse past their depth cap, and a decoded CBOR document must encode and decode to itself.
// Byte 0 picks the protocol (bit 0: CBOR); the rest is the body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>

#include "awslocal/query_compat.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace writegate::awslocal;
  if (size == 0) return 0;
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Protocol protocol = (data[0] & 1) ? Protocol::kRpcV2Cbor : Protocol::kJson10;
  (void)query_params_from_body(protocol, body, {"StartTime", "EndTime"});
  auto decoded = cbor_decode(body);
  if (auto* document = std::get_if<nlohmann::json>(&decoded)) {
    // NaN never equals itself: compare the encodings, which are stable.
    const std::string once = cbor_encode(nlohmann::ordered_json(*document));
    auto again = cbor_decode(once);
    if (!std::holds_alternative<nlohmann::json>(again)) std::abort();
    if (cbor_encode(nlohmann::ordered_json(std::get<nlohmann::json>(again))) != once) std::abort();
  }
  return 0;
}
