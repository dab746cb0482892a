// Unit tests of the local AWS endpoint without sockets: error bodies, the router (routing,
// SigV4 failures as AWS reports them, STS and Secrets Manager decisions), HTTP framing limits,
// the AES-GCM at-rest format and the secret store.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "awslocal/api.h"
#include "awslocal/client.h"
#include "awslocal/endpoint.h"
#include "awslocal/fixture.h"
#include "awslocal/http_codec.h"
#include "awslocal/kms.h"
#include "awslocal/router.h"
#include "awslocal/secret_store.h"
#include "awslocal/secretsmanager.h"
#include "awslocal/sts.h"

namespace writegate::awslocal {
namespace {

using nlohmann::json;
using testing::allow_policy;
using testing::make_seeded_state;
using testing::SeededState;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// ---- error bodies -------------------------------------------------------------------------

TEST(ErrorBodies, QueryXml) {
  Response r = render_error(
      Protocol::kQuery, make_error(403, "InvalidClientTokenId", "bad <token> & \"x\""), "rid-1");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.header("Content-Type"), "text/xml");
  EXPECT_EQ(r.header("x-amzn-RequestId"), "rid-1");
  EXPECT_EQ(r.body,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
            "  <Error>\n    <Type>Sender</Type>\n    <Code>InvalidClientTokenId</Code>\n"
            "    <Message>bad &lt;token&gt; &amp; &quot;x&quot;</Message>\n  </Error>\n"
            "  <RequestId>rid-1</RequestId>\n</ErrorResponse>\n");
  Response server = render_error(Protocol::kQuery, make_error(500, "InternalFailure", "m"), "r");
  EXPECT_NE(server.body.find("<Type>Receiver</Type>"), std::string::npos);
}

TEST(ErrorBodies, Json11) {
  Response r = render_error(Protocol::kJson11,
                            make_error(400, "AccessDeniedException", "User: \"a\" no"), "rid-2");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.header("content-type"), "application/x-amz-json-1.1");
  EXPECT_EQ(r.body, R"({"__type":"AccessDeniedException","message":"User: \"a\" no"})");
  // Invalid UTF-8 from a request never makes rendering throw.
  Response bad = render_error(Protocol::kJson11, make_error(400, "X", "\xff\xfe"), "r");
  EXPECT_EQ(bad.body, "{\"__type\":\"X\",\"message\":\"\xEF\xBF\xBD\xEF\xBF\xBD\"}");
}

TEST(ErrorBodies, RestJson) {
  Response r = render_error(Protocol::kRestJson,
                            make_error(403, "UnrecognizedClientException", "m"), "rid-3");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "UnrecognizedClientException");
  EXPECT_EQ(r.body, R"({"Type":"User","message":"m"})");
}

TEST(ErrorBodies, AuthErrorsPerProtocol) {
  using sigv4::AuthFailure;
  struct Case {
    AuthFailure failure;
    Protocol protocol;
    int status;
    std::string code;
  };
  const Case cases[] = {
      {AuthFailure::kUnknownKey, Protocol::kQuery, 403, "InvalidClientTokenId"},
      {AuthFailure::kUnknownKey, Protocol::kJson11, 400, "UnrecognizedClientException"},
      {AuthFailure::kUnknownKey, Protocol::kRestJson, 403, "UnrecognizedClientException"},
      {AuthFailure::kBadSecurityToken, Protocol::kQuery, 403, "InvalidClientTokenId"},
      {AuthFailure::kBadSignature, Protocol::kQuery, 403, "SignatureDoesNotMatch"},
      {AuthFailure::kBadSignature, Protocol::kJson11, 400, "InvalidSignatureException"},
      {AuthFailure::kSessionExpired, Protocol::kQuery, 400, "ExpiredToken"},
      {AuthFailure::kSessionExpired, Protocol::kJson11, 400, "ExpiredTokenException"},
      {AuthFailure::kExpired, Protocol::kQuery, 403, "SignatureDoesNotMatch"},
      {AuthFailure::kWrongRegion, Protocol::kJson11, 400, "InvalidSignatureException"},
      {AuthFailure::kPayloadHashMismatch, Protocol::kQuery, 403, "SignatureDoesNotMatch"},
      {AuthFailure::kPayloadHashMismatch, Protocol::kJson11, 400, "InvalidSignatureException"},
      {AuthFailure::kUnsignedPayload, Protocol::kQuery, 403, "SignatureDoesNotMatch"},
      {AuthFailure::kUnsignedPayload, Protocol::kJson11, 400, "InvalidSignatureException"},
      {AuthFailure::kUnsignedPayload, Protocol::kRestJson, 403, "InvalidSignatureException"},
      {AuthFailure::kMalformed, Protocol::kQuery, 400, "IncompleteSignature"},
      {AuthFailure::kMalformed, Protocol::kJson11, 400, "IncompleteSignatureException"},
  };
  for (const Case& c : cases) {
    ApiError e = auth_error(c.protocol, c.failure, "detail");
    EXPECT_EQ(e.http_status, c.status) << sigv4::auth_failure_name(c.failure);
    EXPECT_EQ(e.code, c.code) << sigv4::auth_failure_name(c.failure);
  }
  EXPECT_EQ(auth_error(Protocol::kQuery, AuthFailure::kUnknownKey, "x").message,
            "The security token included in the request is invalid.");
  EXPECT_EQ(expired_token(Protocol::kQuery).message,
            "The security token included in the request is expired");
  EXPECT_EQ(access_denied(Protocol::kQuery, "m").code, "AccessDenied");
  EXPECT_EQ(access_denied(Protocol::kJson11, "m").code, "AccessDeniedException");
  EXPECT_EQ(access_denied(Protocol::kJson11, "m").http_status, 400);
}

