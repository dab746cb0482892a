// writegate-proxy's front door, live: real PostgreSQL, real TLS, real IAM tokens, real clients
// (libpq, psql, `writegate token`, the aws CLI).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <thread>

#include "common/process.h"
#include "pgclient/pgclient.h"
#include "proxy/proxy_stack.h"

namespace writegate::testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::system_clock;

class ProxyAuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { stack_ = ProxyStack::start().release(); }
  static void TearDownTestSuite() {
    delete stack_;
    stack_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(stack_, nullptr) << "the stack did not start"; }

  // Logs in with this password; returns the connection or the error message.
  static Result<pgclient::Connection> login(const std::string& password,
                                            const std::string& user = "",
                                            const std::string& sslmode = "verify-full") {
    return pgclient::Connection::open(stack_->dsn(password, user, sslmode));
  }

  // A refused login: the client sees `client_message`, the proxy logs `reason`.
  static void expect_refused(const std::string& password, const std::string& reason,
                             const std::string& client_message, const std::string& user = "",
                             const std::string& sslmode = "verify-full") {
    const std::size_t before = stack_->connect_log_count();
    auto conn = login(password, user, sslmode);
    ASSERT_FALSE(conn.ok()) << "login should have been refused (" << reason << ")";
    EXPECT_THAT(conn.error().message(), HasSubstr(client_message));
    const std::string line = stack_->wait_connect_log(before);
    EXPECT_THAT(line, HasSubstr("\"reason\":\"" + reason + "\"")) << line;
    EXPECT_THAT(line, HasSubstr("\"outcome\":\"refused\""));
    // The log never holds the token.
    if (password.size() > 20) {
      EXPECT_THAT(line, ::testing::Not(HasSubstr(password.substr(password.size() - 20))));
    }
  }

  // A role the Lambda service may assume, with no permissions of its own yet.
  static void create_lambda_role(const std::string& name) {
    ASSERT_TRUE(stack_->store()
                    .create_role(name, R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
                                       R"("Principal":{"Service":"lambda.amazonaws.com"},)"
                                       R"("Action":"sts:AssumeRole"}]})")
                    .ok());
  }

  static ProxyStack* stack_;
};
ProxyStack* ProxyAuthTest::stack_ = nullptr;

