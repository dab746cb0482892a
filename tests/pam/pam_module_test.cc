// pam_writegate.so through the real libpam: a service file in a temporary folder
// (pam_start_confdir), a conversation that answers the password, pam_authenticate and
// pam_acct_mgmt as PostgreSQL calls them. The module reports refusals to the conversation
// (report_to_conversation), so each test checks the exact reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <security/pam_appl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "pam/pam_fixture.h"
#include "pam/pam_login.h"
#include "proxy/authenticator.h"

namespace writegate::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kHost = "my-aurora-cluster.cluster-abcdefghijkl.us-east-1.rds.amazonaws.com";
constexpr std::uint16_t kPort = 5432;

struct Conversation {
  std::string password;
  int prompts = 0;
  std::vector<std::string> errors;  // PAM_ERROR_MSG texts
};

int converse(int count, const struct pam_message** messages, struct pam_response** responses,
             void* data) {
  auto* conversation = static_cast<Conversation*>(data);
  auto* replies = static_cast<pam_response*>(std::calloc(count, sizeof(pam_response)));
  if (replies == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    switch (messages[i]->msg_style) {
      case PAM_PROMPT_ECHO_OFF:
        ++conversation->prompts;
        replies[i].resp = ::strdup(conversation->password.c_str());
        break;
      case PAM_ERROR_MSG:
        conversation->errors.emplace_back(messages[i]->msg);
        break;
      default:
        break;
    }
  }
  *responses = replies;
  return PAM_SUCCESS;
}

struct Outcome {
  int authenticate = -1;
  int account = -1;
  std::vector<std::string> errors;
  int prompts = 0;
};

class PamModuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/wg-pamconf-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    confdir_ = pattern;
    write_service(store_.module_arguments(kHost, kPort) + " report_to_conversation");
  }
  void TearDown() override {
    ::unlink((confdir_ + "/writegate-test").c_str());
    ::rmdir(confdir_.c_str());
  }

  void write_service(const std::string& arguments) {
    std::ofstream out(confdir_ + "/writegate-test", std::ios::trunc);
    out << "auth required " << pam_module_path() << " " << arguments << "\n"
        << "account required " << pam_module_path() << "\n";
  }

  Outcome login(const std::string& password, const std::string& user = kDbUser,
                bool authenticate = true) {
    Conversation conversation{password, 0, {}};
    const struct pam_conv conv = {converse, &conversation};
    pam_handle_t* pamh = nullptr;
    Outcome out;
    const int started =
        pam_start_confdir("writegate-test", user.c_str(), &conv, confdir_.c_str(), &pamh);
    EXPECT_EQ(started, PAM_SUCCESS);
    if (started != PAM_SUCCESS) return out;
    if (authenticate) out.authenticate = pam_authenticate(pamh, 0);
    if (!authenticate || out.authenticate == PAM_SUCCESS) out.account = pam_acct_mgmt(pamh, 0);
    pam_end(pamh, out.authenticate);
    out.errors = conversation.errors;
    out.prompts = conversation.prompts;
    return out;
  }

  // A refusal with this PAM code and this exact reason (the text after the user).
  void expect_refused(const Outcome& out, int code, const std::string& reason) {
    EXPECT_EQ(out.authenticate, code) << "got " << out.authenticate;
    ASSERT_EQ(out.errors.size(), 1u);
    EXPECT_THAT(out.errors[0],
                StartsWith("pam_writegate: refused user lambda_writer: " + reason + " ("));
  }

  PamStore store_;
  std::string confdir_;
};

TEST_F(PamModuleTest, AValidTokenLogsIn) {
  const Outcome out = login(PamStore::token(store_.session(), kHost, kPort));
  EXPECT_EQ(out.authenticate, PAM_SUCCESS);
  EXPECT_EQ(out.account, PAM_SUCCESS);
  EXPECT_EQ(out.prompts, 1);
  EXPECT_TRUE(out.errors.empty());
}

TEST_F(PamModuleTest, ALongTermKeyOfAUserLogsInToo) {
  ASSERT_TRUE(store_.store().create_user("alice").ok());
  ASSERT_TRUE(store_.store()
                  .put_user_policy("alice", "connect",
                                   R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
                                   R"("Action":"rds-db:connect","Resource":"*"}]})")
                  .ok());
  auto key = store_.store().create_access_key("alice", std::chrono::system_clock::now());
  ASSERT_TRUE(key.ok());
  const Outcome out =
      login(PamStore::token({key->access_key_id, key->secret_access_key, {}}, kHost, kPort));
  EXPECT_EQ(out.authenticate, PAM_SUCCESS);
  EXPECT_EQ(out.account, PAM_SUCCESS);
}

