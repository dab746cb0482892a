// The pinning classifier's cost per query on one thread, against a baseline measured in the same
// run: a case-insensitive substring search for "set" over the same text — what a naive pooler
// would do (and get wrong). A transaction pooler classifies every simple query it relays, so
// this must stay far below a round trip to PostgreSQL (tens of microseconds).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "proxy/pinning.h"
#include "support/ratio_report.h"

namespace {

using writegate::proxy::classify;

const std::vector<std::string>& queries() {
  static const std::vector<std::string> q = {
      // pgbench select-only and tpcb-like statements
      "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;",
      "UPDATE pgbench_accounts SET abalance = abalance + -2341 WHERE aid = 48213;",
      // an ORM-style query with quoting, comments and a cast
      "/* app:orders */ SELECT \"o\".\"id\", \"o\".\"total\"::numeric(12,2) FROM \"orders\" AS "
      "\"o\" WHERE \"o\".\"customer_id\" = 42 AND \"o\".\"note\" <> 'it''s -- not a comment' "
      "ORDER BY \"o\".\"created_at\" DESC LIMIT 50",
      // a session set-up string several statements long
      "SET application_name = 'api'; SET statement_timeout = 5000; SELECT set_config('app.user', "
      "'42', false)",
      // a 4 KiB insert
      [] {
        std::string s = "INSERT INTO t (a, b, c) VALUES ";
        for (int i = 0; s.size() < 4096; ++i) {
          s += (i ? ", (" : "(") + std::to_string(i) + ", 'value " + std::to_string(i) +
               "', E'x\\ty')";
        }
        return s;
      }(),
  };
  return q;
}

std::size_t total_bytes() {
  std::size_t n = 0;
  for (const auto& q : queries())
    n += q.size();
  return n;
}

void BM_Baseline_SubstringSet(benchmark::State& state) {
  const auto& q = queries();
  for (auto _ : state) {
    std::size_t hits = 0;
    for (const auto& s : q) {
      auto it = std::search(s.begin(), s.end(), "set", "set" + 3, [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == b;
      });
      hits += it != s.end();
    }
    benchmark::DoNotOptimize(hits);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(q.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(total_bytes()));
}
BENCHMARK(BM_Baseline_SubstringSet);

void BM_Classify(benchmark::State& state) {
  const auto& q = queries();
  for (auto _ : state) {
    std::size_t pins = 0;
    for (const auto& s : q)
      pins += classify(s).pins;
    benchmark::DoNotOptimize(pins);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(q.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(total_bytes()));
}
BENCHMARK(BM_Classify);

void BM_ClassifyPgbenchSelect(benchmark::State& state) {
  const std::string& s = queries()[0];
  for (auto _ : state)
    benchmark::DoNotOptimize(classify(s).pins);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClassifyPgbenchSelect);

}  // namespace

int main(int argc, char** argv) {
  return writegate::bench::run_with_ratios(argc, argv, "BM_Baseline_SubstringSet", {"BM_Classify"});
}
