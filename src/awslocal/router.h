// The router of the local AWS endpoint: recognises which service and operation a request is
// for, verifies its SigV4 signature against the local IAM/STS store, and hands the verified
// caller to the service. New AWS APIs plug in as Service implementations.
//
// A service says how its requests are recognised (ServiceRoute):
//   - query API:  `Action=` in the URL or form body, service = the SigV4 scope's service (sts)
//   - JSON 1.1:   `X-Amz-Target: <target_prefix>.<Operation>` (secretsmanager)
//   - REST JSON:  a path prefix; rest_operation() names the operation from method and path
//                 (lambda: POST /2015-03-31/functions/{name}/invocations -> "Invoke")
//   - a query API service with `query_compatible_target` (cloudwatch:
//     "GraniteServiceVersion20100801") also takes JSON 1.0 (`X-Amz-Target: <target>.<Op>`) and
//     Smithy RPC v2 CBOR (`POST /service/<target>/operation/<Op>`); the body is handed to it as
//     the query parameters it stands for (awslocal/query_compat.h), and ServiceCall::protocol
//     says which protocol to answer in.
//
// Every request: the store is re-read if another process changed it (a revoked key or a changed
// policy takes effect at once), the signature and session token are verified with
// sigv4::verify_request, and only then the service runs. Services decide the action with
// authorize(), which evaluates the caller's identity policies and builds AWS's AccessDenied.
//
//   auto store = iam::IamStore::open(state_dir);
//   Router router(std::shared_ptr<iam::IamStore>(std::move(*store)));
//   router.add(std::make_shared<StsService>());
//   Response response = router.handle(request);   // never throws; errors are AWS-shaped
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "awslocal/api.h"
#include "iam/evaluator.h"
#include "iam/store.h"
#include "sigv4/signing_key_cache.h"
#include "sigv4/sigv4.h"

namespace writegate::awslocal {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

struct ServiceRoute {
  std::string signing_name;  // SigV4 scope service: "sts", "secretsmanager", "lambda"
  Protocol protocol = Protocol::kQuery;
  std::string target_prefix;     // JSON 1.1: "secretsmanager" (X-Amz-Target prefix)
  std::string rest_path_prefix;  // REST JSON: "/2015-03-31/functions/"
  // Query API services only: the Smithy service name under which JSON 1.0 and RPC v2 CBOR
  // requests reach it ("GraniteServiceVersion20100801"); empty: query API only.
  std::string query_compatible_target;
  // With query_compatible_target: the input members that are timestamps ("StartTime", ...).
  std::vector<std::string_view> timestamp_members;
  std::string xml_namespace = std::string(kStsXmlNamespace);  // query API error bodies
};

// Who signed the request, as the store knows them. Holds the key's secret: never print it.
struct Caller {
  iam::KeyIdentity identity;  // principal (ARN, account, ids), kind, policies
  std::string region;         // of the signature's credential scope
  bool presigned = false;
};

// What a service gets for one request.
struct ServiceCall {
  std::string_view operation;                    // "AssumeRole", "GetSecretValue", "Invoke", ...
  const sigv4::HttpRequest& request;             // path, URL query (decoded), headers, body
  const std::vector<sigv4::QueryParam>& params;  // query API: URL + form body parameters
                                                 // (JSON 1.0 / CBOR: the body's, as such)
  const Caller& caller;
  std::string_view request_id;
  std::string_view remote_address;
  bool secure_transport = false;
  TimePoint now;
  iam::IamStore& store;
  Protocol protocol = Protocol::kQuery;  // the request's, to answer in

