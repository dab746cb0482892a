// The local IAM/STS store: file modes, key formats, lookups, sessions, reload, concurrency.
#include "iam/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "iam/arn.h"
#include "iam/random.h"

namespace writegate::iam {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

const char* kTrustLambda = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]})";
const char* kConnect = R"({"Version":"2012-10-17","Statement":[{"Sid":"AllowRDSConnect",
  "Effect":"Allow","Action":"rds-db:connect",
  "Resource":"arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123456789abcdef0/lambda_writer"}]})";

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/wg-iam-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    state_ = root_ + "/state";
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<IamStore> create() {
    StoreSettings settings;
    settings.account_id = "123456789012";
    auto store = IamStore::open_or_create(state_, settings);
    EXPECT_TRUE(store.ok()) << store.error().message();
    return std::move(*store);
  }

  static mode_t mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 0777;
  }

  std::string root_, state_;
  const TimePoint now_ = TimePoint(seconds(1767225600));
};

TEST_F(StoreTest, OpenMissingSaysHowToCreate) {
  auto store = IamStore::open(state_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store.error().message(), "no IAM store in " + state_ + " (" + state_ +
                                         "/iam/iam.json is missing); create it with "
                                         "`writegate iam seed --state " +
                                         state_ + "` or start the stack with `writegate up`");
}

TEST_F(StoreTest, FilesArePrivate) {
  auto store = create();
  ASSERT_TRUE(store->create_user("alice").ok());
  EXPECT_EQ(mode_of(state_), 0700u);
  EXPECT_EQ(mode_of(state_ + "/iam"), 0700u);
  EXPECT_EQ(mode_of(state_ + "/iam/iam.json"), 0600u);
  EXPECT_EQ(mode_of(state_ + "/iam/.lock"), 0600u);
  // No temporary files are left behind.
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(state_ + "/iam")) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 2u);
}

TEST_F(StoreTest, SharingWithAGroupIsOptInAndSurvivesReplaces) {
  auto store = create();
  // Root may give any group; anyone else their own.
  const gid_t group = ::geteuid() == 0 ? 54321 : ::getegid();
  auto group_of = [](const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_gid;
  };
  auto full_mode_of = [](const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  };
  ASSERT_TRUE(IamStore::share_read_with_group(state_, group).ok());
  EXPECT_EQ(full_mode_of(state_ + "/iam"), 02750u);
  EXPECT_EQ(group_of(state_ + "/iam"), group);
  EXPECT_EQ(mode_of(state_ + "/iam/iam.json"), 0640u);
  EXPECT_EQ(group_of(state_ + "/iam/iam.json"), group);
  EXPECT_EQ(mode_of(state_) & 0010, 0010u);  // searchable by the group, not readable
  EXPECT_EQ(mode_of(state_) & 0047, 0u);
  // A write replaces the file: the copy keeps the group and 0640; reopening keeps 2750.
  ASSERT_TRUE(store->create_user("alice").ok());
  EXPECT_EQ(mode_of(state_ + "/iam/iam.json"), 0640u);
  EXPECT_EQ(group_of(state_ + "/iam/iam.json"), group);
  ASSERT_NE(create(), nullptr);
  EXPECT_EQ(full_mode_of(state_ + "/iam"), 02750u);
  // Undo: a private folder again makes the next write private.
  ASSERT_EQ(::chmod((state_ + "/iam").c_str(), 0700), 0);
  ASSERT_TRUE(store->create_user("bob").ok());
  EXPECT_EQ(mode_of(state_ + "/iam/iam.json"), 0600u);
}

TEST_F(StoreTest, ClusterResourceIdIsValidated) {
  auto store = create();
  auto bad = store->update_settings([](StoreSettings& s) -> Status {
    s.cluster_resource_id = "cluster-abc";
    return {};
  });
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(
      bad.error().message(),
      "cluster resource id \"cluster-abc\" is not cluster- followed by 26 upper-case letters or "
      "digits");
  ASSERT_TRUE(store
                  ->update_settings([](StoreSettings& s) -> Status {
                    s.cluster_resource_id = "cluster-ABCDEFGHIJKLMNOPQRSTUVWXY0";
                    return {};
                  })
                  .ok());
  EXPECT_EQ(IamStore::open(state_).value()->settings().cluster_resource_id,
            "cluster-ABCDEFGHIJKLMNOPQRSTUVWXY0");
}

TEST_F(StoreTest, RejectsBadAccount) {
  StoreSettings settings;
  settings.account_id = "ACCOUNT_ID";
  auto store = IamStore::open_or_create(state_, settings);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().message(), "account id \"ACCOUNT_ID\" must be 12 digits");
}