// ---- router -------------------------------------------------------------------------------

// A REST JSON service that echoes the caller (as Lambda Invoke will plug in).
class EchoRestService : public Service {
 public:
  EchoRestService() {
    route_.signing_name = "lambda";
    route_.protocol = Protocol::kRestJson;
    route_.rest_path_prefix = "/2015-03-31/functions/";
  }
  const ServiceRoute& route() const override { return route_; }
  std::string rest_operation(std::string_view method, std::string_view path) const override {
    if (method == "POST" && path.size() > 12 && path.substr(path.size() - 12) == "/invocations") {
      return "Invoke";
    }
    return {};
  }
  ApiResult handle(const ServiceCall& call) override {
    if (auto denied = authorize(call, Protocol::kRestJson, "lambda:InvokeFunction", "*")) {
      return *denied;
    }
    Response r;
    r.body = std::string(call.operation) + " by " + call.caller.identity.principal.arn;
    return r;
  }

 private:
  ServiceRoute route_;
};

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = make_seeded_state();
    auto router = make_default_router(state_.dir);
    ASSERT_TRUE(router.ok()) << router.error().message();
    router_ = *router;
    router_->add(std::make_shared<EchoRestService>());
    auto secrets = SecretStore::open(state_.dir);
    ASSERT_TRUE(secrets.ok()) << secrets.error().message();
    auto made = (*secrets)->create(
        "lambda-writer-secret", SecretPayload::text(R"({"username":"postgres","password":"pw-1"})"),
        "", std::chrono::system_clock::now());
    ASSERT_TRUE(made.ok()) << made.error().message();
    secret_arn_ = made->arn;
  }

  // Signs and routes a request; `service` is the SigV4 scope service.
  Response send(sigv4::HttpRequest http, const std::string& service,
                const sigv4::Credentials& credentials, const std::string& region = "us-east-1") {
    http.headers.push_back({"Host", "127.0.0.1:4566"});
    sigv4::SigningParams params{
        .region = region, .service = service, .time = std::chrono::system_clock::now()};
    auto signed_ = sigv4::sign_request(http, credentials, params);
    EXPECT_TRUE(signed_.ok());
    return router_->handle(to_request(http));
  }
  // Signs with x-amz-content-sha256 set to `declared` (empty: the body's SHA-256) and routes.
  Response send_declaring(sigv4::HttpRequest http, const std::string& service,
                          const sigv4::Credentials& credentials, const std::string& declared) {
    http.headers.push_back({"Host", "127.0.0.1:4566"});
    http.payload_hash = declared;
    sigv4::SigningParams params{
        .region = "us-east-1", .service = service, .time = std::chrono::system_clock::now()};
    params.add_content_sha256_header = true;
    auto signed_ = sigv4::sign_request(http, credentials, params);
    EXPECT_TRUE(signed_.ok());
    return router_->handle(to_request(http));
  }
  static Request to_request(const sigv4::HttpRequest& http) {
    Request r;
    r.method = http.method;
    r.target = http.path + (http.query.empty() ? "" : sigv4::encode_query_string(http.query));
    r.headers = http.headers;
    r.body = http.body;
    r.remote_address = "127.0.0.1";
    return r;
  }
  static sigv4::HttpRequest sts(const std::string& form) {
    sigv4::HttpRequest h;
    h.method = "POST";
    h.headers.push_back({"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"});
    h.body = form;
    return h;
  }
  static sigv4::HttpRequest secretsmanager(const std::string& op, const std::string& body) {
    sigv4::HttpRequest h;
    h.method = "POST";
    h.headers.push_back({"Content-Type", "application/x-amz-json-1.1"});
    h.headers.push_back({"X-Amz-Target", "secretsmanager." + op});
    h.body = body;
    return h;
  }
  static std::string code_of(const Response& r) {
    if (auto c = xml_element_text(r.body, "Code")) return *c;
    json doc = json::parse(r.body, nullptr, false);
    if (doc.is_object() && doc.contains("__type")) return doc["__type"].get<std::string>();
    return std::string(r.header("x-amzn-ErrorType"));
  }

  SeededState state_;
  std::shared_ptr<Router> router_;
  std::string secret_arn_;
};

