// Runs the registered Google Benchmarks, then prints each named benchmark's rate and how many
// times the baseline's time one operation takes — the baseline is measured in the same run, so
// the ratio holds on a loaded or different machine where the absolute figures do not.
//
//   int main(int argc, char** argv) {
//     return writegate::bench::run_with_ratios(argc, argv, "BM_Baseline", {"BM_Verify"});
//   }
#pragma once

#include <benchmark/benchmark.h>

#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace writegate::bench {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      auto it = r.counters.find("items_per_second");
      if (it != r.counters.end()) rates[r.benchmark_name()] = it->second;
    }
  }
  std::map<std::string, double> rates;
};

inline int run_with_ratios(int argc, char** argv, const std::string& baseline,
                           const std::vector<std::string>& names) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  auto rate = [&](const std::string& name) {
    auto it = reporter.rates.find(name);
    return it == reporter.rates.end() ? 0.0 : it->second;
  };
  const double base = rate(baseline);
  std::cout << "\nper second on one thread (ratio = time of one op / time of the baseline):\n";
  for (const auto& name : names) {
    const double r = rate(name);
    if (r == 0 || base == 0) continue;
    std::cout << "  " << name << ": " << static_cast<long>(r) << "/s, " << base / r
              << "x the baseline (" << static_cast<long>(base) << "/s)\n";
  }
  return 0;
}

}  // namespace writegate::bench