  // The value of a query-API parameter, if present (first occurrence).
  std::optional<std::string_view> param(std::string_view name) const;
};

using ApiResult = std::variant<Response, ApiError>;

class Service {
 public:
  virtual ~Service() = default;
  virtual const ServiceRoute& route() const = 0;
  // REST JSON services: the operation for this method and path, or empty when not one of theirs.
  virtual std::string rest_operation(std::string_view method, std::string_view path) const;
  // Runs one verified request. Errors are returned (never thrown); the router renders them.
  virtual ApiResult handle(const ServiceCall& call) = 0;
};

// Evaluates the caller's identity policies for `action` on `resource`, with the global keys
// (aws:PrincipalArn, aws:SourceIp, aws:SecureTransport, aws:CurrentTime, ...) and `extra_keys`.
// Returns std::nullopt when allowed, else AWS's AccessDenied:
//   "User: ARN is not authorized to perform: ACTION on resource: RESOURCE because no
//    identity-based policy allows the ACTION action" (or "with an explicit deny in an
//    identity-based policy").
std::optional<ApiError> authorize(const ServiceCall& call, Protocol protocol,
                                  std::string_view action, std::string_view resource,
                                  const iam::ContextKeys& extra_keys = {});
// The request context authorize() evaluates (for services that need the EvaluationResult).
iam::RequestContext request_context(const ServiceCall& call, std::string_view action,
                                    std::string_view resource, const iam::ContextKeys& extra_keys);
// "User: ARN is not authorized to perform: ACTION on resource: R because ..." for a result.
std::string access_denied_message(const iam::PrincipalInfo& principal, std::string_view action,
                                  std::string_view resource, const iam::EvaluationResult& result);

// One line per request for the endpoint's log; never holds a secret.
struct AccessLogEntry {
  std::string request_id;
  std::string remote_address;
  std::string service;    // signing name, or "-" when not recognised
  std::string operation;  // or "-"
  std::string principal;  // caller ARN, or "-" when not authenticated
  int status = 0;
  std::string error_code;  // empty on success
  std::string detail;      // why a signature was refused (no secrets), else empty
};
using AccessLog = std::function<void(const AccessLogEntry&)>;

struct RouterOptions {
  // Regions accepted in signatures; empty means the store's region only.
  std::vector<std::string> regions;
  // The clock (tests move it); defaults to the system clock.
  std::function<TimePoint()> clock;
  AccessLog access_log;  // optional
};

class Router {
 public:
  explicit Router(std::shared_ptr<iam::IamStore> store, RouterOptions options = {});
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Registers a service (before serving; not thread-safe with handle()).
  void add(std::shared_ptr<Service> service);

  // A plain GET page of the endpoint for clients that do not sign (the Prometheus scrape of
  // /metrics): a GET of exactly `path` (any query) is answered by `page` before any SigV4 check.
  // Only on the host's listener: a request that came in on a listener in another network
  // namespace (Request::namespace_listener, the proxy's in netns mode) goes the signed way and
  // is refused unsigned. Register before serving. The page must not show anything secret.
  using PublicPage = std::function<Response(const Request&)>;
  void add_public_get(std::string path, PublicPage page);

  // Handles one request. Thread-safe; never throws on any input.
  Response handle(const Request& request);

  iam::IamStore& store() { return *store_; }

 private:
  struct Match;
  Response handle_inner(const Request& request, const std::string& request_id, AccessLogEntry& log);

  std::shared_ptr<iam::IamStore> store_;
  RouterOptions options_;
  std::vector<std::shared_ptr<Service>> services_;
  std::vector<std::pair<std::string, PublicPage>> public_pages_;
  sigv4::SigningKeyCache signing_keys_{1024};
};

// Adapts IamStore::find_access_key to sigv4::KeyResolver. It remembers what the store said, so
// the router can tell an expired session (ExpiredToken) from an unknown key, and keeps the
// identity of the key it resolved (no second lookup after verification).
class StoreKeyResolver : public sigv4::KeyResolver {
 public:
  explicit StoreKeyResolver(const iam::IamStore& store) : store_(store) {}
  Result<sigv4::ResolvedKey> resolve(std::string_view access_key_id,
                                     sigv4::TimePoint now) const override;
  // The store's error for the last lookup (kUnauthenticated: expired session), if any.
  const std::optional<Error>& store_error() const { return store_error_; }
  // The identity of the last key resolved, if any.
  const std::optional<iam::KeyIdentity>& identity() const { return identity_; }

 private:
  const iam::IamStore& store_;
  mutable std::optional<Error> store_error_;
  mutable std::optional<iam::KeyIdentity> identity_;
};

// The service named by the credential scope of a signed request (Authorization header or
// X-Amz-Credential), without verifying anything; empty when there is none.
std::string scope_service(const sigv4::HttpRequest& request);

}  // namespace writegate::awslocal
