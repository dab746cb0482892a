// The local AWS endpoint as a real process (`writegate endpoint serve`) on an ephemeral port,
// driven by the real aws CLI (/usr/bin/aws, v2) over HTTPS with a CA made by src/pki, and over
// HTTP; plus the SecretsManagerClient and StsClient against it, raw malformed HTTP, and SIGTERM.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "awslocal/client.h"
#include "awslocal/fixture.h"
#include "awslocal/secret_store.h"
#include "common/process.h"
#include "pki/pki.h"

namespace writegate::awslocal {
namespace {

using nlohmann::json;
using testing::allow_policy;
using testing::make_seeded_state;
using testing::SeededState;

constexpr const char* kAws = "/usr/bin/aws";
const std::string kDbSecret = R"({"username":"lambda_writer","password":"s3cr3t-Pa55"})";

std::string writegate_binary() {
  const char* dir = std::getenv("WRITEGATE_BIN_DIR");
  return std::string(dir ? dir : ".") + "/writegate";
}

// `writegate endpoint serve` as a child process; the URL is read from its first stdout line.
class EndpointProcess {
 public:
  ~EndpointProcess() { stop(); }

  bool start(const std::vector<std::string>& extra_args, const std::string& log_path) {
    int out[2];
    if (pipe(out) != 0) return false;
    std::vector<std::string> args = {writegate_binary(), "endpoint", "serve", "--listen",
                                     "127.0.0.1:0"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (log >= 0) dup2(log, 2);
      close(out[0]);
      std::vector<char*> argv;
      for (auto& a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    out_fd_ = out[0];
    std::string line = read_line(std::chrono::seconds(20));
    const std::string marker = "listening on ";
    size_t at = line.find(marker);
    if (at == std::string::npos) return false;
    url_ = line.substr(at + marker.size());
    url_ = url_.substr(0, url_.find(' '));
    return true;
  }

  // SIGTERM; returns the exit status and the rest of stdout.
  std::pair<int, std::string> stop() {
    if (pid_ <= 0) return {-1, ""};
    kill(pid_, SIGTERM);
    std::string rest;
    char buf[512];
    ssize_t n;
    while ((n = read(out_fd_, buf, sizeof buf)) > 0)
      rest.append(buf, static_cast<size_t>(n));
    int status = 0;
    waitpid(pid_, &status, 0);
    close(out_fd_);
    pid_ = -1;
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), rest};
  }

  const std::string& url() const { return url_; }
  int port() const { return std::stoi(url_.substr(url_.rfind(':') + 1)); }
  bool alive() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  std::string read_line(std::chrono::seconds timeout) {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char c;
      if (read(out_fd_, &c, 1) != 1) break;
      if (c == '\n') break;
      line += c;
    }
    return line;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string url_;
};

struct CliResult {
  int exit_code = -1;
  std::string output;
};

class AwsCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The CLI must see only what each test gives it.
    for (const char* name : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                             "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION",
                             "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL"}) {
      unsetenv(name);
    }
    if (access(kAws, X_OK) != 0) return;
    state_ = new SeededState(make_seeded_state());
    const std::string dir = state_->dir;
    // TLS: a CA made by src/pki, a server certificate for 127.0.0.1.
    auto ca = pki::CertificateAuthority::create("writegate awslocal test CA");
    ASSERT_TRUE(ca.ok());
    auto server = ca->issue_server({"localhost"}, {"127.0.0.1"});
    ASSERT_TRUE(server.ok());
    ca_file_ = dir + "/ca.pem";
    ASSERT_TRUE(pki::write_file(ca_file_, ca->certificate().cert_pem, 0644).ok());
    ASSERT_TRUE(pki::write_file(dir + "/endpoint.crt", server->cert_pem, 0644).ok());
    ASSERT_TRUE(pki::write_file(dir + "/endpoint.key", server->key_pem, 0600).ok());
    auto other_ca = pki::CertificateAuthority::create("an unrelated CA");
    ASSERT_TRUE(other_ca.ok());
    other_ca_file_ = dir + "/other-ca.pem";
    ASSERT_TRUE(pki::write_file(other_ca_file_, other_ca->certificate().cert_pem, 0644).ok());
    std::ofstream(dir + "/aws-config") << "";
    std::ofstream(dir + "/aws-credentials") << "";

