#include "support/pg_fixture.h"

#include <atomic>
#include <cstdlib>

namespace writegate::testing {
namespace {
std::unique_ptr<localpg::Cluster>& cluster_slot() {
  static std::unique_ptr<localpg::Cluster> cluster;
  return cluster;
}

// Stops the cluster when the test binary exits, even after failures.
class ClusterEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { cluster_slot().reset(); }
};
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new ClusterEnvironment);
}  // namespace

localpg::Cluster& shared_cluster() {
  auto& slot = cluster_slot();
  if (!slot) {
    auto started = localpg::Cluster::start({});
    if (!started) {
      ADD_FAILURE() << "cannot start PostgreSQL: " << started.error().message();
      std::abort();
    }
    slot = std::move(*started);
  }
  return *slot;
}

pgclient::Connection must_connect(const std::string& dsn) {
  auto conn = pgclient::Connection::open(dsn);
  if (!conn) {
    ADD_FAILURE() << conn.error().message();
    std::abort();
  }
  return std::move(*conn);
}

pgclient::QueryResult must_exec(pgclient::Connection& conn, const std::string& sql) {
  auto result = conn.exec(sql);
  EXPECT_TRUE(result.ok()) << sql << "\n -> " << (result ? "" : result.error().message());
  if (!result) return {};
  return std::move(*result);
}

std::string fresh_database(const std::string& prefix) {
  static std::atomic<int> counter{0};
  const std::string name =
      prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
  auto admin = must_connect(shared_cluster().admin_dsn());
  must_exec(admin, "CREATE DATABASE " + pgclient::quote_ident(name));
  return name;
}

}  // namespace writegate::testing
