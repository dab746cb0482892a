// The function's cost, side by side in one run against a baseline measured in the same run:
// a plain C++ program inserting one row with libpq over TLS through writegate-proxy on a
// connection it keeps open (what any warm client pays).
//
//   cold start     process start -> first GET /next (the emulator's Init Duration), and the
//                  first invocation end to end (TLS, token signing, login through the proxy);
//                  as root also the packaged zip (`writegate package`) unzipped into an empty
//                  root and run there (a private mount namespace, chroot, /proc mounted: `unshare`
//                  before the exec), and, to tell that sandbox's cost from the package's, the
//                  host build started through the same `unshare` with / as its root
//   warm           one invocation on a warm environment: Runtime API round trip + handler +
//                  the insert through the proxy (FunctionPool, no HTTP), and the same through
//                  the Lambda Invoke API over HTTP with SigV4 (the caller's side included)
//
// Usage: function_bench [WARM_ITERATIONS=300] [COLD_ITERATIONS=10]
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "awslocal/client.h"
#include "awslocal/endpoint.h"
#include "common/process.h"
#include "deploy/package.h"
#include "lambda/emulator.h"
#include "proxy/proxy_stack.h"

namespace {

using Clock = std::chrono::steady_clock;
using writegate::testing::ProxyStack;
namespace lambda = writegate::lambda;

struct Stats {
  double p50 = 0, p99 = 0;
};

Stats stats_of(std::vector<double> ms) {
  if (ms.empty()) return {};
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1,
                       static_cast<std::size_t>(q * static_cast<double>(ms.size())))];
  };
  return {at(0.50), at(0.99)};
}

double since_ms(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void print(const char* name, Stats s, double baseline_p50) {
  std::printf("  %-44s p50 %8.3f ms  p99 %8.3f ms  (p50 %.2fx the baseline, +%.3f ms)\n", name,
              s.p50, s.p99, s.p50 / baseline_p50, s.p50 - baseline_p50);
}

}  // namespace