TEST_F(StoreTest, AccessKeyFormatsAndLookup) {
  auto store = create();
  auto user = store->create_user("alice", {{"team", "db"}});
  ASSERT_TRUE(user.ok());
  EXPECT_TRUE(std::regex_match(user->user_id, std::regex("AIDA[A-Z2-7]{16}")));
  ASSERT_TRUE(store->put_user_policy("alice", "connect", kConnect).ok());
  auto key = store->create_access_key("alice", now_);
  ASSERT_TRUE(key.ok()) << key.error().message();
  EXPECT_TRUE(std::regex_match(key->access_key_id, std::regex("AKIA[A-Z2-7]{16}")));
  EXPECT_TRUE(std::regex_match(std::string(key->secret_access_key.reveal()),
                               std::regex("[A-Za-z0-9+/]{40}")));
  auto second = store->create_access_key("alice", now_);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->access_key_id, key->access_key_id);
  EXPECT_NE(second->secret_access_key, key->secret_access_key);
  auto third = store->create_access_key("alice", now_);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().message(),
            "user \"alice\" already has 2 access keys (the AWS limit); delete one first");

  auto identity = store->find_access_key(key->access_key_id, now_);
  ASSERT_TRUE(identity.ok()) << identity.error().message();
  EXPECT_EQ(identity->kind, KeyIdentity::Kind::kUser);
  EXPECT_EQ(identity->secret_access_key, key->secret_access_key);
  EXPECT_TRUE(identity->session_token.empty());
  EXPECT_FALSE(identity->expiration.has_value());
  EXPECT_EQ(identity->principal.arn, "arn:aws:iam::123456789012:user/alice");
  EXPECT_EQ(identity->principal.user_id, user->user_id);
  EXPECT_EQ(identity->principal.tags.at("team"), "db");
  ASSERT_EQ(identity->policies.size(), 1u);
  EXPECT_EQ(identity->policies[0].name, "connect");

  auto unknown = store->find_access_key("AKIAAAAAAAAAAAAAAAAA", now_);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(unknown.error().message(), "unknown access key id AKIAAAAAAAAAAAAAAAAA");

  ASSERT_TRUE(store->set_access_key_status(key->access_key_id, KeyStatus::kInactive).ok());
  auto inactive = store->find_access_key(key->access_key_id, now_);
  ASSERT_FALSE(inactive.ok());
  EXPECT_EQ(inactive.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(inactive.error().message(), "access key " + key->access_key_id + " is Inactive");

  ASSERT_TRUE(store->delete_access_key(key->access_key_id).ok());
  EXPECT_EQ(store->find_access_key(key->access_key_id, now_).error().code(), ErrorCode::kNotFound);
  auto again = store->delete_access_key(key->access_key_id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message(), "unknown access key id " + key->access_key_id);
}

TEST_F(StoreTest, SessionsExpire) {
  auto store = create();
  ASSERT_TRUE(store->create_role("writer", kTrustLambda).ok());
  ASSERT_TRUE(store->put_role_policy("writer", "lambda-rds-connect-policy", kConnect).ok());
  ASSERT_TRUE(
      store
          ->attach_role_policy(
              "writer", "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole")
          .ok());
  auto session = store->create_session("writer", "invocation-1", kDefaultSessionDuration, now_);
  ASSERT_TRUE(session.ok()) << session.error().message();
  EXPECT_TRUE(std::regex_match(session->access_key_id, std::regex("ASIA[A-Z2-7]{16}")));
  EXPECT_EQ(session->secret_access_key.size(), 40u);
  EXPECT_GE(session->session_token.size(), 100u);
  EXPECT_EQ(session->expiration, now_ + seconds(3600));

  auto identity = store->find_access_key(session->access_key_id, now_ + seconds(3599));
  ASSERT_TRUE(identity.ok()) << identity.error().message();
  EXPECT_EQ(identity->kind, KeyIdentity::Kind::kAssumedRole);
  EXPECT_EQ(identity->principal.arn, "arn:aws:sts::123456789012:assumed-role/writer/invocation-1");
  EXPECT_EQ(identity->role_arn, "arn:aws:iam::123456789012:role/writer");
  EXPECT_EQ(identity->session_name, "invocation-1");
  EXPECT_TRUE(identity->principal.user_id.ends_with(":invocation-1"));
  EXPECT_TRUE(session_token_matches(*identity, session->session_token.reveal()));
  EXPECT_FALSE(
      session_token_matches(*identity, std::string(session->session_token.reveal()) + "x"));
  EXPECT_FALSE(session_token_matches(*identity, ""));
  ASSERT_EQ(identity->policies.size(), 2u);
  EXPECT_EQ(identity->policies[0].name, "lambda-rds-connect-policy");
  EXPECT_EQ(identity->policies[1].name,
            "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole");

  auto expired = store->find_access_key(session->access_key_id, now_ + seconds(3600));
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(expired.error().message(),
            "session credentials " + session->access_key_id + " expired at 2026-01-01T01:00:00Z");
  // A verifier that reports expiry itself still gets the key and its expiration.
  auto late = store->find_access_key_ignoring_expiry(session->access_key_id);
  ASSERT_TRUE(late.ok()) << late.error().message();
  EXPECT_EQ(late->expiration, now_ + seconds(3600));
  EXPECT_EQ(late->secret_access_key, session->secret_access_key);
}