    // The master secret, stored with the admin command.
    auto put = run_process({writegate_binary(), "secrets", "put", "--state", dir, "--name",
                            "lambda-writer-secret", "--secret-string", kDbSecret});
    ASSERT_TRUE(put.ok());
    ASSERT_EQ(put->exit_code, 0) << put->output;
    ASSERT_EQ(put->output.find("s3cr3t"), std::string::npos);

    https_ = new EndpointProcess();
    ASSERT_TRUE(https_->start(
        {"--state", dir, "--tls-cert", dir + "/endpoint.crt", "--tls-key", dir + "/endpoint.key"},
        dir + "/endpoint-https.log"))
        << "endpoint did not start; see " << dir << "/endpoint-https.log";
    ASSERT_EQ(https_->url().substr(0, 8), "https://");
    plain_ = new EndpointProcess();
    ASSERT_TRUE(plain_->start({"--state", dir}, dir + "/endpoint-http.log"));
    ASSERT_EQ(plain_->url().substr(0, 7), "http://");
  }

  static void TearDownTestSuite() {
    delete https_;
    https_ = nullptr;
    delete plain_;
    plain_ = nullptr;
    delete state_;
    state_ = nullptr;
  }

  void SetUp() override {
    if (access(kAws, X_OK) != 0)
      FAIL() << kAws << " (the aws CLI) is not installed: scripts/install-packages";
    ASSERT_NE(state_, nullptr);
    ASSERT_NE(https_, nullptr);
    ASSERT_TRUE(https_->alive());
    ASSERT_NE(plain_, nullptr);
  }

  static CliResult aws(const std::vector<std::string>& args, const sigv4::Credentials& creds,
                       const std::string& url = "") {
    std::vector<std::string> argv = {
        kAws,       "--endpoint-url", url.empty() ? https_->url() : url,
        "--region", "us-east-1",      "--output",
        "json"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.extra_env = {"AWS_CONFIG_FILE=" + state_->dir + "/aws-config",
                         "AWS_SHARED_CREDENTIALS_FILE=" + state_->dir + "/aws-credentials",
                         "AWS_EC2_METADATA_DISABLED=true",
                         "AWS_CA_BUNDLE=" + ca_file_,
                         "AWS_PAGER=",
                         "AWS_ACCESS_KEY_ID=" + creds.access_key_id,
                         "AWS_SECRET_ACCESS_KEY=" + std::string(creds.secret_access_key.reveal())};
    if (!creds.session_token.empty()) {
      options.extra_env.push_back("AWS_SESSION_TOKEN=" + std::string(creds.session_token.reveal()));
    }
    options.timeout = std::chrono::seconds(60);
    auto out = run_process(argv, options);
    EXPECT_TRUE(out.ok());
    if (!out.ok()) return {};
    return {out->exit_code, out->output};
  }

  // `writegate credentials --role NAME`, parsed from its export lines.
  static sigv4::Credentials credentials_of(const std::string& role) {
    auto out = run_process({writegate_binary(), "credentials", "--role", role, "--state",
                            state_->dir, "--duration", "900"});
    EXPECT_TRUE(out.ok());
    if (!out.ok()) return {};
    EXPECT_EQ(out->exit_code, 0) << out->output;
    sigv4::Credentials c;
    std::istringstream lines(out->output);
    std::string line;
    while (std::getline(lines, line)) {
      auto value = [&](const std::string& name) -> std::string {
        const std::string prefix = "export " + name + "=";
        return line.rfind(prefix, 0) == 0 ? line.substr(prefix.size()) : "";
      };
      if (auto v = value("AWS_ACCESS_KEY_ID"); !v.empty()) c.access_key_id = v;
      if (auto v = value("AWS_SECRET_ACCESS_KEY"); !v.empty()) c.secret_access_key = v;
      if (auto v = value("AWS_SESSION_TOKEN"); !v.empty()) c.session_token = v;
    }
    EXPECT_EQ(c.access_key_id.substr(0, 4), "ASIA") << out->output;
    return c;
  }

  static std::string arn_of(const CliResult& r) {
    json doc = json::parse(r.output, nullptr, false);
    if (!doc.is_object() || !doc.contains("Arn")) return "(no Arn in: " + r.output + ")";
    return doc["Arn"].get<std::string>();
  }

  static void add_service_role(const std::string& name, const std::string& policy) {
    auto role = state_->store->create_role(
        name, R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":)"
              R"({"Service":"rds.amazonaws.com"},"Action":"sts:AssumeRole"}]})");
    ASSERT_TRUE(role.ok()) << role.error().message();
    ASSERT_TRUE(state_->store->put_role_policy(name, name + "-policy", policy).ok());
  }

  static SeededState* state_;
  static EndpointProcess* https_;
  static EndpointProcess* plain_;
  static std::string ca_file_;
  static std::string other_ca_file_;
};