TEST_F(ProxyAuthTest, TokenLoginIsTheWriterOverTlsAndGrantsDecide) {
  const std::size_t before = stack_->connect_log_count();
  auto conn = login(stack_->token(stack_->role_credentials()));
  ASSERT_TRUE(conn.ok()) << conn.error().message();
  EXPECT_TRUE(conn->uses_tls());
  auto who = conn->exec("SELECT current_user, session_user");
  ASSERT_TRUE(who.ok()) << who.error().message();
  EXPECT_EQ(who->get(0, "current_user"), "lambda_writer");
  EXPECT_EQ(who->get(0, "session_user"), "lambda_writer");
  auto insert = conn->exec("INSERT INTO foo.test_table (column1, column2) VALUES ('a', 'b')");
  ASSERT_TRUE(insert.ok()) << insert.error().message();
  EXPECT_EQ(insert->command_status, "INSERT 0 1");
  auto select = conn->exec("SELECT * FROM foo.test_table");
  ASSERT_FALSE(select.ok());
  EXPECT_EQ(select.error().subcode(), "42501");
  // The backend connection is TLS as well, and logged in as the same user.
  auto backend_tls = conn->exec("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  ASSERT_TRUE(backend_tls.ok()) << backend_tls.error().message();
  EXPECT_EQ(backend_tls->get(0, "ssl"), "t");
  const std::string line = stack_->wait_connect_log(before);
  EXPECT_THAT(line, HasSubstr("\"outcome\":\"ok\""));
  EXPECT_THAT(line, HasSubstr("assumed-role/lambda-aurora-writer-role/"));
}

TEST_F(ProxyAuthTest, PsqlWithATokenFromWritegateToken) {
  const char* bin = std::getenv("WRITEGATE_BIN_DIR");
  ASSERT_NE(bin, nullptr);
  const auto creds = stack_->role_credentials();
  ProcessOptions env;
  env.extra_env = {"AWS_ACCESS_KEY_ID=" + creds.access_key_id,
                   "AWS_SECRET_ACCESS_KEY=" + std::string(creds.secret_access_key.reveal()),
                   "AWS_SESSION_TOKEN=" + std::string(creds.session_token.reveal()),
                   "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent"};
  auto token = run_process(
      {std::string(bin) + "/writegate", "token", "--hostname", "localhost", "--port",
       std::to_string(stack_->port()), "--username", "lambda_writer", "--region", "us-east-1"},
      env);
  ASSERT_TRUE(token.ok());
  ASSERT_EQ(token->exit_code, 0) << token->output;
  std::string password = token->output;
  while (!password.empty() && password.back() == '\n')
    password.pop_back();

  ProcessOptions psql_env;
  psql_env.extra_env = {"PGPASSWORD=" + password};
  auto psql =
      run_process({"psql",
                   "host=localhost hostaddr=127.0.0.1 port=" + std::to_string(stack_->port()) +
                       " dbname=mydb user=lambda_writer sslmode=verify-full sslrootcert=" +
                       stack_->proxy_ca_file(),
                   "-X", "-A", "-t", "-c", "SELECT current_user", "-c",
                   "INSERT INTO foo.test_table (column1) VALUES ('psql')"},
                  psql_env);
  ASSERT_TRUE(psql.ok());
  EXPECT_EQ(psql->exit_code, 0) << psql->output;
  EXPECT_THAT(psql->output, HasSubstr("lambda_writer\nINSERT 0 1"));
}

TEST_F(ProxyAuthTest, TokenFromTheAwsCliWithCredentialsFromWritegateCredentials) {
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/aws"))
      << "/usr/bin/aws is not installed: scripts/install-packages";
  const char* bin = std::getenv("WRITEGATE_BIN_DIR");
  ASSERT_NE(bin, nullptr);
  // `writegate credentials` prints export lines for a fresh session of the Lambda role.
  auto exports = run_process({std::string(bin) + "/writegate", "credentials", "--role",
                              "lambda-aurora-writer-role", "--state", stack_->state_dir()});
  ASSERT_TRUE(exports.ok());
  ASSERT_EQ(exports->exit_code, 0) << exports->output;
  ProcessOptions env;
  env.extra_env = {"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
                   "AWS_EC2_METADATA_DISABLED=true"};
  std::istringstream lines(exports->output);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with("export ")) continue;
    std::string kv = line.substr(7);
    const auto eq = kv.find('=');
    std::string value = kv.substr(eq + 1);
    if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"')) {
      value = value.substr(1, value.size() - 2);
    }
    env.extra_env.push_back(kv.substr(0, eq + 1) + value);
  }
  // Three of our own, then the key id, secret, session token, AWS_REGION, AWS_DEFAULT_REGION.
  ASSERT_EQ(env.extra_env.size(), 8u) << exports->output;
  auto token = run_process(
      {"/usr/bin/aws", "rds", "generate-db-auth-token", "--hostname", "localhost", "--port",
       std::to_string(stack_->port()), "--username", "lambda_writer", "--region", "us-east-1"},
      env);
  ASSERT_TRUE(token.ok());
  ASSERT_EQ(token->exit_code, 0) << token->output;
  std::string password = token->output;
  while (!password.empty() && password.back() == '\n')
    password.pop_back();
  EXPECT_THAT(password, HasSubstr("X-Amz-Security-Token="));
  auto conn = login(password);
  ASSERT_TRUE(conn.ok()) << conn.error().message();
  EXPECT_EQ(conn->exec("SELECT current_user AS u")->get(0, "u"), "lambda_writer");
}

TEST_F(ProxyAuthTest, NoTlsIsRefusedWithRdsProxysMessage) {
  const std::size_t before = stack_->connect_log_count();
  auto conn = login(stack_->token(stack_->role_credentials()), "", "disable");
  ASSERT_FALSE(conn.ok());
  EXPECT_THAT(conn.error().message(), HasSubstr("This RDS Proxy requires TLS connections."));
  EXPECT_THAT(stack_->wait_connect_log(before), HasSubstr("\"reason\":\"tls_required\""));
}

TEST_F(ProxyAuthTest, APlainPasswordIsRefused) {
  expect_refused("not-a-token-just-a-password", "malformed",
                 "IAM authentication failed for user \"lambda_writer\"");
}

TEST_F(ProxyAuthTest, AnExpiredTokenIsRefused) {
  const auto creds = stack_->role_credentials();
  expect_refused(stack_->token(creds, "", Clock::now() - std::chrono::minutes(16)), "expired",
                 "IAM authentication failed");
}

TEST_F(ProxyAuthTest, ATokenFromTheFutureIsRefused) {
  const auto creds = stack_->role_credentials();
  expect_refused(stack_->token(creds, "", Clock::now() + std::chrono::minutes(10)), "not_yet_valid",
                 "IAM authentication failed");
}

