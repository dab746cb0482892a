#include "stack/rds_service.h"

#include <algorithm>

#include "iam/arn.h"
#include "stack/stack.h"
#include "stack/state.h"

namespace writegate::stack {

namespace {

using awslocal::ApiError;
using awslocal::ApiResult;
using awslocal::Protocol;
using awslocal::Response;
using awslocal::ServiceCall;
using awslocal::xml_escape;

constexpr std::string_view kVersion = "2014-10-31";

ApiError invalid_value(std::string message) {
  return awslocal::make_error(400, "InvalidParameterValue", std::move(message));
}

ApiError not_found(std::string_view name) {
  return awslocal::make_error(404, "DBProxyNotFoundFault",
                              "DBProxy " + std::string(name.substr(0, 255)) + " not found.");
}

std::string element(std::string_view name, std::string_view value, int indent) {
  return std::string(indent, ' ') + "<" + std::string(name) + ">" + xml_escape(value) + "</" +
         std::string(name) + ">\n";
}

// RDS's DBProxy, as the stack runs it, in an element `name` (DBProxy; "member" in a list).
std::string db_proxy_xml(const StackState& state, const spec::Spec& spec, int indent,
                         std::string_view name = "DBProxy") {
  const std::string pad(indent, ' ');
  const int in = indent + 2;
  const ComponentState* proxy = state.find("proxy");
  const bool available = state.status == "up" && proxy != nullptr && proxy->running();
  std::string x = pad + "<" + std::string(name) + ">\n";
  x += element("DBProxyName", spec.proxy.name, in);
  x += element("DBProxyArn",
               "arn:aws:rds:" + state.region + ":" + state.account_id +
                   ":db-proxy:" + state.proxy_resource_id,
               in);
  x += element("Status", available ? "available" : "suspended", in);
  x += element("EngineFamily", "POSTGRESQL", in);
  x += std::string(in, ' ') + "<Auth>\n";
  if (spec.proxy.backend_auth != "IAM_AUTH") {
    // Standard mode: the proxy logs in with the writer's own secret.
    x += std::string(in + 2, ' ') + "<member>\n";
    x += element("UserName", spec.database.user, in + 4);
    x += element("AuthScheme", "SECRETS", in + 4);
    x += element("IAMAuth", spec.proxy.iam_auth, in + 4);
    x += element("ClientPasswordAuthType", "POSTGRES_SCRAM_SHA_256", in + 4);
    x += std::string(in + 2, ' ') + "</member>\n";
  }
  x += std::string(in, ' ') + "</Auth>\n";
  x += element("RoleArn", iam::role_arn(state.account_id, spec.iam.proxy_role), in);
  x += element("Endpoint", state.proxy_endpoint, in);
  x += element("RequireTLS", spec.proxy.require_tls ? "true" : "false", in);
  x +=
      element("IdleClientTimeout", std::to_string(spec.proxy.pool.idle_client_timeout_seconds), in);
  x += element("DebugLogging", state.proxy_debug_logging ? "true" : "false", in);
  if (!state.proxy_updated.empty()) x += element("UpdatedDate", state.proxy_updated, in);
  x += pad + "</" + std::string(name) + ">\n";
  return x;
}

Response xml_response(std::string_view operation, const std::string& result,
                      std::string_view request_id) {
  Response r;
  r.headers.push_back({"x-amzn-RequestId", std::string(request_id)});
  r.headers.push_back({"Content-Type", "text/xml"});
  r.body = "<" + std::string(operation) + "Response xmlns=\"" + std::string(kRdsXmlNamespace) +
           "\">\n  <" + std::string(operation) + "Result>\n" + result + "  </" +
           std::string(operation) + "Result>\n  <ResponseMetadata>\n    <RequestId>" +
           xml_escape(request_id) + "</RequestId>\n  </ResponseMetadata>\n</" +
           std::string(operation) + "Response>\n";
  return r;
}

// arn:aws:rds:REGION:ACCOUNT:db-proxy:<resource id, or * for a proxy that is not the stack's>.
std::string proxy_arn(const ServiceCall& call, const std::string& resource_id) {
  const auto settings = call.store.settings();
  return "arn:aws:rds:" + settings.region + ":" + settings.account_id +
         ":db-proxy:" + (resource_id.empty() ? std::string("*") : resource_id);
}

std::optional<bool> parse_bool(std::string_view text) {
  if (text == "true") return true;
  if (text == "false") return false;
  return std::nullopt;
}

}  // namespace

RdsProxyService::RdsProxyService(std::string state_dir, spec::Spec spec)
    : state_dir_(std::move(state_dir)), spec_(std::move(spec)) {
  route_.signing_name = "rds";
  route_.protocol = Protocol::kQuery;
  route_.xml_namespace = std::string(kRdsXmlNamespace);
}

ApiResult RdsProxyService::handle(const ServiceCall& call) {
  auto version = call.param("Version");
  if (!version) {
    return awslocal::make_error(400, "MissingParameter",
                                "The request must contain the parameter Version (2014-10-31)");
  }
  if (*version != kVersion ||
      (call.operation != "ModifyDBProxy" && call.operation != "DescribeDBProxies")) {
    return awslocal::make_error(400, "InvalidAction",
                                "Could not find operation " +
                                    std::string(call.operation.substr(0, 64)) + " for version " +
                                    std::string(version->substr(0, 32)) +
                                    " (this endpoint serves RDS's ModifyDBProxy and "
                                    "DescribeDBProxies, version 2014-10-31)");
  }
  if (call.operation == "ModifyDBProxy") return modify(call);
  return describe(call);
}

ApiResult RdsProxyService::modify(const ServiceCall& call) {
  const auto name = call.param("DBProxyName");
  if (!name || name->empty()) {
    return awslocal::make_error(400, "MissingParameter",
                                "The request must contain the parameter DBProxyName");
  }
  std::optional<bool> debug;
  for (const auto& p : call.params) {
    if (p.name == "Action" || p.name == "Version" || p.name == "DBProxyName" ||
        p.name.rfind("X-Amz-", 0) == 0) {
      continue;
    }
    if (p.name == "DebugLogging") {
      debug = parse_bool(p.value);
      if (!debug) return invalid_value("DebugLogging must be true or false");
      continue;
    }
    // RequireTLS stays true: writegate refuses a proxy without TLS.
    if (p.name == "RequireTLS" && p.value == "true") continue;
    return invalid_value("this endpoint can change only DebugLogging of the local proxy (" +
                         p.name.substr(0, 64) + " cannot be changed here)");
  }
  auto state = StackState::load(state_dir_);
  const bool ours = state && *name == spec_.proxy.name && !state->proxy_resource_id.empty();
  const std::string arn = proxy_arn(call, ours ? state->proxy_resource_id : "");
  if (auto denied = awslocal::authorize(call, Protocol::kQuery, "rds:ModifyDBProxy", arn)) {
    return *denied;
  }
  if (!ours) return not_found(*name);
  if (debug) {
    auto changed = set_proxy_debug_logging(state_dir_, *debug);
    if (!changed) {
      if (changed.error().code() == ErrorCode::kFailedPrecondition) {
        return awslocal::make_error(
            400, "InvalidDBProxyStateFault",
            "The DBProxy " + spec_.proxy.name + " is not available: " + changed.error().message());
      }
      return awslocal::make_error(500, "InternalFailure",
                                  "the proxy's debug logging could not be changed");
    }
    state = std::move(changed);
  }
  return xml_response("ModifyDBProxy", db_proxy_xml(*state, spec_, 4), call.request_id);
}

ApiResult RdsProxyService::describe(const ServiceCall& call) {
  for (const auto& p : call.params) {
    if (p.name.rfind("Filters.", 0) == 0) {
      return invalid_value("Filters are not supported for DescribeDBProxies");
    }
  }
  const auto name = call.param("DBProxyName");
  auto state = StackState::load(state_dir_);
  const bool have = state && !state->proxy_resource_id.empty();
  const bool named_ours = have && name && *name == spec_.proxy.name;
  const std::string arn = proxy_arn(call, named_ours ? state->proxy_resource_id : "");
  if (auto denied = awslocal::authorize(call, Protocol::kQuery, "rds:DescribeDBProxies", arn)) {
    return *denied;
  }
  if (name && !named_ours) return not_found(*name);
  std::string list = "    <DBProxies>\n";
  if (have) list += db_proxy_xml(*state, spec_, 6, "member");
  list += "    </DBProxies>\n";
  return xml_response("DescribeDBProxies", list, call.request_id);
}

}  // namespace writegate::stack