int main(int argc, char** argv) {
  const int warm = argc > 1 ? std::atoi(argv[1]) : 300;
  const int cold = argc > 2 ? std::atoi(argv[2]) : 10;
  const char* bin = std::getenv("WRITEGATE_BIN_DIR");
  const std::string bootstrap = std::string(bin ? bin : "build/bin") + "/bootstrap";
  auto stack = ProxyStack::start();
  if (!stack) return 1;
  const std::string payload =
      R"({"schema":"foo","table":"test_table","data":{"column1":"bench","column2":"x"}})";

  // ---- baseline: libpq over TLS through the proxy, connection kept open ---------------------
  auto credentials = stack->role_credentials();
  PGconn* conn = PQconnectdb(stack->dsn(stack->token(credentials)).c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::cerr << "baseline connection failed: " << PQerrorMessage(conn);
    return 1;
  }
  std::vector<double> baseline;
  for (int i = 0; i < warm; ++i) {
    const char* values[2] = {"bench", "x"};
    const auto t = Clock::now();
    PGresult* r = PQexecParams(
        conn, R"(INSERT INTO "foo"."test_table" ("column1", "column2") VALUES ($1, $2))", 2,
        nullptr, values, nullptr, nullptr, 0);
    baseline.push_back(since_ms(t));
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      std::cerr << "baseline insert failed: " << PQerrorMessage(conn);
      return 1;
    }
    PQclear(r);
  }
  PQfinish(conn);
  const Stats base = stats_of(baseline);

  lambda::FunctionConfig config;
  config.bootstrap = bootstrap;
  config.role_name = stack->spec().iam.lambda_role;
  config.max_concurrency = 1;
  config.log_file = stack->dir() + "/bench-function.log";
  config.environment = {{"PROXY_ENDPOINT", "localhost"},
                        {"DB_HOSTADDR", "127.0.0.1"},
                        {"DB_PORT", std::to_string(stack->port())},
                        {"DB_NAME", "mydb"},
                        {"DB_REGION", stack->spec().region},
                        {"DB_CA_BUNDLE", stack->proxy_ca_file()},
                        {"AWS_LAMBDA_LOG_LEVEL", "ERROR"}};
  lambda::EnvironmentCredentials env_credentials =
      [&]() -> writegate::Result<writegate::sigv4::Credentials> {
    return stack->role_credentials();
  };
  const std::string arn = "arn:aws:lambda:us-east-1:000000000000:function:aurora-writer-lambda";

  // ---- cold starts: a new environment each time ---------------------------------------------
  // As root, three variants in turn within each round (so that the machine's drift hits them
  // alike): the host build; the packaged zip in an empty root; the host build started through
  // the same sandbox (`unshare`, / as its root), which tells the sandbox's cost from the zip's.
  struct ColdVariant {
    std::string name;
    lambda::FunctionConfig config;
    std::vector<double> init_ms;
    std::vector<double> first_ms;
  };
  std::vector<ColdVariant> variants = {{"host", config, {}, {}}};
  std::string packaged_note = "skipped: needs root (a mount namespace and chroot)";
  if (::geteuid() == 0) {
    namespace fs = std::filesystem;
    writegate::deploy::PackageOptions package;
    package.bootstrap = bootstrap;
    package.out = stack->dir() + "/function.zip";
    package.ca_bundle = stack->proxy_ca_file();
    auto packed = writegate::deploy::build_package(package);
    if (!packed) {
      std::cerr << "package: " << packed.error().message() << "\n";
      return 1;
    }
    const fs::path root = stack->dir() + "/function-root";
    for (const char* sub : {"var/task", "proc", "tmp", "etc"})
      fs::create_directories(root / sub);
    auto unzipped = writegate::run_process(
        {"unzip", "-q", "-o", package.out, "-d", (root / "var/task").string()});
    if (!unzipped || unzipped->exit_code != 0) {
      std::cerr << "unzip failed: " << (unzipped ? unzipped->output : unzipped.error().message());
      return 1;
    }
    lambda::FunctionConfig packaged = config;
    packaged.bootstrap = "/var/task/bootstrap";
    packaged.root = root.string();
    std::erase_if(packaged.environment, [](const auto& kv) { return kv.first == "DB_CA_BUNDLE"; });
    variants.push_back({"packaged", packaged, {}, {}});
    lambda::FunctionConfig sandboxed = config;
    sandboxed.root = "/";
    variants.push_back({"host-unshare", sandboxed, {}, {}});
    packaged_note = "zip " + writegate::deploy::human_bytes(packed->zip_bytes) + ", " +
                    std::to_string(packed->files.size()) + " files";
  }
  for (int i = 0; i < cold; ++i) {
    for (auto& variant : variants) {
      lambda::FunctionPool pool(variant.config);
      const auto t = Clock::now();
      auto r =
          pool.invoke(variant.name + "-cold-" + std::to_string(i), payload, env_credentials, arn);
      variant.first_ms.push_back(since_ms(t));
      if (!r || !r->function_error.empty()) {
        std::cerr << variant.name
                  << " cold invocation failed: " << (r ? r->payload : r.error().message()) << "\n";
        return 1;
      }
      variant.init_ms.push_back(r->init_duration_ms);
    }
  }

  // ---- warm: one environment, many invocations -----------------------------------------------
  lambda::FunctionPool pool(config);
  (void)pool.invoke("warmup", payload, env_credentials, arn);
  std::vector<double> warm_ms;
  for (int i = 0; i < warm; ++i) {
    const auto t = Clock::now();
    auto r = pool.invoke("warm-" + std::to_string(i), payload, env_credentials, arn);
    warm_ms.push_back(since_ms(t));
    if (!r || !r->function_error.empty()) {
      std::cerr << "warm invocation failed\n";
      return 1;
    }
  }

  // ---- warm through the Invoke API (HTTP, SigV4, the endpoint's IAM evaluation) -------------
  auto router = writegate::awslocal::make_default_router(stack->state_dir());
  auto service = std::make_shared<lambda::LambdaService>(config);
  (*router)->add(service);
  writegate::awslocal::EndpointOptions options;
  options.state_dir = stack->state_dir();
  options.threads = 3;
  auto endpoint = writegate::awslocal::Endpoint::start(options, std::move(*router));
  auto& store = stack->store();
  (void)store.create_user("bench-invoker");
  (void)store.put_user_policy(
      "bench-invoker", "invoke",
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"*"}]})");
  auto key = store.create_access_key("bench-invoker", std::chrono::system_clock::now());
  writegate::sigv4::Credentials invoker{key->access_key_id, key->secret_access_key, ""};
  writegate::awslocal::ClientOptions client;
  client.endpoint_url = (*endpoint)->url();
  std::vector<double> api_ms;
  for (int i = 0; i < warm + 1; ++i) {
    writegate::sigv4::HttpRequest request;
    request.method = "POST";
    request.path = "/2015-03-31/functions/aurora-writer-lambda/invocations";
    request.body = payload;
    const auto t = Clock::now();
    auto r = writegate::awslocal::send_signed(client, std::move(request), "lambda", invoker);
    if (i > 0) api_ms.push_back(since_ms(t));  // the first one starts the environment
    if (!r || r->status != 200) {
      std::cerr << "invoke API failed\n";
      return 1;
    }
  }

  std::printf("\nfunction_bench: %d warm, %d cold iterations\n", warm, cold);
  std::printf("  %-44s p50 %8.3f ms  p99 %8.3f ms\n",
              "baseline: libpq INSERT over TLS via the proxy", base.p50, base.p99);
  print("cold: process start -> first /next", stats_of(variants[0].init_ms), base.p50);
  print("cold: first invocation end to end", stats_of(variants[0].first_ms), base.p50);
  if (variants.size() == 3) {
    std::printf("  the packaged zip in an empty root (%s):\n", packaged_note.c_str());
    print("cold, zip in own root: start -> first /next", stats_of(variants[1].init_ms), base.p50);
    print("cold, zip in own root: first invocation", stats_of(variants[1].first_ms), base.p50);
    print("cold, host build via unshare: -> first /next", stats_of(variants[2].init_ms), base.p50);
  } else {
    std::printf("  the packaged zip in an empty root: %s\n", packaged_note.c_str());
  }
  print("warm: invocation (FunctionPool)", stats_of(warm_ms), base.p50);
  print("warm: Invoke API over HTTP + SigV4", stats_of(api_ms), base.p50);
  return 0;
}
