#include "pam/pam_fixture.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "iam/arn.h"
#include "sigv4/rds_token.h"

namespace writegate::testing {
namespace {

std::string connect_policy(const std::string& resource) {
  return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds-db:connect",)"
         R"("Resource":")" +
         resource + R"("}]})";
}

void create_role(iam::IamStore& store, const std::string& name, const std::string& policy) {
  auto role = store.create_role(
      name, R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":)"
            R"({"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]})");
  ASSERT_TRUE(role.ok()) << role.error().message();
  if (!policy.empty()) {
    auto put = store.put_role_policy(name, "connect", policy);
    ASSERT_TRUE(put.ok()) << put.error().message();
  }
}

}  // namespace

PamStore::PamStore(const std::string& parent) {
  const char* tmp = ::getenv("TMPDIR");
  std::string base = !parent.empty() ? parent : (tmp != nullptr && *tmp != '\0' ? tmp : "/tmp");
  std::string pattern = base + "/wg-pam-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << pattern;
    return;
  }
  root_ = pattern;
  state_dir_ = root_ + "/state";
  iam::StoreSettings settings;
  settings.cluster_resource_id = kClusterResourceId;
  auto store = iam::IamStore::open_or_create(state_dir_, settings);
  if (!store) {
    ADD_FAILURE() << store.error().message();
    return;
  }
  store_ = std::move(*store);
  create_role(*store_, "connect-role",
              connect_policy(
                  iam::rds_db_user_arn("us-east-1", "000000000000", kClusterResourceId, kDbUser)));
  create_role(*store_, "no-connect-role", "");
  create_role(*store_, "proxy-only-role",
              connect_policy(iam::rds_db_user_arn("us-east-1", "000000000000",
                                                  "prx-0123456789abcdef0", kDbUser)));
}

PamStore::~PamStore() {
  if (root_.empty() || ::getenv("WRITEGATE_KEEP_TEST_DB") != nullptr) return;
  std::error_code ignored;
  std::filesystem::remove_all(root_, ignored);
}

sigv4::Credentials PamStore::session(const std::string& role) {
  auto session = store_->create_session(role, "pam-test", std::chrono::hours(1),
                                        std::chrono::system_clock::now());
  if (!session) {
    ADD_FAILURE() << session.error().message();
    return {};
  }
  return {session->access_key_id, session->secret_access_key, session->session_token};
}

std::string PamStore::token(const sigv4::Credentials& credentials, const std::string& host,
                            std::uint16_t port, const std::string& user,
                            std::chrono::system_clock::time_point at) {
  auto token = sigv4::generate_rds_token(
      {.hostname = host, .port = port, .username = user, .region = "us-east-1"}, credentials, at);
  if (!token) {
    ADD_FAILURE() << token.error().message();
    return {};
  }
  return *token;
}

std::string PamStore::module_arguments(const std::string& host, std::uint16_t port) const {
  return "state=" + state_dir_ +
         " region=us-east-1 account=000000000000 resource=" + kClusterResourceId + " host=" + host +
         " port=" + std::to_string(port);
}

std::string pam_module_path() {
  return PAM_WRITEGATE_MODULE;
}

}  // namespace writegate::testing
