// pam_writegate.so in a real PostgreSQL, as the stack uses it: members of rds_iam go to PAM
// (`hostssl all +rds_iam ... pam pamservice=...` ahead of the scram line), PostgreSQL asks the
// client for a cleartext password inside TLS and the module verifies it as an RDS token against
// an IAM store shared with the postgres account (IamStore::share_read_with_group). Root only:
// PostgreSQL reads its PAM service from /etc/pam.d (a uniquely named file, removed afterwards).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "common/process.h"
#include "localpg/cluster.h"
#include "pam/pam_fixture.h"
#include "pgclient/pgclient.h"
#include "support/root_only.h"

namespace writegate::testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

class PamPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WG_REQUIRE_ROOT();
    auto account = unprivileged_account_if_root("postgres");
    ASSERT_TRUE(account.ok() && account->has_value());
    postgres_gid_ = (*account)->gid;
    // The state folder's parent (mkdtemp, 0700): searchable, so postgres reaches the state.
    const std::string parent = store_.state_dir().substr(0, store_.state_dir().rfind('/'));
    ASSERT_EQ(::chmod(parent.c_str(), 0711), 0);

    static std::atomic<int> counter{0};
    service_ = "writegate-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    localpg::ClusterOptions options;
    // trusted_probe: a login that costs no authentication, the baseline of the module's cost.
    options.hba_lines = {"hostssl all trusted_probe 127.0.0.1/32 trust",
                         "hostssl all +rds_iam 127.0.0.1/32 pam pamservice=" + service_,
                         "hostssl all all 127.0.0.1/32 scram-sha-256", "host all all all reject"};
    auto cluster = localpg::Cluster::start(options);
    ASSERT_TRUE(cluster.ok()) << cluster.error().message();
    pg_ = std::move(*cluster);
    {
      std::ofstream out("/etc/pam.d/" + service_, std::ios::trunc);
      out << "auth required " << pam_module_path() << " "
          << store_.module_arguments(pg_->host(), static_cast<std::uint16_t>(pg_->port()))
          << " report_to_conversation\n"
          << "account required " << pam_module_path() << "\n";
      ASSERT_TRUE(out.good());
    }
    auto admin = pgclient::Connection::open(pg_->admin_dsn());
    ASSERT_TRUE(admin.ok()) << admin.error().message();
    for (const char* sql : {"CREATE ROLE rds_iam",
                            "CREATE ROLE lambda_writer LOGIN PASSWORD "
                            "'Secret-pw-1'",
                            "GRANT rds_iam TO lambda_writer", "CREATE ROLE trusted_probe LOGIN"}) {
      auto done = admin->exec(sql);
      ASSERT_TRUE(done.ok()) << sql << ": " << done.error().message();
    }
  }

  void TearDown() override {
    if (!service_.empty()) std::remove(("/etc/pam.d/" + service_).c_str());
  }

  Result<pgclient::Connection> login(const std::string& password,
                                     const std::string& user = kDbUser) {
    return pgclient::Connection::open(pg_->dsn_for(user, password));
  }
  std::string token() {
    return PamStore::token(store_.session(), pg_->host(), static_cast<std::uint16_t>(pg_->port()));
  }
  std::string server_log() {
    std::ifstream in(pg_->log_file());
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  PamStore store_;
  gid_t postgres_gid_ = 0;
  std::string service_;
  std::unique_ptr<localpg::Cluster> pg_;
};

TEST_F(PamPgTest, TokenLoginsWorkAndPasswordLoginsOfRdsIamMembersFail) {
  ASSERT_TRUE(iam::IamStore::share_read_with_group(store_.state_dir(), postgres_gid_).ok());
  auto conn = login(token());
  ASSERT_TRUE(conn.ok()) << conn.error().message() << "\n" << pg_->log_tail();
  auto who = conn->exec("SELECT current_user");
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->get(0, "current_user"), kDbUser);

  auto refused = login("Secret-pw-1");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message(),
              HasSubstr("PAM authentication failed for user \"lambda_writer\""));
  EXPECT_THAT(server_log(), HasSubstr("error from underlying PAM layer: pam_writegate: refused "
                                      "user lambda_writer: malformed ("));
  // Other users keep their password logins.
  EXPECT_TRUE(pgclient::Connection::open(pg_->admin_dsn()).ok());
  // The store stays readable to postgres after a write replaced the file.
  ASSERT_TRUE(store_.store().create_user("someone").ok());
  EXPECT_TRUE(login(token()).ok());
}

TEST_F(PamPgTest, AStoreThePostgresAccountCannotReadRefusesEveryLogin) {
  auto refused = login(token());  // not shared: iam/ is 0700 root
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message(),
              HasSubstr("PAM authentication failed for user \"lambda_writer\""));
  EXPECT_THAT(server_log(),
              HasSubstr("pam_writegate: refused user lambda_writer: "
                        "store_unavailable (cannot read the IAM store: cannot reach " +
                        iam::IamStore::file_path(store_.state_dir()) + ": Permission denied)"));
}

TEST_F(PamPgTest, ALoginStormDoesNotStallOtherLogins) {
  ASSERT_TRUE(iam::IamStore::share_read_with_group(store_.state_dir(), postgres_gid_).ok());
  const std::string dsn = pg_->dsn_for(kDbUser, token());  // reusable for 15 minutes
  auto time_logins = [](const std::string& conninfo, int count) {
    const auto started = Clock::now();
    for (int i = 0; i < count; ++i) {
      if (!pgclient::Connection::open(conninfo).ok()) return std::chrono::microseconds::max();
    }
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started) / count;
  };
  const auto token_login = time_logins(dsn, 20);
  const auto scram_login = time_logins(pg_->admin_dsn(), 20);
  const auto trust_login = time_logins(pg_->dsn_for("trusted_probe", ""), 20);

  constexpr int kThreads = 16, kLogins = 200;
  std::atomic<int> next{0}, ok{0};
  std::atomic<bool> storming{true};
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  const auto storm_started = Clock::now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (next.fetch_add(1) < kLogins) {
        auto conn = pgclient::Connection::open(dsn);
        if (conn.ok()) {
          ++ok;
        } else {
          std::lock_guard lock(errors_mutex);
          errors.push_back(conn.error().message());
        }
      }
    });
  }
  // Meanwhile another user logs in, again and again.
  std::vector<Clock::duration> other;
  std::thread observer([&] {
    while (storming.load()) {
      const auto started = Clock::now();
      if (!pgclient::Connection::open(pg_->admin_dsn()).ok()) {
        other.push_back(std::chrono::hours(1));
        return;
      }
      other.push_back(Clock::now() - started);
    }
  });
  for (auto& t : threads)
    t.join();
  const auto storm = Clock::now() - storm_started;
  storming = false;
  observer.join();

  EXPECT_EQ(ok.load(), kLogins) << (errors.empty() ? "" : errors.front());
  ASSERT_FALSE(other.empty());
  const auto worst = *std::max_element(other.begin(), other.end());
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::printf(
      "pam_writegate live: token login %.2f ms, scram-sha-256 login %.2f ms, trust login %.2f ms "
      "(module cost per login ~%.2f ms); storm of %d token logins from %d threads took %.0f ms; "
      "another user's "
      "%zu logins meanwhile: worst %.1f ms\n",
      ms(token_login), ms(scram_login), ms(trust_login), ms(token_login - trust_login), kLogins,
      kThreads, ms(storm), other.size(), ms(worst));
  EXPECT_LT(worst, std::chrono::seconds(5));
}

}  // namespace
}  // namespace writegate::testing