SeededState* AwsCliTest::state_ = nullptr;
EndpointProcess* AwsCliTest::https_ = nullptr;
EndpointProcess* AwsCliTest::plain_ = nullptr;
std::string AwsCliTest::ca_file_;
std::string AwsCliTest::other_ca_file_;

TEST_F(AwsCliTest, GetCallerIdentityWithUserKeyAndAssumedRoleSession) {
  auto alice = state_->add_user("alice-gci");
  CliResult user = aws({"sts", "get-caller-identity"}, alice);
  ASSERT_EQ(user.exit_code, 0) << user.output;
  EXPECT_EQ(arn_of(user), "arn:aws:iam::000000000000:user/alice-gci");
  EXPECT_EQ(json::parse(user.output)["Account"], "000000000000");

  auto proxy = credentials_of("rds-proxy-role");
  CliResult session = aws({"sts", "get-caller-identity"}, proxy);
  ASSERT_EQ(session.exit_code, 0) << session.output;
  EXPECT_EQ(arn_of(session).rfind("arn:aws:sts::000000000000:assumed-role/rds-proxy-role/", 0), 0u)
      << session.output;
}

TEST_F(AwsCliTest, AssumeRoleAllowedAndDenied) {
  ASSERT_TRUE(state_->store
                  ->create_role("ops-role",
                                R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
                                R"("Principal":{"AWS":["arn:aws:iam::000000000000:user/ann",)"
                                R"("arn:aws:iam::000000000000:user/ben"]},)"
                                R"("Action":"sts:AssumeRole"}]})")
                  .ok());
  auto ann = state_->add_user("ann", allow_policy("sts:AssumeRole", "arn:aws:iam::*:role/*"));
  auto ben = state_->add_user("ben");  // trusted by ops-role, but no identity policy

  CliResult ok = aws({"sts", "assume-role", "--role-arn", state_->role_arn("ops-role"),
                      "--role-session-name", "ann-session", "--duration-seconds", "900"},
                     ann);
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  json doc = json::parse(ok.output);
  EXPECT_EQ(doc["AssumedRoleUser"]["Arn"],
            "arn:aws:sts::000000000000:assumed-role/ops-role/ann-session");
  sigv4::Credentials session{doc["Credentials"]["AccessKeyId"].get<std::string>(),
                             doc["Credentials"]["SecretAccessKey"].get<std::string>(),
                             doc["Credentials"]["SessionToken"].get<std::string>()};
  EXPECT_EQ(session.access_key_id.substr(0, 4), "ASIA");
  CliResult who = aws({"sts", "get-caller-identity"}, session);
  EXPECT_EQ(arn_of(who), "arn:aws:sts::000000000000:assumed-role/ops-role/ann-session");

  CliResult no_identity = aws({"sts", "assume-role", "--role-arn", state_->role_arn("ops-role"),
                               "--role-session-name", "ben-session"},
                              ben);
  EXPECT_NE(no_identity.exit_code, 0);
  EXPECT_NE(no_identity.output.find("An error occurred (AccessDenied) when calling the "
                                    "AssumeRole operation: User: "
                                    "arn:aws:iam::000000000000:user/ben is not authorized to "
                                    "perform: sts:AssumeRole on resource: "
                                    "arn:aws:iam::000000000000:role/ops-role"),
            std::string::npos)
      << no_identity.output;

  // rds-proxy-role trusts rds.amazonaws.com only.
  CliResult no_trust = aws({"sts", "assume-role", "--role-arn", state_->role_arn("rds-proxy-role"),
                            "--role-session-name", "ann-proxy"},
                           ann);
  EXPECT_NE(no_trust.exit_code, 0);
  EXPECT_NE(no_trust.output.find("(AccessDenied)"), std::string::npos) << no_trust.output;
  EXPECT_NE(no_trust.output.find("does not allow arn:aws:iam::000000000000:user/ann"),
            std::string::npos)
      << no_trust.output;
}

