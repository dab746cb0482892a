// Test support for tests/awslocal: a throwaway state folder seeded with the document's roles
// (iam::seed_store with the default spec), a user with an access key, and signing helpers.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "iam/seed.h"
#include "iam/store.h"
#include "sigv4/sigv4.h"
#include "spec/spec.h"

namespace writegate::awslocal::testing {

struct SeededState {
  std::string dir;
  std::unique_ptr<iam::IamStore> store;
  iam::SeedResult seed;

  SeededState() = default;
  SeededState(const SeededState&) = delete;
  SeededState(SeededState&& other) noexcept { *this = std::move(other); }
  SeededState& operator=(SeededState&& other) noexcept {
    remove();
    dir = std::exchange(other.dir, {});
    store = std::move(other.store);
    seed = std::move(other.seed);
    return *this;
  }
  ~SeededState() { remove(); }

  void remove() {
    if (dir.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::path(dir).parent_path(), ec);
    dir.clear();
  }

  // A user with a fresh access key and an inline policy (JSON text; empty for none).
  sigv4::Credentials add_user(const std::string& name, const std::string& policy_json = {}) {
    auto user = store->create_user(name);
    EXPECT_TRUE(user.ok()) << (user.ok() ? "" : user.error().message());
    if (!policy_json.empty()) {
      auto put = store->put_user_policy(name, name + "-policy", policy_json);
      EXPECT_TRUE(put.ok()) << (put.ok() ? "" : put.error().message());
    }
    auto key = store->create_access_key(name, std::chrono::system_clock::now());
    EXPECT_TRUE(key.ok());
    if (!key.ok()) return {};
    return {key->access_key_id, key->secret_access_key, ""};
  }

  // A fresh STS session of a role, minted directly in the store (as `writegate credentials`).
  sigv4::Credentials session_of(
      const std::string& role, std::chrono::seconds duration = std::chrono::seconds(3600),
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) {
    auto s = store->create_session(role, "test-session", duration, now);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
    if (!s.ok()) return {};
    return {s->access_key_id, s->secret_access_key, s->session_token};
  }

  std::string account() const { return store->settings().account_id; }
  std::string role_arn(const std::string& name) const {
    return "arn:aws:iam::" + account() + ":role/" + name;
  }
};

inline SeededState make_seeded_state() {
  SeededState state;
  char pattern[] = "/tmp/wg-awslocal-XXXXXX";
  char* made = mkdtemp(pattern);
  EXPECT_NE(made, nullptr);
  state.dir = std::string(made) + "/state";
  spec::Spec spec;
  // The tests name the proxy role's secret by the spec's default.
  EXPECT_EQ(spec.database.user_secret, "lambda-writer-secret");
  auto seeded = iam::seed_store(spec, state.dir);
  EXPECT_TRUE(seeded.ok()) << (seeded.ok() ? "" : seeded.error().message());
  if (seeded.ok()) state.seed = *seeded;
  auto store = iam::IamStore::open(state.dir);
  EXPECT_TRUE(store.ok());
  if (store.ok()) state.store = std::move(*store);
  return state;
}

// A policy allowing `action` on `resource`.
inline std::string allow_policy(const std::string& action, const std::string& resource) {
  return R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":")" + action +
         R"(","Resource":")" + resource + R"("}]})";
}

}  // namespace writegate::awslocal::testing
