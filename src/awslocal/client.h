// Small AWS clients over HTTP(S): sign a request with SigV4 and call an endpoint (the local
// AWS endpoint, or real AWS), verifying the server's certificate and host name.
//
// The proxy fetches a database user's secret {"username": ..., "password": ...} with the proxy
// role's session:
//
//   ClientOptions options{.endpoint_url = "https://127.0.0.1:4566", .region = "us-east-1",
//                         .ca_file = "state/ca.pem"};
//   SecretsManagerClient secrets(options);
//   auto value = secrets.get_secret_value("aurora-master-secret", session_credentials);
//   if (!value) return value.error();   // subcode: the AWS error code, e.g. AccessDeniedException
//   auto db = parse_database_secret(*value->secret_string);  // db->username, db->password
//
//   StsClient sts(options);
//   auto who = sts.get_caller_identity(credentials);           // who->arn
//   auto session = sts.assume_role(credentials, role_arn, "proxy", std::chrono::seconds(900));
//
// Errors: unavailable (cannot connect / TLS failure / timeout), and for an AWS error answer an
// error whose subcode is the AWS code and whose ErrorCode is unauthenticated (token, signature,
// expiry), permission_denied (AccessDenied*), not_found (ResourceNotFoundException) or
// failed_precondition (others). Messages never hold credentials or secret values.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awslocal/api.h"
#include "common/result.h"
#include "common/secret_string.h"
#include "sigv4/sigv4.h"

namespace writegate::awslocal {

struct ClientOptions {
  std::string endpoint_url;  // "https://host:port" or "http://host:port" (no path)
  std::string region = "us-east-1";
  std::string ca_file;  // PEM bundle to trust for https; empty: the system's trust store
  std::chrono::milliseconds timeout{10000};  // per step (connect, handshake, write, read)
};

struct EndpointUrl {
  bool tls = false;
  std::string host;
  uint16_t port = 0;
};
Result<EndpointUrl> parse_endpoint_url(std::string_view url);

// Signs `request` (method, path, query, body; Host is added) for `service` and sends it.
// Returns the HTTP answer whatever its status.
Result<Response> send_signed(const ClientOptions& options, sigv4::HttpRequest request,
                             std::string_view service, const sigv4::Credentials& credentials);

// The AWS error in an answer, as a writegate Error (see the header comment).
Error error_from_response(const Response& response, std::string_view operation);

struct GetSecretValueResult {
  std::string arn;
  std::string name;
  std::string version_id;
  std::vector<std::string> version_stages;
  std::optional<SecretString> secret_string;  // wiped when the result goes; never log
  std::optional<SecretString> secret_binary;  // decoded bytes; wiped when the result goes
};

class SecretsManagerClient {
 public:
  explicit SecretsManagerClient(ClientOptions options) : options_(std::move(options)) {}
  // secret_id: name, full ARN or partial ARN. version_stage empty means AWSCURRENT.
  Result<GetSecretValueResult> get_secret_value(std::string_view secret_id,
                                                const sigv4::Credentials& credentials,
                                                std::string_view version_stage = {}) const;

 private:
  ClientOptions options_;
};

// A database user's secret as RDS Proxy reads it: a JSON object with string "username" and
// "password" (other members such as engine/host/port are allowed and ignored).
struct DatabaseSecret {
  std::string username;
  SecretString password;
};
Result<DatabaseSecret> parse_database_secret(std::string_view secret_string);

struct CallerIdentity {
  std::string arn;
  std::string user_id;
  std::string account;
};

struct AssumedRole {
  sigv4::Credentials credentials;  // secret
  std::chrono::system_clock::time_point expiration;
  std::string assumed_role_arn;
  std::string assumed_role_id;
};

class StsClient {
 public:
  explicit StsClient(ClientOptions options) : options_(std::move(options)) {}
  Result<CallerIdentity> get_caller_identity(const sigv4::Credentials& credentials) const;
  Result<AssumedRole> assume_role(const sigv4::Credentials& credentials, std::string_view role_arn,
                                  std::string_view session_name,
                                  std::chrono::seconds duration = std::chrono::seconds(3600)) const;

 private:
  ClientOptions options_;
};

// The text of the first <name>...</name> element in an XML document, unescaped; not_found when
// there is none. (Enough for the flat answers of STS.)
Result<std::string> xml_element_text(std::string_view xml, std::string_view name);

}  // namespace writegate::awslocal
