#include "observe/metrics_sampler.h"

#include <exception>
#include <iostream>

namespace writegate::observe {

EpochMs epoch_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

MetricsSampler::MetricsSampler(std::shared_ptr<MetricStore> store,
                               std::chrono::milliseconds interval,
                               std::vector<MetricSource> sources)
    : store_(std::move(store)),
      interval_(std::max(interval, std::chrono::milliseconds(100))),
      sources_(std::move(sources)) {}

MetricsSampler::~MetricsSampler() {
  stop();
}

void MetricsSampler::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock held(mutex_);
    while (!stopping_) {
      held.unlock();
      sample_once();
      held.lock();
      cv_.wait_for(held, interval_, [this] { return stopping_; });
    }
  });
}

void MetricsSampler::stop() {
  std::thread thread;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    thread.swap(thread_);
  }
  cv_.notify_all();
  if (thread.joinable()) thread.join();
}

void MetricsSampler::sample_once() {
  const EpochMs now = epoch_ms_now();
  for (const auto& source : sources_) {
    try {
      source(now, *store_);
    } catch (const std::exception& e) {
      // A source reports its own failures; this keeps a bug in one from ending the sampler.
      std::cerr << "writegate metrics: a source failed: " << e.what() << "\n";
    }
  }
  std::lock_guard lock(mutex_);
  ++ticks_;
}

std::uint64_t MetricsSampler::ticks() const {
  std::lock_guard lock(mutex_);
  return ticks_;
}

}  // namespace writegate::observe
