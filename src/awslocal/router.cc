#include "awslocal/router.h"

#include <algorithm>
#include <utility>

#include "awslocal/query_compat.h"
#include "common/strings.h"

namespace writegate::awslocal {

namespace {

// "/service/<target>/operation/<Operation>" (Smithy RPC v2): the target and the operation.
std::optional<std::pair<std::string_view, std::string_view>> rpc_v2_operation(
    std::string_view path) {
  constexpr std::string_view kService = "/service/";
  constexpr std::string_view kOperation = "/operation/";
  if (!path.starts_with(kService)) return std::nullopt;
  path.remove_prefix(kService.size());
  const std::size_t at = path.find(kOperation);
  if (at == std::string_view::npos || at == 0) return std::nullopt;
  std::string_view operation = path.substr(at + kOperation.size());
  if (operation.empty() || operation.find('/') != std::string_view::npos) return std::nullopt;
  return std::pair{path.substr(0, at), operation};
}

// application/x-www-form-urlencoded: '+' is a space, then %XX escapes.
Result<std::vector<sigv4::QueryParam>> parse_form(std::string_view body) {
  std::string text(body);
  std::replace(text.begin(), text.end(), '+', ' ');
  return sigv4::parse_query(text);
}

std::string_view first_param(const std::vector<sigv4::QueryParam>& params, std::string_view name) {
  for (const auto& p : params) {
    if (p.name == name) return p.value;
  }
  return {};
}

bool has_param(const std::vector<sigv4::QueryParam>& params, std::string_view name) {
  return std::any_of(params.begin(), params.end(), [&](const auto& p) { return p.name == name; });
}

// The value of "Credential=AKID/date/region/service/aws4_request": the service part.
std::string service_of_credential(std::string_view credential) {
  size_t pos = 0;
  for (int slash = 0; slash < 3; ++slash) {
    pos = credential.find('/', pos);
    if (pos == std::string_view::npos) return {};
    ++pos;
  }
  size_t end = credential.find('/', pos);
  if (end == std::string_view::npos) return {};
  return std::string(credential.substr(pos, end - pos));
}

}  // namespace

std::optional<std::string_view> ServiceCall::param(std::string_view name) const {
  for (const auto& p : params) {
    if (p.name == name) return std::string_view(p.value);
  }
  return std::nullopt;
}

std::string Service::rest_operation(std::string_view, std::string_view) const {
  return {};
}

std::string scope_service(const sigv4::HttpRequest& request) {
  if (auto auth = request.header("authorization")) {
    size_t pos = auth->find("Credential=");
    if (pos == std::string_view::npos) return {};
    std::string_view rest = auth->substr(pos + 11);
    size_t end = rest.find_first_of(", ");
    return service_of_credential(rest.substr(0, end));
  }
  for (const auto& p : request.query) {
    if (p.name == "X-Amz-Credential") return service_of_credential(p.value);
  }
  return {};
}

Result<sigv4::ResolvedKey> StoreKeyResolver::resolve(std::string_view access_key_id,
                                                     sigv4::TimePoint now) const {
  store_error_.reset();
  identity_.reset();
  auto found = store_.find_access_key(access_key_id, now);
  if (!found) {
    store_error_ = found.error();
    return found.error();
  }
  sigv4::ResolvedKey key;
  key.secret_access_key = found->secret_access_key;
  if (!found->session_token.empty()) key.session_token = found->session_token;
  key.expires = found->expiration;
  key.principal_arn = found->principal.arn;
  identity_ = std::move(*found);
  return key;
}

iam::RequestContext request_context(const ServiceCall& call, std::string_view action,
                                    std::string_view resource, const iam::ContextKeys& extra_keys) {
  iam::RequestContext ctx;
  ctx.principal = call.caller.identity.principal;
  ctx.action = std::string(action);
  ctx.resource = std::string(resource);
  for (const auto& [key, values] : extra_keys.entries())
    ctx.keys.set(key, values);
  if (!ctx.keys.contains("aws:SourceIp") && !call.remote_address.empty()) {
    ctx.keys.add("aws:SourceIp", std::string(call.remote_address));
  }
  if (!ctx.keys.contains("aws:SecureTransport")) {
    ctx.keys.add("aws:SecureTransport", call.secure_transport ? "true" : "false");
  }
  if (!ctx.keys.contains("aws:RequestedRegion")) {
    ctx.keys.add("aws:RequestedRegion", call.caller.region);
  }
  iam::add_global_keys(ctx, call.now);
  return ctx;
}

std::string access_denied_message(const iam::PrincipalInfo& principal, std::string_view action,
                                  std::string_view resource, const iam::EvaluationResult& result) {
  std::string message = "User: " + principal.arn +
                        " is not authorized to perform: " + std::string(action) +
                        " on resource: " + std::string(resource);
  if (result.decision == iam::Decision::kExplicitDeny) {
    message += " with an explicit deny in an identity-based policy";
  } else {
    message += " because no identity-based policy allows the " + std::string(action) + " action";
  }
  return message;
}

std::optional<ApiError> authorize(const ServiceCall& call, Protocol protocol,
                                  std::string_view action, std::string_view resource,
                                  const iam::ContextKeys& extra_keys) {
  iam::RequestContext ctx = request_context(call, action, resource, extra_keys);
  iam::EvaluationResult result = iam::evaluate(call.caller.identity.policies, ctx);
  if (result.allowed()) return std::nullopt;
  return access_denied(
      protocol, access_denied_message(call.caller.identity.principal, action, resource, result));
}

struct Router::Match {
  Service* service = nullptr;
  std::string operation;
  std::vector<sigv4::QueryParam> params;
  Protocol protocol = Protocol::kQuery;
};

Router::Router(std::shared_ptr<iam::IamStore> store, RouterOptions options)
    : store_(std::move(store)), options_(std::move(options)) {
  if (!options_.clock) options_.clock = [] { return Clock::now(); };
}

void Router::add(std::shared_ptr<Service> service) {
  services_.push_back(std::move(service));
}

void Router::add_public_get(std::string path, PublicPage page) {
  public_pages_.emplace_back(std::move(path), std::move(page));
}

Response Router::handle(const Request& request) {
  const std::string request_id = new_request_id();
  AccessLogEntry log;
  log.request_id = request_id;
  log.remote_address = request.remote_address;
  log.service = "-";
  log.operation = "-";
  log.principal = "-";
  Response response = handle_inner(request, request_id, log);
  if (response.header("x-amzn-RequestId").empty()) {
    response.headers.push_back({"x-amzn-RequestId", request_id});
  }
  log.status = response.status;
  if (options_.access_log) options_.access_log(log);
  return response;
}

Response Router::handle_inner(const Request& request, const std::string& request_id,
                              AccessLogEntry& log) {
  auto fail = [&](Protocol protocol, ApiError error, std::string_view ns = kStsXmlNamespace) {
    log.error_code = error.code;
    return render_error(protocol, error, request_id, ns);
  };

  // ---- the request line -------------------------------------------------------------------
  sigv4::HttpRequest http;
  http.method = request.method;
  std::string_view target = request.target;
  size_t qmark = target.find('?');
  http.path = std::string(target.substr(0, qmark));
  if (http.path.empty() || http.path.front() != '/') {
    return fail(Protocol::kQuery,
                make_error(400, "InvalidURI", "the request path must start with '/'"));
  }
  if (qmark != std::string_view::npos) {
    auto query = sigv4::parse_query(target.substr(qmark + 1));
    if (!query) {
      return fail(Protocol::kQuery,
                  make_error(400, "MalformedQueryString", query.error().message()));
    }
    http.query = std::move(*query);
  }
  http.headers = request.headers;
  http.body = request.body;

  if (http.method == "GET" && !request.namespace_listener) {
    for (const auto& [path, page] : public_pages_) {
      if (http.path == path) {
        log.service = "public";
        log.operation = "GET " + path;
        return page(request);
      }
    }
  }

  // ---- which service and operation --------------------------------------------------------
  Match match;
  auto query_compatible_service = [&](std::string_view name) -> Service* {
    for (const auto& s : services_) {
      if (!s->route().query_compatible_target.empty() &&
          s->route().query_compatible_target == name) {
        return s.get();
      }
    }
    return nullptr;
  };
  if (auto rpc = rpc_v2_operation(http.path)) {
    // Smithy RPC v2 CBOR: POST /service/<target>/operation/<Operation>.
    match.protocol = Protocol::kRpcV2Cbor;
    match.service = query_compatible_service(rpc->first);
    if (match.service == nullptr) {
      return fail(Protocol::kRpcV2Cbor,
                  make_error(404, "UnknownOperationException",
                             "the service '" + std::string(rpc->first.substr(0, 64)) +
                                 "' is not served here over RPC v2 CBOR"));
    }
    const auto smithy_protocol = http.header("smithy-protocol");
    if (http.method != "POST" || !smithy_protocol || *smithy_protocol != "rpc-v2-cbor") {
      return fail(Protocol::kRpcV2Cbor,
                  make_error(400, "UnknownOperationException",
                             "an RPC v2 request is a POST with the header smithy-protocol: "
                             "rpc-v2-cbor"));
    }
    match.operation = std::string(rpc->second);
  } else if (auto amz_target = http.header("x-amz-target")) {
    size_t dot = amz_target->find('.');
    std::string_view prefix = amz_target->substr(0, dot);
    match.protocol = Protocol::kJson11;
    for (const auto& s : services_) {
      if (s->route().protocol == Protocol::kJson11 && s->route().target_prefix == prefix) {
        match.service = s.get();
      }
    }
    if (match.service == nullptr) {
      match.service = query_compatible_service(prefix);
      if (match.service != nullptr) match.protocol = Protocol::kJson10;
    }
    if (match.service == nullptr || dot == std::string_view::npos ||
        dot + 1 == amz_target->size()) {
      return fail(Protocol::kJson11,
                  make_error(400, "UnknownOperationException",
                             "X-Amz-Target '" + std::string(amz_target->substr(0, 128)) +
                                 "' names no operation of this endpoint"));
    }
    match.operation = std::string(amz_target->substr(dot + 1));
  } else {
    for (const auto& s : services_) {
      const ServiceRoute& r = s->route();
      if (r.protocol != Protocol::kRestJson || r.rest_path_prefix.empty()) continue;
      if (http.path.compare(0, r.rest_path_prefix.size(), r.rest_path_prefix) != 0) continue;
      std::string op = s->rest_operation(http.method, http.path);
      if (!op.empty()) {
        match.service = s.get();
        match.operation = std::move(op);
        break;
      }
    }
    if (match.service == nullptr) {
      // Query API: URL parameters, plus the form body of a POST.
      match.params = http.query;
      if (http.method == "POST" && istarts_with(http.header("content-type").value_or(""),
                                                "application/x-www-form-urlencoded")) {
        auto form = parse_form(http.body);
        if (!form) {
          return fail(Protocol::kQuery,
                      make_error(400, "MalformedQueryString", form.error().message()));
        }
        match.params.insert(match.params.end(), form->begin(), form->end());
      }
      const bool signed_request = http.header("authorization").has_value() ||
                                  has_param(http.query, "X-Amz-Signature") ||
                                  has_param(http.query, "X-Amz-Algorithm");
      if (!signed_request) {
        return fail(Protocol::kQuery, make_error(403, "MissingAuthenticationToken",
                                                 "Request is missing Authentication Token"));
      }
      std::string service_name = scope_service(http);
      for (const auto& s : services_) {
        if (s->route().protocol == Protocol::kQuery && s->route().signing_name == service_name) {
          match.service = s.get();
        }
      }
      if (match.service == nullptr) {
        return fail(Protocol::kQuery,
                    make_error(400, "InvalidAction",
                               "this endpoint has no query API for the service '" +
                                   service_name.substr(0, 64) +
                                   "' named by the request's credential scope"));
      }
      if (!has_param(match.params, "Action")) {
        return fail(Protocol::kQuery, make_error(400, "MissingAction", "Missing Action"),
                    match.service->route().xml_namespace);
      }
      match.operation = std::string(first_param(match.params, "Action"));
    }
  }
  const ServiceRoute& route = match.service->route();
  if (match.protocol != Protocol::kJson10 && match.protocol != Protocol::kRpcV2Cbor) {
    match.protocol = route.protocol;
  }
  const Protocol protocol = match.protocol;
  log.service = route.signing_name;
  log.operation = match.operation.substr(0, 128);

  const bool signed_request = http.header("authorization").has_value() ||
                              has_param(http.query, "X-Amz-Signature") ||
                              has_param(http.query, "X-Amz-Algorithm");
  if (!signed_request) {
    return fail(
        protocol,
        make_error(query_compatible(protocol) || protocol == Protocol::kRestJson ? 403 : 400,
                   query_compatible(protocol) ? "MissingAuthenticationToken"
                                              : "MissingAuthenticationTokenException",
                   "Request is missing Authentication Token"),
        route.xml_namespace);
  }

  // ---- who is asking ------------------------------------------------------------------------
  // Another process (`writegate iam ...`) may have revoked a key or changed a policy.
  auto reloaded = store_->reload_if_changed();
  if (!reloaded) {
    log.detail = reloaded.error().message();
    return fail(protocol,
                make_error(500, "InternalFailure", "the local IAM store could not be read"),
                route.xml_namespace);
  }
  const TimePoint now = options_.clock();
  sigv4::VerifyOptions verify;
  verify.service = route.signing_name;
  verify.regions = options_.regions;
  if (verify.regions.empty()) verify.regions.push_back(store_->settings().region);
  verify.now = now;
  StoreKeyResolver resolver(*store_);
  auto verified = sigv4::verify_request(http, resolver, verify, &signing_keys_);
  if (!verified) {
    const sigv4::Rejection& rejection = verified.rejection();
    log.detail =
        std::string(sigv4::auth_failure_name(rejection.reason)) + ": " + rejection.error.message();
    if (rejection.reason == sigv4::AuthFailure::kUnknownKey && resolver.store_error() &&
        resolver.store_error()->code() == ErrorCode::kUnauthenticated) {
      return fail(protocol, expired_token(protocol), route.xml_namespace);
    }
    return fail(protocol, auth_error(protocol, rejection.reason, rejection.error.message()),
                route.xml_namespace);
  }
  if (!resolver.identity()) {
    return fail(protocol, make_error(500, "InternalFailure", "the verified key has no identity"),
                route.xml_namespace);
  }
  Caller caller;
  caller.identity = *resolver.identity();
  caller.region = verified->region;
  caller.presigned = verified->presigned;
  log.principal = caller.identity.principal.arn;

  // ---- the operation ------------------------------------------------------------------------
  if (protocol == Protocol::kJson10 || protocol == Protocol::kRpcV2Cbor) {
    // The body stands for the query parameters the query API would have sent.
    auto params = query_params_from_body(protocol, http.body, route.timestamp_members);
    if (auto* error = std::get_if<ApiError>(&params)) {
      return fail(protocol, *error, route.xml_namespace);
    }
    match.params = std::move(std::get<std::vector<sigv4::QueryParam>>(params));
  }
  ServiceCall call{.operation = match.operation,
                   .request = http,
                   .params = match.params,
                   .caller = caller,
                   .request_id = request_id,
                   .remote_address = request.remote_address,
                   .secure_transport = request.secure_transport,
                   .now = now,
                   .store = *store_,
                   .protocol = protocol};
  ApiResult result = match.service->handle(call);
  if (auto* error = std::get_if<ApiError>(&result)) {
    return fail(protocol, *error, route.xml_namespace);
  }
  return std::get<Response>(std::move(result));
}

}  // namespace writegate::awslocal