TEST_F(ProxyAuthTest, ATokenForAnotherUserIsRefused) {
  const auto creds = stack_->role_credentials();
  // Made for postgres, presented while logging in as lambda_writer.
  expect_refused(stack_->token(creds, "postgres"), "wrong_user", "IAM authentication failed");
  // Made for postgres and presented as postgres: the role may only connect as lambda_writer.
  expect_refused(stack_->token(creds, "postgres"), "policy_implicit_deny",
                 "IAM authentication failed for user \"postgres\"", "postgres");
}

TEST_F(ProxyAuthTest, ATokenForAnotherHostPortOrRegionIsRefused) {
  const auto creds = stack_->role_credentials();
  expect_refused(stack_->token(creds, "", Clock::now(), "other-proxy.example.com"),
                 "wrong_endpoint", "IAM authentication failed");
  expect_refused(stack_->token(creds, "", Clock::now(), "localhost", stack_->port() + 1),
                 "wrong_endpoint", "IAM authentication failed");
  expect_refused(stack_->token(creds, "", Clock::now(), "localhost", 0, "eu-west-1"),
                 "wrong_region", "IAM authentication failed");
}

TEST_F(ProxyAuthTest, ATamperedSignatureIsRefused) {
  std::string token = stack_->token(stack_->role_credentials());
  const auto at = token.find("X-Amz-Signature=") + 16;
  token[at] = token[at] == 'a' ? 'b' : 'a';
  expect_refused(token, "bad_signature", "IAM authentication failed");
}

TEST_F(ProxyAuthTest, ARoleWithoutRdsDbConnectIsRefused) {
  create_lambda_role("no-connect-role");
  expect_refused(stack_->token(stack_->role_credentials("no-connect-role")), "policy_implicit_deny",
                 "IAM authentication failed");
}

TEST_F(ProxyAuthTest, AnExplicitDenyWins) {
  auto& store = stack_->store();
  const std::string role = "denied-role";
  create_lambda_role(role);
  ASSERT_TRUE(store
                  .put_role_policy(role, "allow-all-connect",
                                   R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
                                   R"("Action":"rds-db:connect","Resource":"*"}]})")
                  .ok());
  ASSERT_TRUE(
      store
          .put_role_policy(
              role, "deny-writer",
              R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny",)"
              R"("Action":"rds-db:*","Resource":"arn:aws:rds-db:*:*:dbuser:*/lambda_writer"}]})")
          .ok());
  expect_refused(stack_->token(stack_->role_credentials(role)), "policy_explicit_deny",
                 "IAM authentication failed");
}

TEST_F(ProxyAuthTest, ExpiredSessionCredentialsAreRefused) {
  // A 15-minute session that began 20 minutes ago; the token itself is fresh.
  const auto creds = stack_->role_credentials("", std::chrono::minutes(15),
                                              Clock::now() - std::chrono::minutes(20));
  expect_refused(stack_->token(creds), "session_expired", "IAM authentication failed");
}

TEST_F(ProxyAuthTest, PolicyChangesCountForTheNextLoginWithoutRestart) {
  auto& store = stack_->store();
  const std::string role = "changing-role";
  create_lambda_role(role);
  const std::string allow = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
                            R"("Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:)"
                            R"(000000000000:dbuser:)" +
                            stack_->resource_id() + R"(/lambda_writer"}]})";
  ASSERT_TRUE(store.put_role_policy(role, "connect", allow).ok());
  const auto creds = stack_->role_credentials(role);
  ASSERT_TRUE(login(stack_->token(creds)).ok());
  ASSERT_TRUE(store.delete_role_policy(role, "connect").ok());
  expect_refused(stack_->token(creds), "policy_implicit_deny", "IAM authentication failed");
  // A revoked (deleted) session key is unknown from then on.
  ASSERT_TRUE(store.put_role_policy(role, "connect", allow).ok());
  ASSERT_TRUE(login(stack_->token(creds)).ok());
  ASSERT_TRUE(store.delete_access_key(creds.access_key_id).ok());
  expect_refused(stack_->token(creds), "unknown_key", "IAM authentication failed");
}

TEST_F(ProxyAuthTest, A64KiBPasswordNeitherCrashesNorHangs) {
  expect_refused(std::string(64 * 1024 - 1, 'A'), "too_large", "IAM authentication failed");
  // Still serving.
  EXPECT_TRUE(login(stack_->token(stack_->role_credentials())).ok());
}

