// libFuzzer target: parse_query() and verify_request() of a presigned URL's query on arbitrary
// bytes. Replayed over fuzz/corpus/presigned_query_fuzzer/ by tests/sigv4.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sigv4/sigv4.h"

namespace {

using namespace writegate::sigv4;

class FuzzKeys : public KeyResolver {
 public:
  writegate::Result<ResolvedKey> resolve(std::string_view id, TimePoint) const override {
    if (id == "AKIDEXAMPLE") {
      return ResolvedKey{"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", std::nullopt, std::nullopt,
                         "arn:aws:iam::111122223333:user/fuzz"};
    }
    return writegate::Error::not_found("unknown");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto query = parse_query(raw);
  if (!query.ok()) return 0;
  // Re-encoding and re-parsing gives the same params.
  auto again = parse_query(encode_query_string(*query));
  if (!again.ok() || *again != *query) std::abort();
  (void)canonical_query(*query);

  HttpRequest request;
  request.query = std::move(*query);
  request.headers = {{"Host", "example.amazonaws.com"}};
  static FuzzKeys keys;
  static const VerifyOptions options{
      .service = "service", .regions = {"us-east-1"}, .now = *parse_amz_date("20150830T123600Z")};
  auto verified = verify_request(request, keys, options);
  if (verified.ok() && !verified->presigned) std::abort();
  return 0;
}
