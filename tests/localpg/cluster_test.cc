#include "localpg/cluster.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "pgclient/pgclient.h"

namespace writegate::localpg {
namespace {

TEST(ClusterTest, StartsWithTlsVerifyFullAndTearsDown) {
  std::string dir;
  {
    auto cluster = Cluster::start({});
    ASSERT_TRUE(cluster.ok()) << cluster.error().message();
    dir = (*cluster)->dir();
    EXPECT_GT((*cluster)->port(), 0);

    auto conn = pgclient::Connection::open((*cluster)->admin_dsn());
    ASSERT_TRUE(conn.ok()) << conn.error().message();
    EXPECT_TRUE(conn->uses_tls());
    EXPECT_GE(conn->server_version(), 150000);
    auto row = conn->exec("SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    ASSERT_TRUE(row.ok());
    EXPECT_EQ(row->get(0, "current_user"), "postgres");
    EXPECT_EQ(row->get(0, "ssl"), "t");

    // Without TLS the server refuses the login outright.
    const std::string plain = "host=127.0.0.1 port=" + std::to_string((*cluster)->port()) +
                              " user=postgres password=" + (*cluster)->superuser_password() +
                              " dbname=postgres sslmode=disable";
    auto refused = pgclient::Connection::open(plain);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().message().find("pg_hba.conf rejects connection"), std::string::npos)
        << refused.error().message();

    // A wrong password fails scram-sha-256 authentication.
    auto wrong = pgclient::Connection::open((*cluster)->dsn_for("postgres", "not-it"));
    ASSERT_FALSE(wrong.ok());
    EXPECT_NE(wrong.error().message().find("password authentication failed"), std::string::npos);

    // verify-full checks the name: a name not on the certificate is refused.
    const std::string other_name =
        "host=127.0.0.2 hostaddr=127.0.0.1 port=" + std::to_string((*cluster)->port()) +
        " user=postgres dbname=postgres sslmode=verify-full "
        "sslrootcert=" +
        (*cluster)->ca_file();
    auto mismatch = pgclient::Connection::open(other_name);
    ASSERT_FALSE(mismatch.ok());
    EXPECT_NE(mismatch.error().message().find("does not match host name"), std::string::npos)
        << mismatch.error().message();
  }
  EXPECT_FALSE(std::filesystem::exists(dir)) << "teardown must remove " << dir;
}

TEST(ClusterTest, TwoClustersRunSideBySide) {
  auto a = Cluster::start({});
  auto b = Cluster::start({});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->port(), (*b)->port());
  EXPECT_TRUE(pgclient::Connection::open((*b)->admin_dsn()).ok());
}

}  // namespace
}  // namespace writegate::localpg
