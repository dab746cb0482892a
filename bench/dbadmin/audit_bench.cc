// How long `writegate audit` takes on a database with many tables (default 10,000; set
// WRITEGATE_BENCH_TABLES), against a baseline measured in the same run: the architecture
// document's own verification query (section 3, "Check schema permissions"), which checks far
// less. The ratio printed at the end is audit time / baseline time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "dbadmin/audit.h"
#include "dbadmin/provision.h"
#include "localpg/cluster.h"
#include "pgclient/pgclient.h"

namespace {
using namespace writegate;

std::unique_ptr<localpg::Cluster> g_cluster;
std::unique_ptr<pgclient::Connection> g_admin;
spec::Spec g_spec;
double g_audit_seconds = 0;
double g_baseline_seconds = 0;

void die(const Error& e) {
  std::cerr << "audit_bench: " << e.message() << "\n";
  std::exit(2);
}

void setup(int tables) {
  auto cluster = localpg::Cluster::start({});
  if (!cluster) die(cluster.error());
  g_cluster = std::move(*cluster);
  {
    auto conn = pgclient::Connection::open(g_cluster->admin_dsn());
    if (!conn) die(conn.error());
    if (auto r = conn->exec("CREATE DATABASE mydb"); !r) die(r.error());
  }
  auto admin = pgclient::Connection::open(g_cluster->admin_dsn("mydb"));
  if (!admin) die(admin.error());
  g_admin = std::make_unique<pgclient::Connection>(std::move(*admin));
  const int per_schema = tables / 2;
  std::cerr << "creating " << per_schema * 2 << " tables in foo and bar...\n";
  for (const char* schema : {"foo", "bar"}) {
    if (auto r = g_admin->exec(std::string("CREATE SCHEMA ") + schema); !r) die(r.error());
    // Batches of 500 keep each transaction within the lock table.
    for (int first = 1; first <= per_schema; first += 500) {
      const int last = std::min(per_schema, first + 499);
      const std::string sql = "DO $$ BEGIN FOR i IN " + std::to_string(first) + ".." +
                              std::to_string(last) + " LOOP EXECUTE format('CREATE TABLE " +
                              schema +
                              ".t%s (id bigserial PRIMARY KEY, column1 text, column2 text)', i);"
                              " END LOOP; END $$";
      if (auto r = g_admin->exec(sql); !r) die(r.error());
    }
  }
  g_spec.database.write_mode = spec::WriteMode::kKeyed;
  auto plan = dbadmin::plan_provision(*g_admin, g_spec, {.harden_public = true});
  if (!plan) die(plan.error());
  if (auto applied = dbadmin::apply_provision(*g_admin, *plan); !applied) die(applied.error());
  std::cerr << "provisioned (" << plan->statements.size() << " statements)\n";
}

void BM_Audit(benchmark::State& state) {
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    auto report = dbadmin::audit(*g_admin, g_spec);
    if (!report) die(report.error());
    if (!report->findings.empty()) die(Error::internal(dbadmin::format_text(*report)));
    g_audit_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.counters["relations"] = static_cast<double>(report->relations_checked);
  }
}

void BM_DocumentVerifyQuery(benchmark::State& state) {
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    auto rows = g_admin->exec(
        "SELECT schemaname, tablename,"
        " has_table_privilege('lambda_writer', schemaname || '.' || tablename, 'SELECT') AS s,"
        " has_table_privilege('lambda_writer', schemaname || '.' || tablename, 'INSERT') AS i,"
        " has_table_privilege('lambda_writer', schemaname || '.' || tablename, 'UPDATE') AS u,"
        " has_table_privilege('lambda_writer', schemaname || '.' || tablename, 'DELETE') AS d"
        " FROM pg_tables WHERE schemaname IN ('foo', 'bar')");
    if (!rows) die(rows.error());
    g_baseline_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
}

BENCHMARK(BM_Audit)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DocumentVerifyQuery)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("WRITEGATE_BENCH_TABLES");
  const int tables = env ? std::atoi(env) : 10000;
  setup(tables);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::cout << "audit of " << tables << " tables: " << g_audit_seconds << " s (last run); "
            << "document's verify query: " << g_baseline_seconds << " s; ratio audit/baseline = "
            << (g_baseline_seconds > 0 ? g_audit_seconds / g_baseline_seconds : 0) << "\n";
  g_admin.reset();
  g_cluster.reset();
  return 0;
}
