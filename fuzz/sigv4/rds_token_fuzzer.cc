// libFuzzer target: parse_rds_token() and verify_rds_token() on arbitrary bytes.
// Replayed over fuzz/corpus/rds_token_fuzzer/ by tests/sigv4 (rds_token_fuzzer_replay_test).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sigv4/rds_token.h"

namespace {

using namespace writegate::sigv4;

class FuzzKeys : public KeyResolver {
 public:
  writegate::Result<ResolvedKey> resolve(std::string_view id, TimePoint) const override {
    if (id == "AKIDEXAMPLE") {
      return ResolvedKey{"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", std::nullopt, std::nullopt,
                         "arn:aws:iam::111122223333:user/fuzz"};
    }
    if (id.starts_with("ASIA")) {
      return ResolvedKey{"s", std::string("tok"), TimePoint{}, "arn:aws:sts::1:assumed-role/r/s"};
    }
    return writegate::Error::not_found("unknown");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view token(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_rds_token(token);
  if (parsed.ok()) {
    // Invariants of a parsed token.
    if (parsed->expires.count() < 1 || parsed->expires.count() > 900) std::abort();
    if (parsed->port == 0 || parsed->signature.size() != 64) std::abort();
  } else if (auth_failure_name(parsed.rejection().reason) == "unknown") {
    std::abort();
  }
  static FuzzKeys keys;
  static const RdsVerifyOptions options{
      .endpoint_hosts = {"db.example.com"}, .port = 5432, .region = "us-east-1"};
  auto verified =
      verify_rds_token(token, "lambda_writer", keys, options, *parse_amz_date("20260102T030500Z"));
  if (verified.ok() && verified->db_user != "lambda_writer") std::abort();
  return 0;
}