TEST_F(RouterTest, GetCallerIdentityOfUserAndSession) {
  auto alice = state_.add_user("alice");
  Response r = send(sts("Action=GetCallerIdentity&Version=2011-06-15"), "sts", alice);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(*xml_element_text(r.body, "Arn"), "arn:aws:iam::000000000000:user/alice");
  EXPECT_EQ(*xml_element_text(r.body, "Account"), "000000000000");
  EXPECT_EQ(xml_element_text(r.body, "UserId")->substr(0, 4), "AIDA");
  EXPECT_EQ(*xml_element_text(r.body, "RequestId"), r.header("x-amzn-RequestId"));

  auto session = state_.session_of("rds-proxy-role");
  Response s = send(sts("Action=GetCallerIdentity&Version=2011-06-15"), "sts", session);
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(*xml_element_text(s.body, "Arn"),
            "arn:aws:sts::000000000000:assumed-role/rds-proxy-role/test-session");
  EXPECT_EQ(xml_element_text(s.body, "UserId")->substr(0, 4), "AROA");
}

TEST_F(RouterTest, SignatureFailuresAsAwsReportsThem) {
  auto alice = state_.add_user("alice");
  auto wrong = alice;
  std::string altered(alice.secret_access_key.reveal());
  altered[0] = altered[0] == 'A' ? 'B' : 'A';
  wrong.secret_access_key = std::move(altered);
  Response bad = send(sts("Action=GetCallerIdentity&Version=2011-06-15"), "sts", wrong);
  EXPECT_EQ(bad.status, 403);
  EXPECT_EQ(code_of(bad), "SignatureDoesNotMatch");
  Response bad_json =
      send(secretsmanager("GetSecretValue", R"({"SecretId":"x"})"), "secretsmanager", wrong);
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(code_of(bad_json), "InvalidSignatureException");

  sigv4::Credentials unknown{"AKIAAAAAAAAAAAAAAAAA", "secret", ""};
  Response u = send(sts("Action=GetCallerIdentity&Version=2011-06-15"), "sts", unknown);
  EXPECT_EQ(u.status, 403);
  EXPECT_EQ(code_of(u), "InvalidClientTokenId");
  EXPECT_EQ(*xml_element_text(u.body, "Message"),
            "The security token included in the request is invalid.");

  auto past = std::chrono::system_clock::now() - std::chrono::seconds(2000);
  auto expired = state_.session_of("rds-proxy-role", std::chrono::seconds(900), past);
  Response e = send(sts("Action=GetCallerIdentity&Version=2011-06-15"), "sts", expired);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(code_of(e), "ExpiredToken");

  auto session = state_.session_of("rds-proxy-role");
  session.session_token = "forged";
  Response t = send(sts("Action=GetCallerIdentity&Version=2011-06-15"), "sts", session);
  EXPECT_EQ(code_of(t), "InvalidClientTokenId");

  Response region =
      send(sts("Action=GetCallerIdentity&Version=2011-06-15"), "sts", alice, "eu-west-1");
  EXPECT_EQ(code_of(region), "SignatureDoesNotMatch");
  EXPECT_NE(region.body.find("Credential should be scoped to a valid region"), std::string::npos);
}