TEST_F(AwsCliTest, GetSecretValueForProxyRoleOnly) {
  auto proxy = credentials_of("rds-proxy-role");
  CliResult ok =
      aws({"secretsmanager", "get-secret-value", "--secret-id", "lambda-writer-secret"}, proxy);
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  json doc = json::parse(ok.output);
  EXPECT_EQ(doc["SecretString"], kDbSecret);
  EXPECT_EQ(doc["Name"], "lambda-writer-secret");
  EXPECT_EQ(doc["ARN"].get<std::string>().rfind(
                "arn:aws:secretsmanager:us-east-1:000000000000:secret:lambda-writer-secret-", 0),
            0u);

  auto lambda = credentials_of("lambda-aurora-writer-role");
  CliResult denied =
      aws({"secretsmanager", "get-secret-value", "--secret-id", "lambda-writer-secret"}, lambda);
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.output.find("An error occurred (AccessDeniedException) when calling the "
                               "GetSecretValue operation: User: "
                               "arn:aws:sts::000000000000:assumed-role/lambda-aurora-writer-role/"),
            std::string::npos)
      << denied.output;
  EXPECT_EQ(denied.output.find("s3cr3t"), std::string::npos);

  const std::string secret_statement =
      R"({"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":)"
      R"("arn:aws:secretsmanager:us-east-1:000000000000:secret:lambda-writer-secret-*"})";
  add_service_role("proxy-without-kms",
                   R"({"Version":"2012-10-17","Statement":[)" + secret_statement + "]}");
  add_service_role("proxy-wrong-via",
                   R"({"Version":"2012-10-17","Statement":[)" + secret_statement +
                       R"(,{"Effect":"Allow","Action":"kms:Decrypt","Resource":")" +
                       state_->seed.kms_key_arn +
                       R"(","Condition":{"StringEquals":{"kms:ViaService":)"
                       R"("secretsmanager.eu-west-1.amazonaws.com"}}}]})");
  for (const std::string role : {"proxy-without-kms", "proxy-wrong-via"}) {
    CliResult r = aws({"secretsmanager", "get-secret-value", "--secret-id", "lambda-writer-secret"},
                      credentials_of(role));
    EXPECT_NE(r.exit_code, 0) << role;
    EXPECT_NE(r.output.find("(AccessDeniedException) when calling the GetSecretValue operation: "
                            "Access to KMS is not allowed: User: "
                            "arn:aws:sts::000000000000:assumed-role/" +
                            role),
              std::string::npos)
        << role << ": " << r.output;
    EXPECT_EQ(r.output.find("s3cr3t"), std::string::npos);
  }
}

TEST_F(AwsCliTest, SignatureKeyAndSessionFailures) {
  auto gus = state_->add_user("gus");
  auto wrong = gus;
  wrong.secret_access_key = std::string(40, 'x');
  CliResult bad = aws({"sts", "get-caller-identity"}, wrong);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("An error occurred (SignatureDoesNotMatch) when calling the "
                            "GetCallerIdentity operation: The request signature we calculated "
                            "does not match the signature you provided."),
            std::string::npos)
      << bad.output;

  CliResult bad_json =
      aws({"secretsmanager", "get-secret-value", "--secret-id", "lambda-writer-secret"}, wrong);
  EXPECT_NE(bad_json.output.find("(InvalidSignatureException)"), std::string::npos)
      << bad_json.output;

  CliResult unknown =
      aws({"sts", "get-caller-identity"}, {"AKIAZZZZZZZZZZZZZZZZ", std::string(40, 'y'), ""});
  EXPECT_NE(unknown.output.find("An error occurred (InvalidClientTokenId) when calling the "
                                "GetCallerIdentity operation: The security token included in "
                                "the request is invalid."),
            std::string::npos)
      << unknown.output;

  auto expired = state_->session_of("rds-proxy-role", std::chrono::seconds(900),
                                    std::chrono::system_clock::now() - std::chrono::hours(1));
  CliResult e = aws({"sts", "get-caller-identity"}, expired);
  EXPECT_NE(e.output.find("An error occurred (ExpiredToken) when calling the GetCallerIdentity "
                          "operation: The security token included in the request is expired"),
            std::string::npos)
      << e.output;
  CliResult e_json =
      aws({"secretsmanager", "get-secret-value", "--secret-id", "lambda-writer-secret"}, expired);
  EXPECT_NE(e_json.output.find("(ExpiredTokenException)"), std::string::npos) << e_json.output;
}

