// The stack's metrics in one bounded in-memory store: named and dimensioned as CloudWatch names
// them (namespace AWS/RDS or AWS/Lambda, metric name, dimensions), each series a time-ordered
// list of samples, with CloudWatch's statistics over periods and a Prometheus text form.
//
//   MetricStore store({.max_series = 500, .max_samples_per_series = 4320});
//   MetricId id{"AWS/RDS", "DatabaseConnections", {{"ProxyName", "aurora-write-proxy"}}};
//   store.record(id, now_ms, 3);
//   auto points = store.statistics(id, start_ms, end_ms, 60'000);  // one per minute with data
//
// Both caps hold: a full series drops its oldest sample, a new series beyond max_series is not
// stored (dropped_series() counts them). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace writegate::observe {

using EpochMs = std::int64_t;  // milliseconds since the Unix epoch

struct Dimension {
  std::string name;
  std::string value;
  bool operator==(const Dimension&) const = default;
  auto operator<=>(const Dimension&) const = default;
};

struct MetricId {
  std::string ns;    // "AWS/RDS", "AWS/Lambda"
  std::string name;  // "DatabaseConnections"
  std::vector<Dimension> dimensions;

  // The same metric with its dimensions sorted by name (CloudWatch matches the whole set, in
  // any order).
  MetricId normalized() const;
  bool operator==(const MetricId&) const = default;
  auto operator<=>(const MetricId&) const = default;
};

struct MetricSample {
  EpochMs time = 0;
  double value = 0;
};

// One period's statistics (CloudWatch's SampleCount, Sum, Minimum, Maximum; Average = sum/count).
struct Datapoint {
  EpochMs start = 0;  // the period's start
  std::uint64_t sample_count = 0;
  double sum = 0;
  double minimum = 0;
  double maximum = 0;
  double average() const { return sample_count ? sum / static_cast<double>(sample_count) : 0; }
};

struct MetricStoreLimits {
  std::size_t max_series = 1000;
  std::size_t max_samples_per_series = 17280;  // a day at one sample per 5 s
};

class MetricStore {
 public:
  explicit MetricStore(MetricStoreLimits limits = {});

  // Adds a sample (a sample older than the series' newest is inserted in order). The unit is
  // remembered per series ("Count", "Milliseconds", "Microseconds", ...).
  void record(const MetricId& id, EpochMs time, double value, const std::string& unit = "None");

  // The datapoints of the periods in [start, end) that hold samples, oldest first. Periods are
  // aligned to `start` (as CloudWatch aligns them to the request's StartTime). period > 0.
  std::vector<Datapoint> statistics(const MetricId& id, EpochMs start, EpochMs end,
                                    EpochMs period) const;
  std::vector<MetricSample> samples(const MetricId& id) const;
  std::optional<std::string> unit(const MetricId& id) const;
  std::vector<MetricId> series() const;
  std::size_t dropped_series() const;
  const MetricStoreLimits& limits() const { return limits_; }

  // Prometheus text exposition (0.0.4) of each series' newest sample: the metric
  // `<namespace>_<name>` in lower-case namespace form (aws_rds_DatabaseConnections), the
  // dimensions as labels, the sample's time as the timestamp.
  std::string render_prometheus() const;

 private:
  struct Series {
    std::string unit;
    std::deque<MetricSample> samples;
  };
  MetricStoreLimits limits_;
  mutable std::mutex mutex_;
  std::map<MetricId, Series> series_;
  std::size_t dropped_series_ = 0;
};

}  // namespace writegate::observe
