// A parser of the Prometheus text exposition format (0.0.4), for the scrapes the metrics sampler
// takes of writegate-proxy's admin listener. The bytes come over a socket: every input is
// accepted or refused without crashing, and the caps below bound the work.
//
//   auto samples = parse_prometheus_text("# TYPE up gauge\nup{job=\"proxy\"} 1\n");
//   // samples->at(0): name "up", labels {{"job","proxy"}}, value 1
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace writegate::observe {

struct PrometheusSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // in the order written
  double value = 0;

  // The value of a label, or "" when it is absent.
  std::string_view label(std::string_view label_name) const;
};

struct PrometheusTextLimits {
  std::size_t max_bytes = 1024 * 1024;
  std::size_t max_samples = 10000;
  std::size_t max_labels = 32;
};

// Comment (#) and empty lines are skipped; timestamps after the value are accepted and ignored.
// Errors (kInvalidArgument) name the line: a bad metric or label name, an unterminated label
// value, a value that is not a number, input over a cap.
Result<std::vector<PrometheusSample>> parse_prometheus_text(
    std::string_view text, const PrometheusTextLimits& limits = {});

}  // namespace writegate::observe
