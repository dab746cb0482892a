#include "awslocal/secretsmanager.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace writegate::awslocal {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr Protocol kJson = Protocol::kJson11;

Response json_response(const ordered_json& body, std::string_view request_id) {
  Response r;
  r.headers.push_back({"x-amzn-RequestId", std::string(request_id)});
  r.headers.push_back({"Content-Type", "application/x-amz-json-1.1"});
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

double epoch_seconds(SecretClock::time_point t) {
  return static_cast<double>(
             std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count()) /
         1000.0;
}

ApiError not_found() {
  return service_error(400, "ResourceNotFoundException",
                       "Secrets Manager can't find the specified secret.");
}

ApiError invalid_parameter(std::string message) {
  return service_error(400, "InvalidParameterException", std::move(message));
}

// The request body as a JSON object, or the error AWS gives for a body it cannot read.
std::variant<json, ApiError> parse_body(std::string_view body) {
  json doc = json::parse(body.empty() ? std::string_view("{}") : body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return service_error(400, "SerializationException", "the request body is not a JSON object");
  }
  return doc;
}

// A string member, or std::nullopt when absent; an error when it has another type.
std::variant<std::optional<std::string>, ApiError> string_member(const json& body,
                                                                 const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return invalid_parameter(std::string(name) + " must be a string");
  return std::optional<std::string>(it->get<std::string>());
}

// SecretString or SecretBinary (base64 in JSON), exactly one.
std::variant<SecretPayload, ApiError> payload_of(const json& body) {
  auto text = string_member(body, "SecretString");
  if (auto* e = std::get_if<ApiError>(&text)) return *e;
  auto binary = string_member(body, "SecretBinary");
  if (auto* e = std::get_if<ApiError>(&binary)) return *e;
  auto& t = std::get<0>(text);
  auto& b = std::get<0>(binary);
  if (t.has_value() == b.has_value()) {
    return invalid_parameter("You must provide either SecretString or SecretBinary.");
  }
  if (t) {
    if (t->size() > 65536) return invalid_parameter("SecretString is longer than 65536 bytes");
    return SecretPayload::text(std::move(*t));
  }
  auto decoded = base64_decode(*b);
  if (!decoded) return invalid_parameter("SecretBinary is not base64");
  if (decoded->size() > 65536) return invalid_parameter("SecretBinary is longer than 65536 bytes");
  return SecretPayload::bytes(std::move(*decoded));
}

ordered_json version_stages_map(const SecretMetadata& meta) {
  ordered_json out = ordered_json::object();
  for (const auto& v : meta.versions)
    out[v.version_id] = v.stages;
  return out;
}

}  // namespace

std::string SecretsManagerService::via_service(std::string_view region) {
  return "secretsmanager." + std::string(region) + ".amazonaws.com";
}

SecretsManagerService::SecretsManagerService(std::shared_ptr<SecretStore> secrets)
    : secrets_(std::move(secrets)) {
  route_.signing_name = "secretsmanager";
  route_.protocol = Protocol::kJson11;
  route_.target_prefix = "secretsmanager";
}

