// RDS token generation and verification per second on one thread, with the signing-key cache,
// against a baseline measured in the same run: the bare crypto a token needs once its signing
// key is cached (SHA-256 of the canonical request + one HMAC-SHA256 of the string to sign).
// The aim: >= 200k tokens/s generated and >= 150k/s verified on one core.
#include <benchmark/benchmark.h>

#include <iostream>
#include <map>

#include "sigv4/crypto.h"
#include "sigv4/rds_token.h"
#include "support/ratio_report.h"

namespace {

using namespace writegate::sigv4;

const Credentials kLongTerm{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
// Real STS session tokens are ~800-1100 characters of base64.
const Credentials kSession{"ASIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                           std::string(900, 'A') + "+/="};
// The same length of base64 as STS prints it: about one '+' or '/' in 32 characters, each of
// which the token escapes (%2B, %2F), so parsing meets an escape every few dozen bytes.
std::string base64_like(std::size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t x = 2463534242u;  // xorshift32: the same text in every run
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out.push_back(kAlphabet[x % 64]);
  }
  return out + "==";
}
const Credentials kSessionBase64{"ASIAIOSFODNN7EXAMPLF", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                 base64_like(900)};
const Credentials& credentials_for(std::int64_t arg) {
  return arg == 0 ? kLongTerm : arg == 1 ? kSession : kSessionBase64;
}
const RdsTokenRequest kRequest{"prx-0123456789abcdef0.proxy-c1.us-east-1.rds.amazonaws.com", 5432,
                               "lambda_writer", "us-east-1"};
const TimePoint kNow = *parse_amz_date("20260102T030405Z");

class Keys : public KeyResolver {
 public:
  writegate::Result<ResolvedKey> resolve(std::string_view id, TimePoint) const override {
    if (id == kLongTerm.access_key_id) {
      return ResolvedKey{kLongTerm.secret_access_key, std::nullopt, std::nullopt,
                         "arn:aws:iam::111122223333:user/w"};
    }
    for (const Credentials* c : {&kSession, &kSessionBase64}) {
      if (id == c->access_key_id) {
        return ResolvedKey{c->secret_access_key, c->session_token, kNow + std::chrono::hours(1),
                           "arn:aws:sts::111122223333:assumed-role/r/s"};
      }
    }
    return writegate::Error::not_found("unknown");
  }
};

void BM_Baseline_HashAndHmac(benchmark::State& state) {
  // The canonical request and string to sign of a real token, built once.
  std::string token = *generate_rds_token(kRequest, kLongTerm, kNow);
  std::string creq = "GET\n/\n" + token.substr(token.find('?') + 1) + "\nhost:x\n\nhost\n" +
                     std::string(kEmptyPayloadHash);
  SigningKey key =
      derive_signing_key(kLongTerm.secret_access_key.reveal(), "20260102", "us-east-1", "rds-db");
  for (auto _ : state) {
    std::string sts =
        build_string_to_sign("20260102T030405Z", "20260102/us-east-1/rds-db/aws4_request", creq);
    benchmark::DoNotOptimize(compute_signature(key, sts));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Baseline_HashAndHmac);

void BM_DeriveSigningKey(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(derive_signing_key(kLongTerm.secret_access_key.reveal(), "20260102",
                                                "us-east-1", "rds-db"));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DeriveSigningKey);

void BM_GenerateToken(benchmark::State& state) {
  const Credentials& c = credentials_for(state.range(0));
  SigningKeyCache cache;
  for (auto _ : state) {
    auto t = generate_rds_token(kRequest, c, kNow, &cache);
    benchmark::DoNotOptimize(t);
  }
  state.SetItemsProcessed(state.iterations());
}
// session: 0 = long-term key, 1 = 900 'A's + "+/=", 2 = 900 characters of base64.
BENCHMARK(BM_GenerateToken)->ArgName("session")->Arg(0)->Arg(1)->Arg(2);

void BM_GenerateTokenNoCache(benchmark::State& state) {
  for (auto _ : state) {
    auto t = generate_rds_token(kRequest, kLongTerm, kNow);
    benchmark::DoNotOptimize(t);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GenerateTokenNoCache);

void BM_VerifyToken(benchmark::State& state) {
  const Credentials& c = credentials_for(state.range(0));
  Keys keys;
  RdsTokenVerifier verifier(
      keys, {.endpoint_hosts = {kRequest.hostname}, .port = 5432, .region = "us-east-1"});
  std::string token = *generate_rds_token(kRequest, c, kNow);
  for (auto _ : state) {
    auto v = verifier.verify(token, "lambda_writer", kNow);
    if (!v.ok()) state.SkipWithError("token did not verify");
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyToken)->ArgName("session")->Arg(0)->Arg(1)->Arg(2);

}  // namespace

int main(int argc, char** argv) {
  const int rc = writegate::bench::run_with_ratios(
      argc, argv, "BM_Baseline_HashAndHmac",
      {"BM_GenerateToken/session:0", "BM_GenerateToken/session:1", "BM_GenerateToken/session:2",
       "BM_GenerateTokenNoCache", "BM_VerifyToken/session:0", "BM_VerifyToken/session:1",
       "BM_VerifyToken/session:2", "BM_DeriveSigningKey"});
  std::cout << "aim: generate >= 200000/s, verify >= 150000/s\n";
  return rc;
}
