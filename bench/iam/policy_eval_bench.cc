// IAM policy evaluations per second on one thread with the architecture document's policies
// (corrected: real account, prx- id, key id), against a baseline measured in the same run: an
// exact, case-insensitive action compare plus an exact resource compare — the least any check
// of "may this principal rds-db:connect as this user" must do.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <iostream>
#include <map>

#include "iam/evaluator.h"
#include "iam/policy.h"
#include "iam/seed.h"
#include "iam/store.h"
#include "support/ratio_report.h"

namespace {

using namespace writegate::iam;

const SeedParams kParams{"us-east-1",
                         "123456789012",
                         "lambda_writer",
                         "prx-0123456789abcdef0",
                         "lambda-writer-secret",
                         "0b5a6c1e-3f2d-4a8b-9c7d-1e2f3a4b5c6d",
                         "cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ"};
const std::string kDbUser =
    "arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/lambda_writer";

NamedPolicy named(const std::string& name, const std::string& text) {
  auto policy = parse_policy(text);
  if (!policy) {
    std::cerr << name << ": " << policy.error().message() << "\n";
    std::exit(2);
  }
  return {name, std::make_shared<const Policy>(std::move(*policy))};
}

std::vector<NamedPolicy> lambda_policies() {
  return {named("lambda-rds-connect-policy", lambda_rds_connect_policy(kParams)),
          named("lambda-basic-execution-policy", lambda_basic_execution_policy(kParams)),
          named("AWSLambdaVPCAccessExecutionRole", aws_managed_policies()[0].document)};
}

RequestContext lambda_request(const std::string& resource) {
  RequestContext request;
  request.principal.type = PrincipalInfo::Type::kAssumedRole;
  request.principal.arn =
      "arn:aws:sts::123456789012:assumed-role/lambda-aurora-writer-role/aurora-writer-lambda";
  request.principal.account = "123456789012";
  request.principal.name = "lambda-aurora-writer-role";
  request.principal.user_id = "AROAEXAMPLEEXAMPLE12:aurora-writer-lambda";
  request.action = "rds-db:connect";
  request.resource = resource;
  return request;
}

void BM_Baseline_ExactMatch(benchmark::State& state) {
  const std::string want_action = "rds-db:connect";
  RequestContext request = lambda_request(kDbUser);
  for (auto _ : state) {
    bool action_ok = request.action.size() == want_action.size();
    for (size_t i = 0; action_ok && i < want_action.size(); ++i) {
      action_ok = (request.action[i] | 0x20) == (want_action[i] | 0x20);
    }
    bool ok = action_ok && request.resource == kDbUser;
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Baseline_ExactMatch);

void BM_Evaluate_LambdaConnectAllowed(benchmark::State& state) {
  auto policies = lambda_policies();
  RequestContext request = lambda_request(kDbUser);
  for (auto _ : state) {
    auto result = evaluate(policies, request);
    if (!result.allowed()) state.SkipWithError("expected allowed");
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Evaluate_LambdaConnectAllowed);

void BM_Evaluate_LambdaConnectOtherUserDenied(benchmark::State& state) {
  auto policies = lambda_policies();
  RequestContext request =
      lambda_request("arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/postgres");
  for (auto _ : state) {
    auto result = evaluate(policies, request);
    if (result.allowed()) state.SkipWithError("expected denied");
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Evaluate_LambdaConnectOtherUserDenied);

// What the proxy does per new connection: fill the global keys, then evaluate.
void BM_Evaluate_LambdaConnectWithGlobalKeys(benchmark::State& state) {
  auto policies = lambda_policies();
  const RequestContext base = lambda_request(kDbUser);
  const auto now = std::chrono::system_clock::now();
  for (auto _ : state) {
    RequestContext request = base;
    add_global_keys(request, now);
    auto result = evaluate(policies, request);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Evaluate_LambdaConnectWithGlobalKeys);

void BM_Evaluate_ProxyKmsDecryptCondition(benchmark::State& state) {
  std::vector<NamedPolicy> policies = {
      named("rds-proxy-secrets-policy", proxy_secrets_policy(kParams))};
  RequestContext request =
      lambda_request("arn:aws:kms:us-east-1:123456789012:key/0b5a6c1e-3f2d-4a8b-9c7d-1e2f3a4b5c6d");
  request.action = "kms:Decrypt";
  request.keys.add("kms:ViaService", "secretsmanager.us-east-1.amazonaws.com");
  for (auto _ : state) {
    auto result = evaluate(policies, request);
    if (!result.allowed()) state.SkipWithError("expected allowed");
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Evaluate_ProxyKmsDecryptCondition);

void BM_ParseProxyPolicy(benchmark::State& state) {
  const std::string text = proxy_secrets_policy(kParams);
  for (auto _ : state) {
    auto policy = parse_policy(text);
    benchmark::DoNotOptimize(policy);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseProxyPolicy);

// IamStore::find_access_key on a loaded store (session key of the Lambda role), as the SigV4
// verifier will call it per request.
void BM_StoreFindSessionKey(benchmark::State& state) {
  char tmpl[] = "/tmp/wg-iam-bench-XXXXXX";
  if (!mkdtemp(tmpl)) return state.SkipWithError("mkdtemp failed");
  writegate::spec::Spec spec;
  spec.account_id = "123456789012";
  auto seeded = seed_store(spec, std::string(tmpl) + "/state");
  if (!seeded) return state.SkipWithError(seeded.error().message().c_str());
  auto store = IamStore::open(std::string(tmpl) + "/state");
  const auto now = std::chrono::system_clock::now();
  auto session =
      (*store)->create_session(spec.iam.lambda_role, "bench", kDefaultSessionDuration, now);
  if (!session) return state.SkipWithError(session.error().message().c_str());
  for (auto _ : state) {
    auto identity = (*store)->find_access_key(session->access_key_id, now);
    benchmark::DoNotOptimize(identity);
  }
  state.SetItemsProcessed(state.iterations());
  std::filesystem::remove_all(tmpl);
}
BENCHMARK(BM_StoreFindSessionKey);

}  // namespace

int main(int argc, char** argv) {
  const int rc = writegate::bench::run_with_ratios(
      argc, argv, "BM_Baseline_ExactMatch",
      {"BM_Evaluate_LambdaConnectAllowed", "BM_Evaluate_LambdaConnectOtherUserDenied",
       "BM_Evaluate_LambdaConnectWithGlobalKeys", "BM_Evaluate_ProxyKmsDecryptCondition",
       "BM_ParseProxyPolicy", "BM_StoreFindSessionKey"});
  return rc;
}