TEST_F(StoreTest, SessionDurationLimits) {
  auto store = create();
  ASSERT_TRUE(store->create_role("writer", kTrustLambda, "", std::chrono::seconds(3600)).ok());
  EXPECT_EQ(store->create_session("writer", "s1", seconds(899), now_).error().message(),
            "session duration must be 900 to 43200 seconds, got 899");
  EXPECT_EQ(store->create_session("writer", "s1", seconds(43201), now_).error().message(),
            "session duration must be 900 to 43200 seconds, got 43201");
  EXPECT_EQ(store->create_session("writer", "s1", seconds(7200), now_).error().message(),
            "session duration 7200 s exceeds the maximum of role \"writer\" (3600 s)");
  EXPECT_TRUE(store->create_session("writer", "s1", seconds(900), now_).ok());
  EXPECT_EQ(
      store->create_session("writer", "a b", seconds(900), now_).error().message(),
      "role session name \"a b\" must have 2 to 64 characters of letters, digits and _+=,.@-");
  EXPECT_EQ(store->create_session("nobody", "s1", seconds(900), now_).error().message(),
            "no role named \"nobody\"");
  ASSERT_TRUE(store->create_role("long", kTrustLambda).ok());
  auto twelve = store->create_session("long", "s1", kMaxSessionDuration, now_);
  ASSERT_TRUE(twelve.ok());
  EXPECT_EQ(twelve->expiration, now_ + seconds(43200));
  // Revoking a session deletes its key.
  ASSERT_TRUE(store->delete_access_key(twelve->access_key_id).ok());
  EXPECT_EQ(store->find_access_key(twelve->access_key_id, now_).error().code(),
            ErrorCode::kNotFound);
}

TEST_F(StoreTest, PoliciesAreValidatedBeforeStoring) {
  auto store = create();
  ASSERT_TRUE(store->create_user("alice").ok());
  auto bad = store->put_user_policy("alice", "p", R"({"Version":"2012-10-17","Statement":[
      {"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEqualz":{"a":"b"}}}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(),
            "policy p: statement 0: Condition: unknown operator \"StringEqualz\"");
  auto trust = store->create_role("r", kConnect);
  ASSERT_FALSE(trust.ok());
  EXPECT_EQ(trust.error().message(),
            "trust policy of role r: statement 0 (Sid \"AllowRDSConnect\"): a trust policy "
            "statement needs Principal");
  EXPECT_EQ(store->put_role_policy("missing", "p", kConnect).error().message(),
            "no role named \"missing\"");
  EXPECT_EQ(store->attach_role_policy("missing", "arn:aws:iam::aws:policy/x").error().message(),
            "no role named \"missing\"");
  EXPECT_EQ(store->create_user("bad name").error().message(),
            "user name \"bad name\" may contain only letters, digits and _+=,.@-");
  EXPECT_EQ(store->create_user("alice").error().code(), ErrorCode::kAlreadyExists);
}

TEST_F(StoreTest, PutDeleteAndManagedPolicies) {
  auto store = create();
  ASSERT_TRUE(store->create_user("alice").ok());
  ASSERT_TRUE(store->put_user_policy("alice", "p", kConnect).ok());
  auto arn = store->put_managed_policy("shared", kConnect);
  ASSERT_TRUE(arn.ok());
  EXPECT_EQ(*arn, "arn:aws:iam::123456789012:policy/shared");
  ASSERT_TRUE(store->attach_user_policy("alice", *arn).ok());
  auto found = store->find_principal("alice");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->policies.size(), 2u);
  EXPECT_EQ(store->delete_managed_policy(*arn).error().message(),
            *arn + " is attached to user alice");
  EXPECT_EQ(store->delete_user("alice").error().message(),
            "user \"alice\" still has policies; delete or detach them first");
  ASSERT_TRUE(store->detach_user_policy("alice", *arn).ok());
  ASSERT_TRUE(store->delete_user_policy("alice", "p").ok());
  EXPECT_EQ(store->delete_user_policy("alice", "p").error().message(),
            "user \"alice\" has no policy \"p\"");
  EXPECT_TRUE(store->find_principal("alice")->policies.empty());
  ASSERT_TRUE(store->delete_managed_policy(*arn).ok());
  ASSERT_TRUE(store->delete_user("alice").ok());
  EXPECT_EQ(store->find_principal("alice").error().code(), ErrorCode::kNotFound);
}