ApiResult SecretsManagerService::handle(const ServiceCall& call) {
  auto parsed = parse_body(call.request.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const json& body = std::get<json>(parsed);
  const std::string op(call.operation);
  if (op != "GetSecretValue" && op != "DescribeSecret" && op != "CreateSecret" &&
      op != "PutSecretValue") {
    return service_error(400, "UnknownOperationException",
                         "this endpoint's Secrets Manager serves GetSecretValue, DescribeSecret, "
                         "CreateSecret and PutSecretValue, not " +
                             op.substr(0, 64));
  }
  const std::string action = "secretsmanager:" + op;

  if (op == "CreateSecret") {
    auto name = string_member(body, "Name");
    if (auto* e = std::get_if<ApiError>(&name)) return *e;
    if (!std::get<0>(name)) return invalid_parameter("You must provide Name.");
    const std::string secret_name = *std::get<0>(name);
    if (auto valid = validate_secret_name(secret_name); !valid) {
      return invalid_parameter(valid.error().message());
    }
    auto description = string_member(body, "Description");
    if (auto* e = std::get_if<ApiError>(&description)) return *e;
    const std::string resource = secrets_->partial_arn(secret_name) + "-*";
    if (auto denied = authorize(call, kJson, action, resource)) return *denied;
    iam::ContextKeys kms_keys;
    kms_keys.add("kms:ViaService", via_service(secrets_->region()));
    kms_keys.add("kms:CallerAccount", call.caller.identity.principal.account);
    if (auto denied =
            authorize(call, kJson, "kms:GenerateDataKey", secrets_->key().arn(), kms_keys)) {
      return access_denied(kJson, "Access to KMS is not allowed: " + denied->message);
    }
    auto payload = payload_of(body);
    if (auto* e = std::get_if<ApiError>(&payload)) return *e;
    auto created = secrets_->create(secret_name, std::get<SecretPayload>(payload),
                                    std::get<0>(description).value_or(""), call.now);
    if (!created) {
      if (created.error().code() == ErrorCode::kAlreadyExists) {
        return service_error(
            400, "ResourceExistsException",
            "The operation failed because the secret " + secret_name + " already exists.");
      }
      return service_error(500, "InternalServiceError", "the secret could not be stored");
    }
    return json_response(ordered_json{{"ARN", created->arn},
                                      {"Name", created->name},
                                      {"VersionId", created->versions.front().version_id}},
                         call.request_id);
  }

  auto secret_id_member = string_member(body, "SecretId");
  if (auto* e = std::get_if<ApiError>(&secret_id_member)) return *e;
  if (!std::get<0>(secret_id_member) || std::get<0>(secret_id_member)->empty()) {
    return invalid_parameter("You must provide SecretId.");
  }
  const std::string secret_id = std::get<0>(secret_id_member)->substr(0, 2048);
  auto meta = secrets_->describe(secret_id);
  if (!meta && meta.error().code() != ErrorCode::kNotFound) {
    return service_error(500, "InternalServiceError", "the secrets store could not be read");
  }
  // Authorise before saying whether the secret exists, so names cannot be probed.
  const std::string resource = meta                              ? meta->arn
                               : secret_id.rfind("arn:", 0) == 0 ? secret_id
                                                                 : secrets_->partial_arn(secret_id);
  iam::ContextKeys keys;
  keys.add("secretsmanager:SecretId", resource);
  if (auto denied = authorize(call, kJson, action, resource, keys)) return *denied;
  if (!meta) return not_found();

  if (op == "DescribeSecret") {
    ordered_json out{{"ARN", meta->arn}, {"Name", meta->name}};
    if (!meta->description.empty()) out["Description"] = meta->description;
    out["KmsKeyId"] = meta->kms_key_arn;
    out["LastChangedDate"] = epoch_seconds(meta->last_changed);
    out["VersionIdsToStages"] = version_stages_map(*meta);
    out["CreatedDate"] = epoch_seconds(meta->created);
    return json_response(out, call.request_id);
  }

  if (op == "PutSecretValue") {
    iam::ContextKeys kms_keys;
    kms_keys.add("kms:ViaService", via_service(secrets_->region()));
    kms_keys.add("kms:CallerAccount", call.caller.identity.principal.account);
    if (auto denied = authorize(call, kJson, "kms:GenerateDataKey", meta->kms_key_arn, kms_keys)) {
      return access_denied(kJson, "Access to KMS is not allowed: " + denied->message);
    }
    auto payload = payload_of(body);
    if (auto* e = std::get_if<ApiError>(&payload)) return *e;
    auto version = secrets_->put_value(meta->arn, std::get<SecretPayload>(payload), call.now);
    if (!version) {
      return service_error(500, "InternalServiceError", "the secret could not be stored");
    }
    return json_response(ordered_json{{"ARN", meta->arn},
                                      {"Name", meta->name},
                                      {"VersionId", *version},
                                      {"VersionStages", {std::string(kCurrentStage)}}},
                         call.request_id);
  }

  // GetSecretValue
  auto version_id = string_member(body, "VersionId");
  if (auto* e = std::get_if<ApiError>(&version_id)) return *e;
  auto version_stage = string_member(body, "VersionStage");
  if (auto* e = std::get_if<ApiError>(&version_stage)) return *e;
  const std::string wanted_id = std::get<0>(version_id).value_or("");
  std::string wanted_stage = std::get<0>(version_stage).value_or("");
  if (wanted_id.empty() && wanted_stage.empty()) wanted_stage = std::string(kCurrentStage);
  const SecretVersionInfo* chosen = nullptr;
  for (const auto& v : meta->versions) {
    bool id_ok = wanted_id.empty() || v.version_id == wanted_id;
    bool stage_ok = wanted_stage.empty() ||
                    std::find(v.stages.begin(), v.stages.end(), wanted_stage) != v.stages.end();
    if (id_ok && stage_ok) {
      chosen = &v;
      break;
    }
  }
  if (chosen == nullptr) {
    return service_error(400, "ResourceNotFoundException",
                         "Secrets Manager can't find the specified secret value for " +
                             (wanted_id.empty() ? "staging label: " + wanted_stage.substr(0, 256)
                                                : "VersionId: " + wanted_id.substr(0, 64)));
  }
  // Secrets Manager calls kms:Decrypt on the caller's behalf: the caller's policies decide,
  // before anything is decrypted.
  iam::ContextKeys kms_keys;
  kms_keys.add("kms:ViaService", via_service(secrets_->region()));
  kms_keys.add("kms:CallerAccount", call.caller.identity.principal.account);
  kms_keys.add("kms:EncryptionContext:SecretARN", meta->arn);
  kms_keys.add("kms:EncryptionContext:SecretVersionId", chosen->version_id);
  iam::RequestContext kms_request =
      request_context(call, "kms:Decrypt", meta->kms_key_arn, kms_keys);
  iam::EvaluationResult kms_result = iam::evaluate(call.caller.identity.policies, kms_request);
  if (!kms_result.allowed()) {
    return access_denied(kJson,
                         "Access to KMS is not allowed: " +
                             access_denied_message(call.caller.identity.principal, "kms:Decrypt",
                                                   meta->kms_key_arn, kms_result) +
                             " (request via " + via_service(secrets_->region()) + ")");
  }
  auto value = secrets_->get_value(meta->arn, chosen->version_id);
  if (!value) {
    return service_error(400, "DecryptionFailure",
                         "Secrets Manager can't decrypt the protected secret text using the "
                         "provided KMS key.");
  }
  ordered_json out{{"ARN", value->arn}, {"Name", value->name}, {"VersionId", value->version_id}};
  if (value->secret_string) out["SecretString"] = value->secret_string->reveal();
  if (value->secret_binary) out["SecretBinary"] = base64_encode(value->secret_binary->reveal());
  out["VersionStages"] = value->stages;
  out["CreatedDate"] = epoch_seconds(value->created);
  // value's SecretStrings wipe themselves; the JSON copy is the response body's.
  return json_response(out, call.request_id);
}

}  // namespace writegate::awslocal