// Only S3 accepts UNSIGNED-PAYLOAD / STREAMING-* in x-amz-content-sha256; the other services
// hash the body they receive, so AWS answers with its signature-mismatch error.
TEST_F(RouterTest, PayloadHashMustBeTheBodysSha256) {
  auto alice = state_.add_user(
      "alice", R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":)"
               R"(["secretsmanager:DescribeSecret","lambda:InvokeFunction"],"Resource":"*"}]})");
  const std::string kSignatureMessage =
      "The request signature we calculated does not match the signature you provided. Check "
      "your AWS Secret Access Key and signing method. Consult the service documentation for "
      "details.";
  auto sts_request = [] { return sts("Action=GetCallerIdentity&Version=2011-06-15"); };
  auto sm_request = [&] {
    return secretsmanager("DescribeSecret", R"({"SecretId":"lambda-writer-secret"})");
  };
  auto lambda_request = [] {
    sigv4::HttpRequest h;
    h.method = "POST";
    h.path = "/2015-03-31/functions/f/invocations";
    h.body = "{}";
    return h;
  };
  // The body's own hash, declared: accepted.
  EXPECT_EQ(send_declaring(sts_request(), "sts", alice, "").status, 200);
  EXPECT_EQ(send_declaring(sm_request(), "secretsmanager", alice, "").status, 200);
  EXPECT_EQ(send_declaring(lambda_request(), "lambda", alice, "").status, 200);

  for (const std::string& declared :
       {std::string(sigv4::kUnsignedPayload), std::string("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        std::string("STREAMING-UNSIGNED-PAYLOAD-TRAILER")}) {
    Response q = send_declaring(sts_request(), "sts", alice, declared);
    EXPECT_EQ(q.status, 403) << declared;
    EXPECT_EQ(code_of(q), "SignatureDoesNotMatch") << declared;
    auto message = xml_element_text(q.body, "Message");
    ASSERT_TRUE(message.ok()) << q.body;
    EXPECT_EQ(*message, kSignatureMessage);
    Response j = send_declaring(sm_request(), "secretsmanager", alice, declared);
    EXPECT_EQ(j.status, 400) << declared;
    EXPECT_EQ(code_of(j), "InvalidSignatureException") << declared;
    Response rest = send_declaring(lambda_request(), "lambda", alice, declared);
    EXPECT_EQ(rest.status, 403) << declared;
    EXPECT_EQ(code_of(rest), "InvalidSignatureException") << declared;
  }

  // A declared hash that is not the body's (the body was swapped after signing).
  auto swapped = [&](sigv4::HttpRequest http, const std::string& service,
                     const std::string& new_body) {
    http.headers.push_back({"Host", "127.0.0.1:4566"});
    sigv4::SigningParams params{
        .region = "us-east-1", .service = service, .time = std::chrono::system_clock::now()};
    params.add_content_sha256_header = true;
    EXPECT_TRUE(sigv4::sign_request(http, alice, params).ok());
    http.body = new_body;
    return router_->handle(to_request(http));
  };
  Response q = swapped(sts_request(), "sts", "Action=AssumeRole&Version=2011-06-15");
  EXPECT_EQ(q.status, 403);
  EXPECT_EQ(code_of(q), "SignatureDoesNotMatch");
  Response j = swapped(sm_request(), "secretsmanager", R"({"SecretId":"other"})");
  EXPECT_EQ(j.status, 400);
  EXPECT_EQ(code_of(j), "InvalidSignatureException");
}

TEST_F(RouterTest, RevokedKeyTakesEffectAtOnce) {
  auto alice = state_.add_user("alice");
  ASSERT_EQ(send(sts("Action=GetCallerIdentity&Version=2011-06-15"), "sts", alice).status, 200);
  // Another process (another IamStore on the same folder) revokes the key.
  auto other = iam::IamStore::open(state_.dir);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->delete_access_key(alice.access_key_id).ok());
  Response r = send(sts("Action=GetCallerIdentity&Version=2011-06-15"), "sts", alice);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(code_of(r), "InvalidClientTokenId");
}

TEST_F(RouterTest, UnsignedAndUnroutableRequests) {
  Request unsigned_sts;
  unsigned_sts.method = "POST";
  unsigned_sts.target = "/";
  unsigned_sts.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  unsigned_sts.body = "Action=GetCallerIdentity&Version=2011-06-15";
  Response r = router_->handle(unsigned_sts);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(code_of(r), "MissingAuthenticationToken");

  Request unknown_target;
  unknown_target.method = "POST";
  unknown_target.headers = {{"X-Amz-Target", "dynamodb_20120810.GetItem"}};
  Response u = router_->handle(unknown_target);
  EXPECT_EQ(u.status, 400);
  EXPECT_EQ(code_of(u), "UnknownOperationException");

  auto alice = state_.add_user("alice");
  Response no_action = send(sts("Version=2011-06-15"), "sts", alice);
  EXPECT_EQ(code_of(no_action), "MissingAction");
  Response other_service = send(sts("Action=DescribeInstances"), "ec2", alice);
  EXPECT_EQ(code_of(other_service), "InvalidAction");
  Response unknown_op = send(sts("Action=GetSessionToken&Version=2011-06-15"), "sts", alice);
  EXPECT_EQ(code_of(unknown_op), "InvalidAction");

  Request bad_path;
  bad_path.target = "nopath";
  EXPECT_EQ(code_of(router_->handle(bad_path)), "InvalidURI");
}

TEST_F(RouterTest, RestServicePlugsIn) {
  auto alice = state_.add_user("alice", allow_policy("lambda:InvokeFunction", "*"));
  sigv4::HttpRequest h;
  h.method = "POST";
  h.path = "/2015-03-31/functions/aurora-writer-lambda/invocations";
  h.body = "{}";
  Response r = send(h, "lambda", alice);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "Invoke by arn:aws:iam::000000000000:user/alice");
  auto bob = state_.add_user("bob");
  Response denied = send(h, "lambda", bob);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.header("x-amzn-ErrorType"), "AccessDeniedException");
  EXPECT_EQ(json::parse(denied.body)["message"],
            "User: arn:aws:iam::000000000000:user/bob is not authorized to perform: "
            "lambda:InvokeFunction on resource: * because no identity-based policy allows the "
            "lambda:InvokeFunction action");
}