TEST_F(PamModuleTest, AnExpiredTokenIsRefused) {
  const auto twenty_minutes_ago = std::chrono::system_clock::now() - std::chrono::minutes(20);
  expect_refused(
      login(PamStore::token(store_.session(), kHost, kPort, kDbUser, twenty_minutes_ago)),
      PAM_AUTH_ERR, "expired");
}

TEST_F(PamModuleTest, ATokenForAnotherUserIsRefused) {
  expect_refused(login(PamStore::token(store_.session(), kHost, kPort, "postgres")), PAM_AUTH_ERR,
                 "wrong_user");
}

TEST_F(PamModuleTest, ATokenForAnotherHostOrPortIsRefused) {
  const auto creds = store_.session();
  expect_refused(login(PamStore::token(creds,
                                       "aurora-write-proxy.proxy-abcdefghijkl.us-east-1."
                                       "rds.amazonaws.com",
                                       kPort)),
                 PAM_AUTH_ERR, "wrong_endpoint");
  expect_refused(login(PamStore::token(creds, kHost, kPort + 1)), PAM_AUTH_ERR, "wrong_endpoint");
}

TEST_F(PamModuleTest, APrincipalWithoutRdsDbConnectOnTheClusterIsRefused) {
  expect_refused(login(PamStore::token(store_.session("no-connect-role"), kHost, kPort)),
                 PAM_AUTH_ERR, "policy_implicit_deny");
  // rds-db:connect through the proxy (prx-...) does not reach the cluster.
  expect_refused(login(PamStore::token(store_.session("proxy-only-role"), kHost, kPort)),
                 PAM_AUTH_ERR, "policy_implicit_deny");
}

TEST_F(PamModuleTest, MalformedPasswordsAreRefused) {
  expect_refused(login("not-a-token"), PAM_AUTH_ERR, "malformed");
  expect_refused(login("a password with spaces"), PAM_AUTH_ERR, "malformed_token");
  std::string tampered = PamStore::token(store_.session(), kHost, kPort);
  const auto at = tampered.find("X-Amz-Signature=") + 16;
  tampered[at] = tampered[at] == 'a' ? 'b' : 'a';
  expect_refused(login(tampered), PAM_AUTH_ERR, "bad_signature");
  expect_refused(login(""), PAM_AUTH_ERR, "empty_token");
}

TEST_F(PamModuleTest, OversizedPasswordsAreRefusedUnread) {
  expect_refused(login(std::string(pam::kMaxTokenBytes + 1, 'A')), PAM_AUTH_ERR, "oversize_token");
  expect_refused(login(std::string(64 * 1024, 'A')), PAM_AUTH_ERR, "oversize_token");
}

TEST_F(PamModuleTest, AnUnreadableStoreIsRefused) {
  const std::string file = iam::IamStore::file_path(store_.state_dir());
  const std::string token = PamStore::token(store_.session(), kHost, kPort);
  ASSERT_EQ(::rename(file.c_str(), (file + ".away").c_str()), 0);
  expect_refused(login(token), PAM_AUTHINFO_UNAVAIL, "store_unavailable");
  // A FIFO in its place neither blocks the login nor is read.
  ASSERT_EQ(::mkfifo(file.c_str(), 0600), 0);
  const auto started = std::chrono::steady_clock::now();
  expect_refused(login(token), PAM_AUTHINFO_UNAVAIL, "store_unavailable");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  ASSERT_EQ(::unlink(file.c_str()), 0);
  {
    std::ofstream corrupt(file, std::ios::trunc);
    corrupt << "{\"generation\": ";
  }
  expect_refused(login(token), PAM_AUTHINFO_UNAVAIL, "store_unavailable");
  ASSERT_EQ(::rename((file + ".away").c_str(), file.c_str()), 0);
  EXPECT_EQ(login(token).authenticate, PAM_SUCCESS);
}

