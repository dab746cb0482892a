#include "observe/metric_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/prometheus.h"

namespace writegate::observe {

MetricId MetricId::normalized() const {
  MetricId out = *this;
  std::sort(out.dimensions.begin(), out.dimensions.end());
  return out;
}

MetricStore::MetricStore(MetricStoreLimits limits) : limits_(limits) {
  limits_.max_series = std::max<std::size_t>(1, limits_.max_series);
  limits_.max_samples_per_series = std::max<std::size_t>(1, limits_.max_samples_per_series);
}

void MetricStore::record(const MetricId& id, EpochMs time, double value, const std::string& unit) {
  if (!std::isfinite(value)) return;
  const MetricId key = id.normalized();
  std::lock_guard lock(mutex_);
  auto it = series_.find(key);
  if (it == series_.end()) {
    if (series_.size() >= limits_.max_series) {
      ++dropped_series_;
      return;
    }
    it = series_.emplace(key, Series{unit, {}}).first;
  }
  auto& samples = it->second.samples;
  if (samples.empty() || samples.back().time <= time) {
    samples.push_back({time, value});
  } else {
    auto at = std::upper_bound(samples.begin(), samples.end(), time,
                               [](EpochMs t, const MetricSample& s) { return t < s.time; });
    samples.insert(at, {time, value});
  }
  while (samples.size() > limits_.max_samples_per_series)
    samples.pop_front();
}

std::vector<Datapoint> MetricStore::statistics(const MetricId& id, EpochMs start, EpochMs end,
                                               EpochMs period) const {
  std::vector<Datapoint> out;
  if (period <= 0 || end <= start) return out;
  const MetricId key = id.normalized();
  std::lock_guard lock(mutex_);
  auto it = series_.find(key);
  if (it == series_.end()) return out;
  const auto& samples = it->second.samples;
  auto from = std::lower_bound(samples.begin(), samples.end(), start,
                               [](const MetricSample& s, EpochMs t) { return s.time < t; });
  for (auto s = from; s != samples.end() && s->time < end; ++s) {
    const EpochMs bucket = start + (s->time - start) / period * period;
    if (out.empty() || out.back().start != bucket) {
      out.push_back({bucket, 0, 0, s->value, s->value});
    }
    Datapoint& d = out.back();
    ++d.sample_count;
    d.sum += s->value;
    d.minimum = std::min(d.minimum, s->value);
    d.maximum = std::max(d.maximum, s->value);
  }
  return out;
}

std::vector<MetricSample> MetricStore::samples(const MetricId& id) const {
  std::lock_guard lock(mutex_);
  auto it = series_.find(id.normalized());
  if (it == series_.end()) return {};
  return {it->second.samples.begin(), it->second.samples.end()};
}

std::optional<std::string> MetricStore::unit(const MetricId& id) const {
  std::lock_guard lock(mutex_);
  auto it = series_.find(id.normalized());
  if (it == series_.end()) return std::nullopt;
  return it->second.unit;
}

std::vector<MetricId> MetricStore::series() const {
  std::lock_guard lock(mutex_);
  std::vector<MetricId> out;
  out.reserve(series_.size());
  for (const auto& [id, s] : series_)
    out.push_back(id);
  return out;
}

std::size_t MetricStore::dropped_series() const {
  std::lock_guard lock(mutex_);
  return dropped_series_;
}

namespace {

// [a-zA-Z0-9_] stay, anything else becomes '_'.
std::string prometheus_name(std::string_view text, bool lower) {
  std::string out;
  for (char c : text) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += keep ? (lower && c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) : '_';
  }
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) out.insert(out.begin(), '_');
  return out;
}

}  // namespace

std::string MetricStore::render_prometheus() const {
  std::lock_guard lock(mutex_);
  std::string out;
  std::string last_name;
  for (const auto& [id, s] : series_) {
    if (s.samples.empty()) continue;
    const std::string name = prometheus_name(id.ns, true) + "_" + prometheus_name(id.name, false);
    if (name != last_name) {
      out += fmt::format("# HELP {} CloudWatch {} {} ({}), the newest sample.\n# TYPE {} gauge\n",
                         name, id.ns, id.name, s.unit, name);
      last_name = name;
    }
    std::string labels;
    for (const auto& d : id.dimensions) {
      if (!labels.empty()) labels += ',';
      labels += prometheus_name(d.name, false) + "=\"" + prometheus_label_value(d.value) + "\"";
    }
    const MetricSample& newest = s.samples.back();
    out += fmt::format("{}{{{}}} {} {}\n", name, labels, newest.value, newest.time);
  }
  return out;
}

}  // namespace writegate::observe