TEST_F(RouterTest, AssumeRoleNeedsIdentityPolicyAndTrust) {
  const std::string ops_trust =
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":[)"
      R"("arn:aws:iam::000000000000:user/alice","arn:aws:iam::000000000000:user/bob"]},)"
      R"("Action":"sts:AssumeRole"}]})";
  ASSERT_TRUE(state_.store->create_role("ops-role", ops_trust).ok());
  auto alice = state_.add_user("alice", allow_policy("sts:AssumeRole", "arn:aws:iam::*:role/*"));
  auto bob = state_.add_user("bob");
  const std::string form = "Action=AssumeRole&Version=2011-06-15&RoleArn=" +
                           sigv4::uri_encode(state_.role_arn("ops-role")) +
                           "&RoleSessionName=s1&DurationSeconds=900";
  Response ok = send(sts(form), "sts", alice);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(*xml_element_text(ok.body, "Arn"),
            "arn:aws:sts::000000000000:assumed-role/ops-role/s1");
  auto key = xml_element_text(ok.body, "AccessKeyId");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->substr(0, 4), "ASIA");
  // The new session works at once.
  sigv4::Credentials session{*key, *xml_element_text(ok.body, "SecretAccessKey"),
                             *xml_element_text(ok.body, "SessionToken")};
  Response who = send(sts("Action=GetCallerIdentity&Version=2011-06-15"), "sts", session);
  EXPECT_EQ(*xml_element_text(who.body, "Arn"),
            "arn:aws:sts::000000000000:assumed-role/ops-role/s1");

  Response no_identity = send(sts(form), "sts", bob);
  EXPECT_EQ(no_identity.status, 403);
  EXPECT_EQ(code_of(no_identity), "AccessDenied");
  EXPECT_NE(no_identity.body.find("no identity policy of arn:aws:iam::000000000000:user/bob"),
            std::string::npos)
      << no_identity.body;

  const std::string proxy_form = "Action=AssumeRole&Version=2011-06-15&RoleArn=" +
                                 sigv4::uri_encode(state_.role_arn("rds-proxy-role")) +
                                 "&RoleSessionName=s2";
  Response no_trust = send(sts(proxy_form), "sts", alice);
  EXPECT_EQ(no_trust.status, 403);
  EXPECT_NE(no_trust.body.find("does not allow arn:aws:iam::000000000000:user/alice"),
            std::string::npos)
      << no_trust.body;

  const std::string missing_form = "Action=AssumeRole&Version=2011-06-15&RoleArn=" +
                                   sigv4::uri_encode(state_.role_arn("no-such-role")) +
                                   "&RoleSessionName=s3";
  Response missing = send(sts(missing_form), "sts", alice);
  EXPECT_EQ(code_of(missing), "AccessDenied");

  Response short_duration = send(sts(form.substr(0, form.size() - 3) + "899"), "sts", alice);
  EXPECT_EQ(code_of(short_duration), "ValidationError");
}

TEST_F(RouterTest, GetSecretValueNeedsSecretAndKmsPermissions) {
  const std::string body = R"({"SecretId":"lambda-writer-secret"})";
  Response ok = send(secretsmanager("GetSecretValue", body), "secretsmanager",
                     state_.session_of("rds-proxy-role"));
  ASSERT_EQ(ok.status, 200) << ok.body;
  json doc = json::parse(ok.body);
  EXPECT_EQ(doc["SecretString"], R"({"username":"postgres","password":"pw-1"})");
  EXPECT_EQ(doc["ARN"], secret_arn_);
  EXPECT_EQ(doc["Name"], "lambda-writer-secret");
  EXPECT_EQ(doc["VersionStages"], json::array({"AWSCURRENT"}));

  Response lambda = send(secretsmanager("GetSecretValue", body), "secretsmanager",
                         state_.session_of("lambda-aurora-writer-role"));
  EXPECT_EQ(lambda.status, 400);
  EXPECT_EQ(code_of(lambda), "AccessDeniedException");
  EXPECT_EQ(lambda.body.find("pw-1"), std::string::npos);

  // secretsmanager:GetSecretValue alone: KMS refuses.
  const std::string secret_only =
      allow_policy("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:*:*:secret:lambda-*");
  auto carol = state_.add_user("carol", secret_only);
  Response no_kms = send(secretsmanager("GetSecretValue", body), "secretsmanager", carol);
  EXPECT_EQ(code_of(no_kms), "AccessDeniedException");
  EXPECT_NE(json::parse(no_kms.body)["message"].get<std::string>().find(
                "Access to KMS is not allowed: User: arn:aws:iam::000000000000:user/carol is not "
                "authorized to perform: kms:Decrypt on resource: " +
                state_.seed.kms_key_arn),
            std::string::npos)
      << no_kms.body;

  // kms:Decrypt with another kms:ViaService: refused; with the right one: allowed.
  auto with_via = [&](const std::string& via) {
    return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":)"
           R"("secretsmanager:GetSecretValue","Resource":"*"},{"Effect":"Allow","Action":)"
           R"("kms:Decrypt","Resource":")" +
           state_.seed.kms_key_arn + R"(","Condition":{"StringEquals":{"kms:ViaService":")" + via +
           R"("}}}]})";
  };
  auto dave = state_.add_user("dave", with_via("secretsmanager.eu-west-1.amazonaws.com"));
  EXPECT_EQ(code_of(send(secretsmanager("GetSecretValue", body), "secretsmanager", dave)),
            "AccessDeniedException");
  auto erin = state_.add_user("erin", with_via("secretsmanager.us-east-1.amazonaws.com"));
  EXPECT_EQ(send(secretsmanager("GetSecretValue", body), "secretsmanager", erin).status, 200);

  // Unknown secret: denied unless allowed, then not found (no probing of names).
  Response missing = send(secretsmanager("GetSecretValue", R"({"SecretId":"lambda-nope"})"),
                          "secretsmanager", state_.session_of("rds-proxy-role"));
  EXPECT_EQ(code_of(missing), "AccessDeniedException");
  Response missing_allowed =
      send(secretsmanager("GetSecretValue", R"({"SecretId":"lambda-writer-secret-nope"})"),
           "secretsmanager", state_.session_of("rds-proxy-role"));
  EXPECT_EQ(code_of(missing_allowed), "ResourceNotFoundException");

  Response by_arn = send(secretsmanager("GetSecretValue", R"({"SecretId":")" + secret_arn_ + "\"}"),
                         "secretsmanager", state_.session_of("rds-proxy-role"));
  EXPECT_EQ(by_arn.status, 200);
  Response describe = send(secretsmanager("DescribeSecret", body), "secretsmanager",
                           state_.session_of("rds-proxy-role"));
  ASSERT_EQ(describe.status, 200);
  EXPECT_EQ(json::parse(describe.body)["KmsKeyId"], state_.seed.kms_key_arn);
  EXPECT_EQ(describe.body.find("pw-1"), std::string::npos);

  Response garbage = send(secretsmanager("GetSecretValue", "{not json"), "secretsmanager",
                          state_.session_of("rds-proxy-role"));
  EXPECT_EQ(code_of(garbage), "SerializationException");
}