TEST_F(StoreTest, FindPrincipalByNameAndArn) {
  auto store = create();
  ASSERT_TRUE(store->create_user("alice").ok());
  ASSERT_TRUE(store->create_role("writer", kTrustLambda).ok());
  EXPECT_EQ(store->find_principal("arn:aws:iam::123456789012:user/alice")->principal.type,
            PrincipalInfo::Type::kUser);
  EXPECT_EQ(store->find_principal("writer")->principal.arn,
            "arn:aws:iam::123456789012:role/writer");
  auto session = store->find_principal("arn:aws:sts::123456789012:assumed-role/writer/s1");
  ASSERT_TRUE(session.ok());
  EXPECT_EQ(session->principal.type, PrincipalInfo::Type::kAssumedRole);
  EXPECT_EQ(store->find_principal("arn:aws:iam::999999999999:user/alice").error().message(),
            "arn:aws:iam::999999999999:user/alice is not in account 123456789012 of this store");
  ASSERT_TRUE(store->create_role("alice", kTrustLambda).ok());
  EXPECT_EQ(
      store->find_principal("alice").error().message(),
      "\"alice\" is both a user and a role; give the ARN (arn:aws:iam::123456789012:user/alice "
      "or arn:aws:iam::123456789012:role/alice)");
}

TEST_F(StoreTest, ReaderSeesChangesAfterReload) {
  auto writer = create();
  auto reader = IamStore::open(state_);
  ASSERT_TRUE(reader.ok());
  auto generation = (*reader)->generation();
  auto unchanged = (*reader)->reload_if_changed();
  ASSERT_TRUE(unchanged.ok());
  EXPECT_FALSE(*unchanged);

  ASSERT_TRUE(writer->create_user("bob").ok());
  auto key = writer->create_access_key("bob", now_);
  ASSERT_TRUE(key.ok());
  // Not visible before the reload, visible after.
  EXPECT_EQ((*reader)->find_access_key(key->access_key_id, now_).error().code(),
            ErrorCode::kNotFound);
  auto changed = (*reader)->reload_if_changed();
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  EXPECT_EQ((*reader)->generation(), generation + 2);
  EXPECT_TRUE((*reader)->find_access_key(key->access_key_id, now_).ok());
  EXPECT_FALSE(*(*reader)->reload_if_changed());

  ASSERT_TRUE(writer->delete_access_key(key->access_key_id).ok());
  ASSERT_TRUE(*(*reader)->reload_if_changed());
  EXPECT_EQ((*reader)->find_access_key(key->access_key_id, now_).error().code(),
            ErrorCode::kNotFound);
}

TEST_F(StoreTest, ConcurrentWritersLoseNothing) {
  create();
  constexpr int kProcesses = 4;
  constexpr int kUsersEach = 5;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = IamStore::open(state_);
      int failures = store.ok() ? 0 : 1;
      for (int i = 0; store.ok() && i < kUsersEach; ++i) {
        if (!(*store)->create_user("u" + std::to_string(p) + "_" + std::to_string(i)).ok())
          ++failures;
      }
      _exit(failures);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto store = IamStore::open(state_);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->users().size(), static_cast<size_t>(kProcesses * kUsersEach));
}

TEST_F(StoreTest, CorruptFileIsAnError) {
  create();
  std::ofstream(state_ + "/iam/iam.json") << R"({"format":1,"generation":"x"})";
  auto store = IamStore::open(state_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(store.error().message().starts_with(state_ + "/iam/iam.json: "))
      << store.error().message();
}

TEST(Random, Formats) {
  EXPECT_TRUE(std::regex_match(*new_proxy_resource_id(), std::regex("prx-[0-9a-f]{17}")));
  EXPECT_TRUE(is_proxy_resource_id(*new_proxy_resource_id()));
  EXPECT_TRUE(std::regex_match(*new_cluster_resource_id(), std::regex("cluster-[A-Z0-9]{26}")));
  EXPECT_TRUE(is_cluster_resource_id(*new_cluster_resource_id()));
  EXPECT_TRUE(std::regex_match(
      *new_kms_key_id(),
      std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  EXPECT_TRUE(is_access_key_id(*new_access_key_id(KeyKind::kTemporary)));
  EXPECT_FALSE(is_access_key_id("AKIA1111111111111111"));  // 1 is not in [A-Z2-7]
  // All 32 symbols show up over many draws (uniformity smoke test).
  std::string many = *random_string(4000, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
  std::set<char> seen(many.begin(), many.end());
  EXPECT_EQ(seen.size(), 32u);
}

}  // namespace
}  // namespace writegate::iam
