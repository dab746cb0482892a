// Samples the stack's metrics on a timer into a MetricStore: one thread, one call of each source
// per tick. A source bounds its own waits (a scrape or a query has a deadline shorter than the
// interval); stop() ends the thread at once, between ticks or after the current source.
//
//   auto store = std::make_shared<MetricStore>();
//   MetricsSampler sampler(store, std::chrono::seconds(5),
//                          {[](EpochMs now, MetricStore& s) { s.record(id, now, read()); }});
//   sampler.start();   // ...  sampler.stop() (also on destruction)
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "observe/metric_store.h"

namespace writegate::observe {

using MetricSource = std::function<void(EpochMs now, MetricStore& store)>;

EpochMs epoch_ms_now();

class MetricsSampler {
 public:
  MetricsSampler(std::shared_ptr<MetricStore> store, std::chrono::milliseconds interval,
                 std::vector<MetricSource> sources);
  ~MetricsSampler();
  MetricsSampler(const MetricsSampler&) = delete;
  MetricsSampler& operator=(const MetricsSampler&) = delete;

  void start();
  void stop();
  // One tick now, on the calling thread (tests).
  void sample_once();
  std::uint64_t ticks() const;

 private:
  std::shared_ptr<MetricStore> store_;
  std::chrono::milliseconds interval_;
  std::vector<MetricSource> sources_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::uint64_t ticks_ = 0;
  std::thread thread_;
};

}  // namespace writegate::observe
