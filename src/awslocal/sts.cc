#include "awslocal/sts.h"

#include <charconv>
#include <ctime>

#include "common/time.h"
#include "iam/arn.h"

namespace writegate::awslocal {

namespace {

ApiError validation_error(std::string message) {
  return make_error(400, "ValidationError", std::move(message));
}

}  // namespace

StsService::StsService() {
  route_.signing_name = "sts";
  route_.protocol = Protocol::kQuery;
  route_.xml_namespace = std::string(kStsXmlNamespace);
}

ApiResult StsService::handle(const ServiceCall& call) {
  auto version = call.param("Version");
  if (!version) {
    return make_error(400, "MissingParameter",
                      "The request must contain the parameter Version (2011-06-15)");
  }
  if (*version != kStsVersion) {
    return make_error(400, "InvalidAction",
                      "Could not find operation " + std::string(call.operation.substr(0, 64)) +
                          " for version " + std::string(version->substr(0, 32)));
  }
  if (call.operation == "GetCallerIdentity") return get_caller_identity(call);
  if (call.operation == "AssumeRole") return assume_role(call);
  return make_error(400, "InvalidAction",
                    "Could not find operation " + std::string(call.operation.substr(0, 64)) +
                        " for version " + std::string(kStsVersion) +
                        " (this endpoint serves GetCallerIdentity and AssumeRole)");
}

// Always allowed, as on AWS: no policy can deny GetCallerIdentity.
ApiResult StsService::get_caller_identity(const ServiceCall& call) {
  const iam::PrincipalInfo& p = call.caller.identity.principal;
  std::string body = "<GetCallerIdentityResponse xmlns=\"" + std::string(kStsXmlNamespace) +
                     "\">\n  <GetCallerIdentityResult>\n    <Arn>" + xml_escape(p.arn) +
                     "</Arn>\n    <UserId>" + xml_escape(p.user_id) + "</UserId>\n    <Account>" +
                     xml_escape(p.account) + "</Account>\n  </GetCallerIdentityResult>\n" +
                     xml_response_metadata(call.request_id) + "</GetCallerIdentityResponse>\n";
  return xml_response(std::move(body), call.request_id);
}

ApiResult StsService::assume_role(const ServiceCall& call) {
  auto role_arn = call.param("RoleArn");
  auto session_name = call.param("RoleSessionName");
  if (!role_arn || role_arn->empty()) {
    return validation_error(
        "1 validation error detected: Value null at 'roleArn' failed to "
        "satisfy constraint: Member must not be null");
  }
  if (!session_name || session_name->empty()) {
    return validation_error(
        "1 validation error detected: Value null at 'roleSessionName' failed "
        "to satisfy constraint: Member must not be null");
  }
  std::chrono::seconds duration = iam::kDefaultSessionDuration;
  if (auto text = call.param("DurationSeconds")) {
    long long value = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc() || end != text->data() + text->size()) {
      return validation_error("DurationSeconds '" + std::string(text->substr(0, 32)) +
                              "' is not a number of seconds");
    }
    if (value < iam::kMinSessionDuration.count()) {
      return validation_error("1 validation error detected: Value '" + std::to_string(value) +
                              "' at 'durationSeconds' failed to satisfy constraint: Member must "
                              "have value greater than or equal to 900");
    }
    if (value > iam::kMaxSessionDuration.count()) {
      return validation_error("1 validation error detected: Value '" + std::to_string(value) +
                              "' at 'durationSeconds' failed to satisfy constraint: Member must "
                              "have value less than or equal to 43200");
    }
    duration = std::chrono::seconds(value);
  }

  const iam::PrincipalInfo& caller = call.caller.identity.principal;
  const std::string role_arn_text(role_arn->substr(0, 2048));
  std::string denied_prefix =
      "User: " + caller.arn +
      " is not authorized to perform: sts:AssumeRole on resource: " + role_arn_text;
  auto arn = iam::parse_arn(role_arn_text);
  if (!arn || arn->service != "iam" || arn->resource.rfind("role/", 0) != 0) {
    return validation_error("RoleArn '" + role_arn_text + "' is not a role ARN " +
                            "(arn:aws:iam::ACCOUNT:role/NAME)");
  }
  const std::string role_name = arn->resource.substr(arn->resource.rfind('/') + 1);
  const iam::StoreSettings settings = call.store.settings();
  auto role = call.store.role(role_name);
  // An unknown role or another account is refused like a forbidden one: no probing for names.
  if (arn->account != settings.account_id || !role ||
      iam::role_arn(settings.account_id, role_name) != role_arn_text) {
    return access_denied(Protocol::kQuery, denied_prefix);
  }
  auto trust = call.store.trust_policy(role_name);
  if (!trust) return access_denied(Protocol::kQuery, denied_prefix);

  iam::ContextKeys keys;
  if (!call.remote_address.empty()) keys.add("aws:SourceIp", std::string(call.remote_address));
  keys.add("aws:SecureTransport", call.secure_transport ? "true" : "false");
  keys.add("sts:RoleSessionName", std::string(*session_name));
  iam::AssumeRoleCaller assume_caller{.principal = caller,
                                      .policies = call.caller.identity.policies};
  iam::AssumeRoleDecision decision =
      iam::authorize_assume_role(assume_caller, role_arn_text, *trust, keys);
  if (!decision.allowed) {
    return access_denied(Protocol::kQuery, denied_prefix + " (" + decision.reason + ")");
  }
  if (duration > role->max_session_duration) {
    return validation_error(
        "The requested DurationSeconds exceeds the MaxSessionDuration set for "
        "this role.");
  }
  auto session = call.store.create_session(role_name, *session_name, duration, call.now);
  if (!session) {
    if (session.error().code() == ErrorCode::kInvalidArgument) {
      return validation_error(session.error().message());
    }
    return make_error(500, "InternalFailure", "the session could not be stored");
  }
  const std::string assumed_arn =
      iam::assumed_role_arn(settings.account_id, role_name, session->session_name);
  const std::string assumed_id = role->role_id + ":" + session->session_name;
  std::string body =
      "<AssumeRoleResponse xmlns=\"" + std::string(kStsXmlNamespace) +
      "\">\n  <AssumeRoleResult>\n    <AssumedRoleUser>\n      <AssumedRoleId>" +
      xml_escape(assumed_id) + "</AssumedRoleId>\n      <Arn>" + xml_escape(assumed_arn) +
      "</Arn>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>" +
      xml_escape(session->access_key_id) + "</AccessKeyId>\n      <SecretAccessKey>" +
      xml_escape(session->secret_access_key.reveal()) + "</SecretAccessKey>\n      <SessionToken>" +
      xml_escape(session->session_token.reveal()) + "</SessionToken>\n      <Expiration>" +
      format_iso8601(session->expiration) +
      "</Expiration>\n    </Credentials>\n  </AssumeRoleResult>\n" +
      xml_response_metadata(call.request_id) + "</AssumeRoleResponse>\n";
  return xml_response(std::move(body), call.request_id);
}

}  // namespace writegate::awslocal