TEST_F(ProxyAuthTest, TwoHundredClientsLogInAtOnce) {
  const auto creds = stack_->role_credentials();
  const std::string token = stack_->token(creds);  // tokens are reusable for 15 minutes
  const std::string dsn = stack_->dsn(token);
  std::atomic<int> ok{0};
  std::vector<std::string> errors;
  std::mutex errors_mutex;
  std::vector<std::thread> threads;
  for (int i = 0; i < 200; ++i) {
    threads.emplace_back([&] {
      auto conn = pgclient::Connection::open(dsn);
      if (conn && conn->exec("SELECT 1").ok()) {
        ++ok;
      } else {
        std::lock_guard lock(errors_mutex);
        errors.push_back(conn ? "query failed" : conn.error().message());
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(ok.load(), 200) << (errors.empty() ? "" : errors.front());
}

TEST_F(ProxyAuthTest, CancelRequestReachesTheRightBackend) {
  PGconn* conn = PQconnectdb(stack_->dsn(stack_->token(stack_->role_credentials())).c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  ASSERT_EQ(PQsendQuery(conn, "SELECT pg_sleep(30)"), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  PGcancel* cancel = PQgetCancel(conn);
  char errbuf[256];
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(PQcancel(cancel, errbuf, sizeof errbuf), 1) << errbuf;
  PQfreeCancel(cancel);
  PGresult* result = PQgetResult(conn);
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  EXPECT_STREQ(state ? state : "", "57014");  // query_canceled
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  PQclear(result);
  while ((result = PQgetResult(conn)))
    PQclear(result);
  PQfinish(conn);
}

TEST_F(ProxyAuthTest, GssEncRequestIsAnsweredN) {
  // GSSENCRequest (80877104) gets 'N'; the client may then ask for TLS on the same connection.
  auto out =
      run_process({"bash", "-c",
                   "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(stack_->port()) +
                       "; printf '\\x00\\x00\\x00\\x08\\x04\\xd2\\x16\\x30' >&3; head -c 1 <&3;"
                       " printf '\\x00\\x00\\x00\\x08\\x04\\xd2\\x16\\x2f' >&3; head -c 1 <&3;"
                       " exec 3>&-"});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->output, "NS");
}

TEST_F(ProxyAuthTest, GarbageAfterStartupGetsAProtocolErrorNotACrash) {
  // A raw client: an SSLRequest answered 'S', then plaintext instead of a handshake.
  auto out = run_process({"bash", "-c",
                          "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(stack_->port()) +
                              "; printf '\\x00\\x00\\x00\\x08\\x04\\xd2\\x16\\x2f' >&3;"
                              " head -c 1 <&3; printf 'garbage' >&3; sleep 0.2; exec 3>&-"});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->output, "S");
  EXPECT_TRUE(login(stack_->token(stack_->role_credentials())).ok());
}

// What a raw client reads after sending `bytes` and waiting for the server to close, as hex.
std::string raw_answer(const std::string& host, int port, const std::string& bytes) {
  std::string printf_arg;
  for (const unsigned char ch : bytes) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", ch);
    printf_arg += hex;
  }
  auto out = run_process({"bash", "-c",
                          "exec 3<>/dev/tcp/" + host + "/" + std::to_string(port) + "; printf '" +
                              printf_arg + "' >&3; timeout 5 od -An -tx1 <&3; echo \"rc=$?\""});
  EXPECT_TRUE(out.ok());
  return out ? out->output : "";
}

TEST_F(ProxyAuthTest, AMalformedStartupLengthBeforeTlsClosesAsPostgresqlDoes) {
  // The same bytes to the harness's real PostgreSQL and to the proxy: both close without a word
  // (od prints nothing and ends at the close, not at the 5 s timeout: rc=0).
  auto& postgres = stack_->pg();
  for (const std::string& bytes :
       {std::string("X\0\0\0\4", 5), std::string("\0\0\0\4", 4), std::string("\0\0\0\0", 4),
        std::string("\x7f\xff\xff\xff\0\x03\0\0", 8),
        std::string("\0\0\0\x0c\x04\xd2\x16\x2e\0\0\0\1", 12)}) {
    const std::string direct = raw_answer(postgres.host(), postgres.port(), bytes);
    EXPECT_EQ(direct, "rc=0\n") << "PostgreSQL itself";
    const std::size_t before = stack_->connect_log_count();
    EXPECT_EQ(raw_answer("127.0.0.1", stack_->port(), bytes), direct);
    // The proxy keeps the reason in its log.
    const std::string line = stack_->wait_connect_log(before);
    EXPECT_THAT(line, HasSubstr("\"reason\":\"invalid_startup_length\"")) << line;
  }
  EXPECT_TRUE(login(stack_->token(stack_->role_credentials())).ok());
}

}  // namespace
}  // namespace writegate::testing