TEST_F(RouterTest, CreateAndPutSecretAsAdmin) {
  auto admin = state_.add_user(
      "admin",
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:*",)"
      R"("kms:*"],"Resource":"*"}]})");
  Response created =
      send(secretsmanager("CreateSecret", R"({"Name":"app-secret","SecretString":"v1"})"),
           "secretsmanager", admin);
  ASSERT_EQ(created.status, 200) << created.body;
  std::string arn = json::parse(created.body)["ARN"];
  EXPECT_EQ(arn.substr(0, arn.size() - 6),
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:app-secret-");
  Response again =
      send(secretsmanager("CreateSecret", R"({"Name":"app-secret","SecretString":"v1"})"),
           "secretsmanager", admin);
  EXPECT_EQ(code_of(again), "ResourceExistsException");
  Response put =
      send(secretsmanager("PutSecretValue", R"({"SecretId":"app-secret","SecretString":"v2"})"),
           "secretsmanager", admin);
  ASSERT_EQ(put.status, 200) << put.body;
  Response got = send(secretsmanager("GetSecretValue", R"({"SecretId":"app-secret"})"),
                      "secretsmanager", admin);
  EXPECT_EQ(json::parse(got.body)["SecretString"], "v2");
  Response prev = send(
      secretsmanager("GetSecretValue", R"({"SecretId":"app-secret","VersionStage":"AWSPREVIOUS"})"),
      "secretsmanager", admin);
  EXPECT_EQ(json::parse(prev.body)["SecretString"], "v1");
  auto reader = state_.add_user("reader", allow_policy("secretsmanager:GetSecretValue", "*"));
  Response denied = send(secretsmanager("CreateSecret", R"({"Name":"x","SecretString":"v"})"),
                         "secretsmanager", reader);
  EXPECT_EQ(code_of(denied), "AccessDeniedException");
}

// ---- HTTP framing -------------------------------------------------------------------------

TEST(HttpCodec, ParsesAndCapsRequests) {
  auto ok = parse_http_request("POST /a?b=c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  ASSERT_TRUE(std::holds_alternative<Request>(ok));
  const Request& r = std::get<Request>(ok);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/a?b=c");
  EXPECT_EQ(r.body, "abc");

  HttpLimits small{.max_header_bytes = 64, .max_body_bytes = 4};
  auto big_header = parse_http_request(
      "GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n", small);
  ASSERT_TRUE(std::holds_alternative<ApiError>(big_header));
  EXPECT_EQ(std::get<ApiError>(big_header).http_status, 431);
  auto big_body =
      parse_http_request("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n12345", small);
  ASSERT_TRUE(std::holds_alternative<ApiError>(big_body));
  EXPECT_EQ(std::get<ApiError>(big_body).code, "RequestEntityTooLarge");
  auto garbage = parse_http_request("\x01\x02 nonsense\r\n\r\n");
  ASSERT_TRUE(std::holds_alternative<ApiError>(garbage));
  EXPECT_EQ(std::get<ApiError>(garbage).code, "MalformedHTTPRequest");
  auto empty = parse_http_request("");
  ASSERT_TRUE(std::holds_alternative<ApiError>(empty));
  EXPECT_EQ(std::get<ApiError>(empty).code, "MalformedHTTPRequest");
  // A last chunk without its final CRLF (found by the fuzzer: an assertion in Beast).
  auto chunk =
      parse_http_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
  ASSERT_TRUE(std::holds_alternative<ApiError>(chunk));
  EXPECT_EQ(std::get<ApiError>(chunk).code, "MalformedHTTPRequest");
  auto chunked_ok = parse_http_request(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  ASSERT_TRUE(std::holds_alternative<Request>(chunked_ok));
  EXPECT_EQ(std::get<Request>(chunked_ok).body, "abc");
  // A header that never ends (found by the fuzzer: this looped forever).
  auto unterminated = parse_http_request("POST / HTTP/1.1\r\nHost: h\r\nX-Amz-Target: x");
  ASSERT_TRUE(std::holds_alternative<ApiError>(unterminated));
  EXPECT_EQ(std::get<ApiError>(unterminated).code, "MalformedHTTPRequest");
  auto truncated = parse_http_request("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
  ASSERT_TRUE(std::holds_alternative<ApiError>(truncated));
  EXPECT_EQ(std::get<ApiError>(truncated).http_status, 400);

  Response response;
  response.status = 403;
  response.headers = {{"Content-Type", "text/xml"}};
  response.body = "<x/>";
  std::string wire = serialize_http_response(response, false);
  EXPECT_EQ(wire.substr(0, 24), "HTTP/1.1 403 Forbidden\r\n");
  EXPECT_NE(wire.find("Content-Length: 4\r\n"), std::string::npos);
  EXPECT_EQ(wire.substr(wire.size() - 4), "<x/>");
}

TEST(Parsing, ListenAddressEndpointUrlXmlAndDatabaseSecret) {
  auto a = parse_listen_address("127.0.0.1:0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 0);
  EXPECT_EQ(parse_listen_address("[::1]:4566")->host, "::1");
  EXPECT_EQ(parse_listen_address("127.0.0.1:99999").error().message(),
            "--listen '127.0.0.1:99999': the port must be a number from 0 to 65535");
  EXPECT_EQ(parse_listen_address("nohost").error().code(), ErrorCode::kInvalidArgument);

  auto u = parse_endpoint_url("https://127.0.0.1:8443/");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(parse_endpoint_url("http://localhost")->port, 80);
  EXPECT_EQ(parse_endpoint_url("ftp://x").error().message(),
            "endpoint URL 'ftp://x' must start with https:// or http://");

  EXPECT_EQ(*xml_element_text("<a><Arn>x&amp;y&#65;</Arn></a>", "Arn"), "x&yA");
  EXPECT_EQ(xml_element_text("<a/>", "Arn").error().code(), ErrorCode::kNotFound);

  auto db = parse_database_secret(R"({"username":"postgres","password":"p","engine":"postgres"})");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->username, "postgres");
  EXPECT_EQ(db->password, "p");
  EXPECT_EQ(parse_database_secret(R"({"username":"u"})").error().message(),
            "the secret has no string \"password\"");
  EXPECT_EQ(parse_database_secret("[]").error().code(), ErrorCode::kInvalidArgument);

  Response denied;
  denied.status = 400;
  denied.body = R"({"__type":"com.amazonaws#AccessDeniedException","message":"no"})";
  Error e = error_from_response(denied, "GetSecretValue");
  EXPECT_EQ(e.code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(e.subcode(), "AccessDeniedException");
  EXPECT_EQ(e.message(), "GetSecretValue: AccessDeniedException: no");
}

// ---- AES-GCM at rest ----------------------------------------------------------------------

TEST(LocalKms, EnvelopeRoundTripAndTamper) {
  auto key = LocalKmsKey::from_material("11111111-2222-4333-8444-555555555555",
                                        "arn:aws:kms:us-east-1:000000000000:key/1111",
                                        std::string(32, 'k'));
  ASSERT_TRUE(key.ok());
  EncryptionContext ctx{{"SecretARN", "arn:a"}, {"SecretVersionId", "v1"}};
  auto sealed = key->encrypt("hunter2", ctx);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->substr(0, 4), "WGK1");
  EXPECT_EQ(sealed->size(), 4 + 1 + 36 + 12 + 7 + 16);
  EXPECT_EQ(sealed->find("hunter2"), std::string::npos);
  EXPECT_EQ(*key->decrypt(*sealed, ctx), "hunter2");
  // Two encryptions differ (fresh nonce).
  EXPECT_NE(*key->encrypt("hunter2", ctx), *sealed);

  // Every byte after the key id is authenticated.
  for (size_t i = 4 + 1 + 36; i < sealed->size(); ++i) {
    std::string tampered = *sealed;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    auto r = key->decrypt(tampered, ctx);
    ASSERT_FALSE(r.ok()) << "byte " << i;
    EXPECT_EQ(r.error().subcode(), "InvalidCiphertextException") << "byte " << i;
  }
  auto other_context = key->decrypt(*sealed, {{"SecretARN", "arn:b"}, {"SecretVersionId", "v1"}});
  EXPECT_EQ(other_context.error().subcode(), "InvalidCiphertextException");
  auto other_key = LocalKmsKey::from_material("11111111-2222-4333-8444-555555555555",
                                              "arn:aws:kms:us-east-1:000000000000:key/1111",
                                              std::string(32, 'j'));
  EXPECT_EQ(other_key->decrypt(*sealed, ctx).error().subcode(), "InvalidCiphertextException");
  auto other_id = LocalKmsKey::from_material("99999999-2222-4333-8444-555555555555", "arn:x",
                                             std::string(32, 'k'));
  EXPECT_EQ(other_id->decrypt(*sealed, ctx).error().subcode(), "IncorrectKeyException");
  EXPECT_EQ(key->decrypt(sealed->substr(0, 20), ctx).error().message(),
            "the ciphertext is truncated");
  EXPECT_EQ(key->decrypt("nope", ctx).error().message(),
            "the ciphertext is not a writegate KMS envelope");
  EXPECT_EQ(LocalKmsKey::from_material("id", "arn", "short").error().message(),
            "KMS key id is 5 bytes, not 32");
}

TEST(LocalKms, KeyFileIsPrivateAndStable) {
  char pattern[] = "/tmp/wg-kms-XXXXXX";
  std::string dir = mkdtemp(pattern);
  const std::string id = "0123abcd-0000-4000-8000-00000000abcd";
  auto made = LocalKmsKey::open_or_create(dir, id, "us-east-1", "000000000000");
  ASSERT_TRUE(made.ok()) << made.error().message();
  EXPECT_EQ(made->arn(), "arn:aws:kms:us-east-1:000000000000:key/" + id);
  struct stat st {};
  ASSERT_EQ(stat(LocalKmsKey::key_path(dir, id).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto sealed = made->encrypt("x", {});
  auto again = LocalKmsKey::open(dir, id, "us-east-1", "000000000000");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again->decrypt(*sealed, {}), "x");
  chmod(LocalKmsKey::key_path(dir, id).c_str(), 0644);
  EXPECT_EQ(LocalKmsKey::open(dir, id, "us-east-1", "000000000000").error().code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(LocalKmsKey::open(dir, "../etc", "r", "a").error().code(), ErrorCode::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

TEST(SecretStoreTest, EncryptedAtRestAndBoundToItsSecret) {
  SeededState state = make_seeded_state();
  auto store = SecretStore::open(state.dir);
  ASSERT_TRUE(store.ok()) << store.error().message();
  auto now = std::chrono::system_clock::now();
  auto a = (*store)->create("alpha", SecretPayload::text("value-alpha-123"), "d", now);
  auto b = (*store)->create("beta", SecretPayload::text("value-beta-456"), "", now);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->kms_key_arn, state.seed.kms_key_arn);
  const std::string path = SecretStore::file_path(state.dir);
  std::string text = read_file(path);
  EXPECT_EQ(text.find("value-alpha"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(*(*store)->get_value("alpha")->secret_string, "value-alpha-123");
  EXPECT_EQ(*(*store)->get_value(a->arn)->secret_string, "value-alpha-123");
  EXPECT_EQ(*(*store)->get_value((*store)->partial_arn("alpha"))->secret_string, "value-alpha-123");
  EXPECT_EQ((*store)->get_value("gamma").error().message(),
            "Secrets Manager can't find the specified secret.");
  EXPECT_EQ((*store)->create("alpha", SecretPayload::text("x"), "", now).error().code(),
            ErrorCode::kAlreadyExists);
  EXPECT_EQ((*store)->create("bad name", SecretPayload::text("x"), "", now).error().code(),
            ErrorCode::kInvalidArgument);

  // Swap the two ciphertexts in the file: each is bound to its own ARN and version.
  json doc = json::parse(text);
  std::swap(doc["secrets"][0]["versions"][0]["ciphertext"],
            doc["secrets"][1]["versions"][0]["ciphertext"]);
  std::ofstream(path, std::ios::trunc) << doc.dump();
  auto swapped = (*store)->get_value("alpha");
  ASSERT_FALSE(swapped.ok());
  EXPECT_EQ(swapped.error().subcode(), "DecryptionFailure");
  EXPECT_EQ(swapped.error().message().find("value-"), std::string::npos);

  // One flipped base64 character.
  doc = json::parse(text);
  std::string c = doc["secrets"][1]["versions"][0]["ciphertext"];
  c[c.size() / 2] = c[c.size() / 2] == 'A' ? 'B' : 'A';
  doc["secrets"][1]["versions"][0]["ciphertext"] = c;
  std::ofstream(path, std::ios::trunc) << doc.dump();
  EXPECT_EQ((*store)->get_value("beta").error().subcode(), "DecryptionFailure");

  std::ofstream(path, std::ios::trunc) << "{";
  EXPECT_EQ((*store)->describe("alpha").error().code(), ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace writegate::awslocal