TEST_F(AwsCliTest, RevokedKeyAndRemovedPolicyTakeEffectWithoutRestart) {
  auto hal = state_->add_user("hal");
  ASSERT_EQ(aws({"sts", "get-caller-identity"}, hal).exit_code, 0);
  auto revoke = run_process({writegate_binary(), "iam", "delete-access-key", "--state", state_->dir,
                             "--access-key-id", hal.access_key_id});
  ASSERT_TRUE(revoke.ok());
  ASSERT_EQ(revoke->exit_code, 0) << revoke->output;
  CliResult after = aws({"sts", "get-caller-identity"}, hal);
  EXPECT_NE(after.exit_code, 0);
  EXPECT_NE(after.output.find("(InvalidClientTokenId)"), std::string::npos) << after.output;

  // A removed policy: the proxy session loses GetSecretValue at once.
  auto proxy = credentials_of("rds-proxy-role");
  ASSERT_EQ(aws({"secretsmanager", "describe-secret", "--secret-id", "lambda-writer-secret"}, proxy)
                .exit_code,
            0);
  auto other = iam::IamStore::open(state_->dir);
  ASSERT_TRUE(other.ok());
  auto role = (*other)->role("rds-proxy-role");
  ASSERT_TRUE(role.has_value());
  const std::string saved = role->inline_policies.at("rds-proxy-secrets-policy");
  ASSERT_TRUE((*other)->delete_role_policy("rds-proxy-role", "rds-proxy-secrets-policy").ok());
  CliResult denied =
      aws({"secretsmanager", "describe-secret", "--secret-id", "lambda-writer-secret"}, proxy);
  EXPECT_NE(denied.output.find("(AccessDeniedException)"), std::string::npos) << denied.output;
  ASSERT_TRUE((*other)->put_role_policy("rds-proxy-role", "rds-proxy-secrets-policy", saved).ok());
  EXPECT_EQ(aws({"secretsmanager", "describe-secret", "--secret-id", "lambda-writer-secret"}, proxy)
                .exit_code,
            0);
}

TEST_F(AwsCliTest, SecretsManagerClientFetchesTheDatabaseSecret) {
  auto proxy = credentials_of("rds-proxy-role");
  ClientOptions options{.endpoint_url = https_->url(), .region = "us-east-1", .ca_file = ca_file_};
  SecretsManagerClient client(options);
  auto value = client.get_secret_value("lambda-writer-secret", proxy);
  ASSERT_TRUE(value.ok()) << value.error().message();
  ASSERT_TRUE(value->secret_string.has_value());
  auto db = parse_database_secret(value->secret_string->reveal());
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->username, "lambda_writer");
  EXPECT_EQ(db->password, "s3cr3t-Pa55");
  EXPECT_EQ(value->version_stages, std::vector<std::string>{"AWSCURRENT"});

  auto lambda = credentials_of("lambda-aurora-writer-role");
  auto denied = client.get_secret_value("lambda-writer-secret", lambda);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(denied.error().subcode(), "AccessDeniedException");

  auto missing = client.get_secret_value("lambda-writer-secret-missing", proxy);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);

  sigv4::Credentials forged = proxy;
  forged.session_token = "not-the-token";
  auto forged_result = client.get_secret_value("lambda-writer-secret", forged);
  EXPECT_EQ(forged_result.error().subcode(), "UnrecognizedClientException");
  EXPECT_EQ(forged_result.error().code(), ErrorCode::kUnauthenticated);

  // A CA that did not sign the endpoint's certificate: the TLS handshake fails.
  ClientOptions untrusted = options;
  untrusted.ca_file = other_ca_file_;
  auto refused = SecretsManagerClient(untrusted).get_secret_value("lambda-writer-secret", proxy);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(refused.error().message().find("TLS handshake"), std::string::npos)
      << refused.error().message();

  // STS client: identity and AssumeRole against the same endpoint.
  StsClient sts(options);
  auto who = sts.get_caller_identity(proxy);
  ASSERT_TRUE(who.ok()) << who.error().message();
  EXPECT_EQ(who->arn.rfind("arn:aws:sts::000000000000:assumed-role/rds-proxy-role/", 0), 0u);
}

