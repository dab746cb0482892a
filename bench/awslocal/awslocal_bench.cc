// Requests per second through the local AWS endpoint's Router (no sockets): SigV4 verification
// against the IAM store (one stat() per request for reload_if_changed), the evaluator, and the
// answer. Baseline in the same run: an unsigned request, refused before any verification.
#include <benchmark/benchmark.h>

#include "awslocal/endpoint.h"
#include "awslocal/fixture.h"
#include "awslocal/secret_store.h"

namespace writegate::awslocal {
namespace {

struct Setup {
  testing::SeededState state = testing::make_seeded_state();
  std::shared_ptr<Router> router;
  Request caller_identity;
  Request get_secret;
  Request unsigned_request;

  Setup() {
    auto secrets = SecretStore::open(state.dir);
    (void)(*secrets)->create("lambda-writer-secret",
                             SecretPayload::text(R"({"username":"u","password":"p"})"), "",
                             std::chrono::system_clock::now());
    router = *make_default_router(state.dir);
    auto user = state.add_user("bench");
    auto session = state.session_of("rds-proxy-role");
    caller_identity = make(user, "sts", "application/x-www-form-urlencoded", "",
                           "Action=GetCallerIdentity&Version=2011-06-15");
    get_secret = make(session, "secretsmanager", "application/x-amz-json-1.1",
                      "secretsmanager.GetSecretValue", R"({"SecretId":"lambda-writer-secret"})");
    unsigned_request = caller_identity;
    unsigned_request.headers.clear();
  }

  static Request make(const sigv4::Credentials& creds, const std::string& service,
                      const std::string& content_type, const std::string& target,
                      const std::string& body) {
    sigv4::HttpRequest h;
    h.method = "POST";
    h.headers = {{"Host", "127.0.0.1:4566"}, {"Content-Type", content_type}};
    if (!target.empty()) h.headers.push_back({"X-Amz-Target", target});
    h.body = body;
    sigv4::SigningParams params{
        .region = "us-east-1", .service = service, .time = std::chrono::system_clock::now()};
    (void)sigv4::sign_request(h, creds, params);
    Request r;
    r.method = "POST";
    r.target = "/";
    r.headers = h.headers;
    r.body = body;
    r.remote_address = "127.0.0.1";
    return r;
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

void run(benchmark::State& state, const Request& request, int expected_status) {
  Router& router = *setup().router;
  for (auto _ : state) {
    Response r = router.handle(request);
    if (r.status != expected_status) {
      state.SkipWithError("unexpected status");
      break;
    }
    benchmark::DoNotOptimize(r.body.data());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Baseline_UnsignedRefused(benchmark::State& state) {
  run(state, setup().unsigned_request, 403);
}
void BM_GetCallerIdentity(benchmark::State& state) {
  run(state, setup().caller_identity, 200);
}
void BM_GetSecretValue(benchmark::State& state) {
  run(state, setup().get_secret, 200);
}

BENCHMARK(BM_Baseline_UnsignedRefused);
BENCHMARK(BM_GetCallerIdentity);
BENCHMARK(BM_GetSecretValue);

}  // namespace
}  // namespace writegate::awslocal

BENCHMARK_MAIN();