TEST_F(PamModuleTest, BadModuleArgumentsAreAServiceError) {
  write_service(store_.module_arguments(kHost, kPort) + " debug");
  EXPECT_EQ(login(PamStore::token(store_.session(), kHost, kPort)).authenticate, PAM_SERVICE_ERR);
  write_service("state=relative region=us-east-1");
  EXPECT_EQ(login("x").authenticate, PAM_SERVICE_ERR);
}

TEST_F(PamModuleTest, TheAccountStackAdmitsOnlyWhomTheModuleAuthenticated) {
  EXPECT_EQ(login("", kDbUser, /*authenticate=*/false).account, PAM_PERM_DENIED);
}

TEST_F(PamModuleTest, CostPerLogin) {
  // What one PostgreSQL login pays: load the module, read the store, verify, evaluate.
  const std::string token = PamStore::token(store_.session(), kHost, kPort);
  constexpr int kLogins = 200;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kLogins; ++i)
    ASSERT_EQ(login(token).authenticate, PAM_SUCCESS);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count() /
                      kLogins;
  std::cout << "pam_writegate: " << micros
            << " us per login (pam_start + authenticate + acct_mgmt + pam_end)" << std::endl;
  EXPECT_LT(micros, 100'000);
}

TEST(PamArgumentsTest, ParsesAndNamesTheBadArgument) {
  auto ok = pam::parse_module_arguments({"state=/s", "region=us-east-1", "account=000000000000",
                                         "resource=cluster-ABCDEFGHIJKLMNOPQRSTUVWXY0",
                                         "host=db.example.com", "port=5432"});
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(ok->state_dir, "/s");
  EXPECT_EQ(ok->port, 5432);
  EXPECT_FALSE(ok->report_to_conversation);
  struct Case {
    std::vector<std::string_view> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"port=0"}, "argument port=\"0\": expected a port from 1 to 65535"},
      {{"port=5432", "port=5433"}, "argument port= given twice"},
      {{"resource=prx-0123456789abcdef0"},
       "argument resource=\"prx-0123456789abcdef0\": expected cluster- followed by 26 upper-case "
       "letters or digits"},
      {{"account=123"}, "argument account=\"123\": expected 12 digits"},
      {{"debug"},
       "unknown argument \"debug\" (expected state=, region=, account=, resource=, host=, port= or "
       "report_to_conversation)"},
      {{"state=/s"}, "argument region= is missing"},
  };
  for (const auto& c : cases) {
    auto parsed = pam::parse_module_arguments(c.args);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error().message(), c.message);
  }
}

// The proxy's event loop asks authenticate_if_current() first: it decides over the store as last
// read, and steps aside (nullopt) as soon as the file changed, so a changed policy is never
// judged by the old one and the loop never waits on a read. (The module itself always reloads.)
TEST_F(PamModuleTest, TheQuickCheckStepsAsideWhenTheStoreChanged) {
  const std::string token = PamStore::token(store_.session(), kHost, kPort);
  auto reader = iam::IamStore::open(store_.state_dir());  // the proxy's own copy
  ASSERT_TRUE(reader.ok()) << reader.error().message();
  proxy::IamAuthenticator auth(**reader, {.region = "us-east-1",
                                          .account_id = "000000000000",
                                          .resource_id = kClusterResourceId,
                                          .endpoint_hosts = {kHost},
                                          .port = kPort});
  const auto now = std::chrono::system_clock::now();

  auto quick = auth.authenticate_if_current(token, kDbUser, now);
  ASSERT_TRUE(quick.has_value()) << "the store did not change since it was opened";
  EXPECT_TRUE(quick->ok) << quick->reason << ": " << quick->detail;

  auto denied = store_.store().put_role_policy(
      "connect-role", "deny",
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"rds-db:connect",)"
      R"("Resource":"*"}]})");
  ASSERT_TRUE(denied.ok()) << denied.error().message();
  EXPECT_FALSE(auth.authenticate_if_current(token, kDbUser, now).has_value())
      << "a changed store must go to the full check, not be judged by the old policies";

  const proxy::AuthOutcome full = auth.authenticate(token, kDbUser, now);
  EXPECT_FALSE(full.ok);
  EXPECT_EQ(full.reason, "policy_explicit_deny");

  quick = auth.authenticate_if_current(token, kDbUser, now);
  ASSERT_TRUE(quick.has_value()) << "read again by authenticate()";
  EXPECT_FALSE(quick->ok);
  EXPECT_EQ(quick->reason, "policy_explicit_deny");
}

}  // namespace
}  // namespace writegate::testing
