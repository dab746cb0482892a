// Fuzz target: raw bytes -> HTTP parse (with the endpoint's caps) -> Router (STS, Secrets
// Manager, over a seeded state folder) -> serialized response. No sockets.
//
// Input: byte 0 selects the mode (bit 0: re-sign the parsed request with a known key at the
// router's fixed clock, so the fuzzer reaches the services past SigV4; bit 1: sign with the
// proxy role's session instead of the user key), byte 1 selects the SigV4 service (sts or
// secretsmanager); the rest is the HTTP request.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <variant>

#include "awslocal/endpoint.h"
#include "awslocal/http_codec.h"
#include "awslocal/secret_store.h"
#include "iam/seed.h"
#include "iam/store.h"
#include "spec/spec.h"

namespace {

using namespace writegate;

// 2026-01-01T00:00:00Z: the router's clock, so signatures made here stay valid.
const awslocal::TimePoint kNow = awslocal::TimePoint(std::chrono::seconds(1767225600));

struct Harness {
  std::string dir;
  std::shared_ptr<awslocal::Router> router;
  sigv4::Credentials user;
  sigv4::Credentials session;
  bool ok = false;

  Harness() {
    char pattern[] = "/tmp/wg-awslocal-fuzz-XXXXXX";
    if (mkdtemp(pattern) == nullptr) return;
    dir = std::string(pattern) + "/state";
    spec::Spec spec;
    if (!iam::seed_store(spec, dir).ok()) return;
    auto store = iam::IamStore::open(dir);
    if (!store.ok()) return;
    if (!(*store)->create_user("fuzz").ok()) return;
    if (!(*store)
             ->put_user_policy(
                 "fuzz", "read",
                 R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
                 R"("Action":["sts:*","secretsmanager:GetSecretValue",)"
                 R"("secretsmanager:DescribeSecret","kms:Decrypt"],"Resource":"*"}]})")
             .ok()) {
      return;
    }
    auto key = (*store)->create_access_key("fuzz", kNow);
    auto s = (*store)->create_session("rds-proxy-role", "fuzz", std::chrono::hours(12), kNow);
    if (!key.ok() || !s.ok()) return;
    user = {key->access_key_id, key->secret_access_key, ""};
    session = {s->access_key_id, s->secret_access_key, s->session_token};
    auto secrets = awslocal::SecretStore::open(dir);
    if (!secrets.ok()) return;
    if (!(*secrets)
             ->create("lambda-writer-secret",
                      awslocal::SecretPayload::text(R"({"username":"u","password":"p"})"), "", kNow)
             .ok()) {
      return;
    }
    awslocal::RouterOptions options;
    options.clock = [] { return kNow; };
    auto router_made = awslocal::make_default_router(dir, options);
    if (!router_made.ok()) return;
    router = *router_made;
    ok = true;
  }
  ~Harness() {
    if (!dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::path(dir).parent_path(), ec);
    }
  }
};

Harness& harness() {
  static Harness h;
  return h;
}

void resign(awslocal::Request& request, const sigv4::Credentials& credentials,
            const std::string& service) {
  sigv4::HttpRequest http;
  http.method = request.method;
  std::string_view target = request.target;
  size_t q = target.find('?');
  http.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    auto query = sigv4::parse_query(target.substr(q + 1));
    if (!query.ok()) return;
    http.query = std::move(*query);
  }
  for (const auto& h : request.headers) {
    std::string lower = h.name;
    for (char& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "authorization" || lower.rfind("x-amz-date", 0) == 0 ||
        lower == "x-amz-security-token") {
      continue;
    }
    http.headers.push_back(h);
  }
  if (!http.header("host")) http.headers.push_back({"Host", "127.0.0.1:4566"});
  http.body = request.body;
  sigv4::SigningParams params{.region = "us-east-1", .service = service, .time = kNow};
  if (!sigv4::sign_request(http, credentials, params).ok()) return;
  request.headers = http.headers;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Harness& h = harness();
  if (!h.ok || size < 2) return 0;
  const std::uint8_t mode = data[0];
  const std::string service = (data[1] & 1) ? "secretsmanager" : "sts";
  std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  auto parsed = awslocal::parse_http_request(bytes);
  awslocal::Response response;
  if (auto* error = std::get_if<awslocal::ApiError>(&parsed)) {
    response = awslocal::render_error(awslocal::Protocol::kQuery, *error, "fuzz");
  } else {
    awslocal::Request& request = std::get<awslocal::Request>(parsed);
    request.remote_address = "127.0.0.1";
    if (mode & 1) resign(request, (mode & 2) ? h.session : h.user, service);
    response = h.router->handle(request);
  }
  std::string wire = awslocal::serialize_http_response(response, false);
  // A secret value only ever leaves in a 200 GetSecretValue answer.
  if (response.status != 200 && wire.find(R"(\"password\":\"p\")") != std::string::npos) {
    std::abort();
  }
  return 0;
}
