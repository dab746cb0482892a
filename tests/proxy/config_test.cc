// proxy.yaml: the keys added for the front door's controls, and what is refused.
#include "proxy/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace writegate::proxy {
namespace {

using ::testing::HasSubstr;

class ProxyConfigTest : public ::testing::Test {
 protected:
  // A config with the required keys, `extra` after them; `extra` may bring its own backend.
  Result<ProxyConfig> load(const std::string& extra) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("writegate-proxy-config-" + std::to_string(::getpid()) + ".yaml");
    const bool own_backend = extra.find("backend:") != std::string::npos;
    std::ofstream(path) << "tls_cert: p.crt\ntls_key: p.key\n"
                        << (own_backend ? "" : "backend: {host: db, port: 5432, ca_file: ca.crt}\n")
                        << "secrets_file: s.json\n"
                        << extra;
    auto spec = spec::parse("");
    EXPECT_TRUE(spec.ok());
    auto config = load_config(*spec, path.string());
    std::filesystem::remove(path);
    return config;
  }
};

TEST_F(ProxyConfigTest, DefaultsServeOnlyTheSpecsDatabaseAndOnlyScram) {
  auto c = load("");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->databases, std::vector<std::string>{"mydb"});
  EXPECT_EQ(c->backend.require_auth, std::set<std::string>{"scram-sha-256"});
  EXPECT_EQ(c->backend.connect_timeout_seconds, 10);
  EXPECT_EQ(c->max_client_connections, 1000);
  EXPECT_EQ(c->max_unauthenticated_connections, 256);
  EXPECT_EQ(c->max_unauthenticated_per_source, 256);
}

TEST_F(ProxyConfigTest, TheNewKeysAreRead) {
  auto c = load(
      "databases: [mydb, reports]\n"
      "max_unauthenticated_connections: 7\nmax_unauthenticated_per_source: 3\n"
      "backend: {host: db, port: 5432, ca_file: ca.crt, connect_timeout: 4,\n"
      "          require_auth: 'scram-sha-256,md5'}\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->databases, (std::vector<std::string>{"mydb", "reports"}));
  EXPECT_EQ(c->max_unauthenticated_connections, 7);
  EXPECT_EQ(c->max_unauthenticated_per_source, 3);
  EXPECT_EQ(c->backend.connect_timeout_seconds, 4);
  EXPECT_EQ(c->backend.require_auth, (std::set<std::string>{"md5", "scram-sha-256"}));
}

TEST_F(ProxyConfigTest, LogRotationAndTheSettingsFile) {
  auto c = load("");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->log_max_bytes, 0);
  EXPECT_EQ(c->log_keep, 5);
  EXPECT_EQ(c->settings_file, "");
  c = load("log_max_bytes: 1048576\nlog_keep: 3\nsettings_file: /run/s.json\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->log_max_bytes, 1048576);
  EXPECT_EQ(c->log_keep, 3);
  EXPECT_EQ(c->settings_file, "/run/s.json");
  c = load("log_max_bytes: 1000\n");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message(),
              HasSubstr("log_max_bytes: must be 0 (no rotation) or at least 65536"));
  c = load("log_keep: 0\n");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message(), HasSubstr("log_keep: expected 1..1000"));
}

TEST_F(ProxyConfigTest, IdleBackendsOverTheIdleCapCloseAfterAMinuteUnlessSetOtherwise) {
  auto c = load("");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->pool_idle_timeout_ms, 60'000);
  c = load("pool: {idle_timeout_ms: 2500}\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->pool_idle_timeout_ms, 2'500);
  c = load("pool: {idle_timeout_ms: 0}\n");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message(), HasSubstr("pool.idle_timeout_ms"));
}

TEST_F(ProxyConfigTest, BackendAuthIamSendsTokensAsCleartextPasswordsOnly) {
  auto c = load("");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->backend.auth, BackendAuth::kPassword);
  c = load(
      "backend: {host: db, port: 5432, ca_file: ca.crt, server_name: db.example.com, "
      "auth: iam}\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->backend.auth, BackendAuth::kIam);
  EXPECT_EQ(c->backend.require_auth, std::set<std::string>{"password"});
  c = load("backend: {host: db, port: 5432, ca_file: ca.crt, auth: iam, require_auth: password}\n");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->backend.require_auth, std::set<std::string>{"password"});
}

TEST_F(ProxyConfigTest, BadValuesAreRefusedWithFileLineAndField) {
  struct Case {
    std::string yaml;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"backend: {host: db, port: 5432, ca_file: ca.crt, require_auth: [scram-sha-256, gss]}\n",
       "backend.require_auth: 'gss' is not allowed; use scram-sha-256, md5, password, none"},
      {"backend: {host: db, port: 5432, ca_file: ca.crt, connect_timeout: 0}\n",
       "backend.connect_timeout: expected 1..600"},
      {"databases: []\n", "databases: expected a non-empty list"},
      {"backend: {host: db, port: 5432, ca_file: ca.crt, auth: kerberos}\n",
       "backend.auth: 'kerberos' is not allowed; use password or iam"},
      {"backend: {host: db, port: 5432, ca_file: ca.crt, auth: iam,\n"
       "          require_auth: [scram-sha-256, password]}\n",
       "backend.require_auth: with backend.auth iam the token is sent as a cleartext password: "
       "require_auth must be [password]"},
      {"max_unauthenticated_per_source: -1\n",
       "max_unauthenticated_per_source: expected 1..100000"},
      {"secrets: {endpoint: 'http://10.1.2.3:4566', ca_file: ca.crt}\n",
       "secrets.endpoint: http://10.1.2.3:4566 is plain http to a non-loopback host; use https://"},
      {"secrets: {endpoint: 'http://secrets.example.com', ca_file: ca.crt}\n",
       "is plain http to a non-loopback host"},
      {"secrets: {endpoint: 'ftp://127.0.0.1', ca_file: ca.crt}\n", "is not an http(s) URL"},
  };
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    auto config = load(c.yaml);
    ASSERT_FALSE(config.ok());
    EXPECT_THAT(config.error().message(), HasSubstr(c.message));
    EXPECT_THAT(config.error().message(), HasSubstr("writegate-proxy-config-"));
  }
}

TEST_F(ProxyConfigTest, PlainHttpSecretsAreAllowedOnlyToLoopback) {
  for (const std::string url :
       {"http://127.0.0.1:4566", "http://[::1]:4566", "http://localhost:4566/", "https://x:1"}) {
    SCOPED_TRACE(url);
    auto c = load("secrets: {endpoint: '" + url + "', ca_file: ca.crt}\n");
    EXPECT_TRUE(c.ok()) << c.error().message();
  }
}

}  // namespace
}  // namespace writegate::proxy
