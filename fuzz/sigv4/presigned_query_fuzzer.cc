// libFuzzer target: parse_query() and verify_request() of a presigned URL's query on arbitrary
// bytes. Replayed over fuzz/corpus/presigned_query_fuzzer/ by tests/sigv4.
//
// Properties checked (abort on violation):
// - a query that parses re-encodes to a query that parses to the same params;
// - verification does not depend on the order of the parameters, nor on the signing-key cache;
// - a request that verifies is presigned and carries the signature SigV4 computes for its
//   params with the key's secret (verify never accepts a signature not made with the key).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sigv4/sigv4.h"

namespace {

using namespace writegate::sigv4;

constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

class FuzzKeys : public KeyResolver {
 public:
  writegate::Result<ResolvedKey> resolve(std::string_view id, TimePoint) const override {
    if (id == "AKIDEXAMPLE") {
      return ResolvedKey{std::string(kSecret), std::nullopt, std::nullopt,
                         "arn:aws:iam::111122223333:user/fuzz"};
    }
    return writegate::Error::not_found("unknown");
  }
};

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto query = parse_query(raw);
  if (!query.ok()) {
    check(!query.error().message().empty());
    return 0;
  }
  // Re-encoding and re-parsing gives the same params.
  auto again = parse_query(encode_query_string(*query));
  check(again.ok() && *again == *query);
  (void)canonical_query(*query);

  HttpRequest request;
  request.query = std::move(*query);
  request.headers = {{"Host", "example.amazonaws.com"}};
  static FuzzKeys keys;
  static SigningKeyCache cache(16);
  static const VerifyOptions options{
      .service = "service", .regions = {"us-east-1"}, .now = *parse_amz_date("20150830T123600Z")};
  auto verified = verify_request(request, keys, options);

  HttpRequest reversed = request;
  std::reverse(reversed.query.begin(), reversed.query.end());
  auto other = verify_request(reversed, keys, options, &cache);
  check(verified.ok() == other.ok());
  if (!verified.ok()) {
    check(verified.rejection().reason == other.rejection().reason);
    return 0;
  }
  check(verified->presigned);
  const SignatureDetails& d = verified->details;
  check(d.canonical_request ==
        build_canonical_request("GET", "/", canonical_query(request.query, "X-Amz-Signature"),
                                canonical_headers(request.headers, {"host"}), kEmptyPayloadHash));
  SigningKey key = derive_signing_key(kSecret, d.credential_scope.substr(0, 8), verified->region,
                                      verified->service);
  std::string expected = compute_signature(
      key, build_string_to_sign(d.amz_date, d.credential_scope, d.canonical_request));
  auto given = std::find_if(request.query.begin(), request.query.end(),
                            [](const QueryParam& p) { return p.name == "X-Amz-Signature"; });
  check(given != request.query.end() && given->value == expected);
  return 0;
}