TEST_F(AwsCliTest, MalformedHttpGetsAnErrorAndTheServerStaysUp) {
  auto raw = [&](const std::string& bytes) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(plain_->port()));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    shutdown(fd, SHUT_WR);
    std::string answer;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
      answer.append(buf, static_cast<size_t>(n));
    close(fd);
    return answer;
  };
  std::string garbage = raw("\x16\x03\x01 not http at all\r\n\r\n");
  EXPECT_EQ(garbage.substr(0, 12), "HTTP/1.1 400") << garbage;
  EXPECT_NE(garbage.find("<Code>MalformedHTTPRequest</Code>"), std::string::npos);
  std::string huge_header =
      raw("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(huge_header.substr(0, 12), "HTTP/1.1 431") << huge_header.substr(0, 200);
  std::string huge_body = raw("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\nab");
  EXPECT_EQ(huge_body.substr(0, 12), "HTTP/1.1 413") << huge_body.substr(0, 200);
  std::string unsigned_sts = raw(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
      "Content-Length: 43\r\nConnection: close\r\n\r\nAction=GetCallerIdentity&Version=2011-06-15");
  EXPECT_EQ(unsigned_sts.substr(0, 12), "HTTP/1.1 403") << unsigned_sts;
  EXPECT_NE(unsigned_sts.find("MissingAuthenticationToken"), std::string::npos);
  EXPECT_TRUE(plain_->alive());

  // Plain HTTP works end to end with the CLI as well.
  auto ivy = state_->add_user("ivy");
  CliResult who = aws({"sts", "get-caller-identity"}, ivy, plain_->url());
  ASSERT_EQ(who.exit_code, 0) << who.output;
  EXPECT_EQ(arn_of(who), "arn:aws:iam::000000000000:user/ivy");
}

// Its own output under a cap (--output-file, --output-max-bytes; `writegate up` gives both):
// the access log of 60 requests passes 2000 bytes several times; the process rotates its
// stderr file each time (stdout, a pipe here, is left alone), keeps 2 rotated files and goes on
// serving.
TEST_F(AwsCliTest, ItsOwnOutputRotatesPastTheCap) {
  const std::string log = state_->dir + "/endpoint-cap.out";
  EndpointProcess process;
  ASSERT_TRUE(process.start({"--state", state_->dir, "--output-file", log, "--output-max-bytes",
                             "2000", "--no-prune-postgres-logs"},
                            log));
  auto get = [&] {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(process.port()));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string request =
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    EXPECT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
    char buf[4096];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
  };
  for (int i = 0; i < 60; ++i) {
    get();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // 3 s: the keeper looks each 1 s
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // its last look
  ASSERT_TRUE(process.alive());
  std::vector<std::filesystem::path> rotated;
  for (const auto& e : std::filesystem::directory_iterator(state_->dir)) {
    if (e.path().filename().string().rfind("endpoint-cap.out.", 0) == 0)
      rotated.push_back(e.path());
  }
  EXPECT_EQ(rotated.size(), 2u);
  EXPECT_LE(std::filesystem::file_size(log), 2000u);
  for (const auto& r : rotated) {
    struct stat st {};
    ASSERT_EQ(::stat(r.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << r;
    std::ifstream in(r);
    std::string first;
    std::getline(in, first);
    EXPECT_EQ(first.rfind("request ", 0), 0u) << r << ": " << first;  // the access log
  }
  get();  // still serving, and logging to the new file
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_GT(std::filesystem::file_size(log), 0u);
}

TEST_F(AwsCliTest, SigtermStopsCleanly) {
  EndpointProcess process;
  ASSERT_TRUE(process.start({"--state", state_->dir}, state_->dir + "/endpoint-sigterm.log"));
  auto [code, output] = process.stop();
  EXPECT_EQ(code, 0);
  EXPECT_NE(output.find("writegate endpoint stopped (SIGTERM)"), std::string::npos) << output;
}

}  // namespace
}  // namespace writegate::awslocal
