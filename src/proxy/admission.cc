#include "proxy/admission.h"

#include <utility>

namespace writegate::proxy {

bool AdmissionPlaces::authenticate() {
  int expected = kUnauthenticated;
  if (state_.compare_exchange_strong(expected, kAuthenticated)) {
    owner_->mark_authenticated(source_);
    return true;
  }
  return expected == kAuthenticated;
}

bool AdmissionPlaces::release_if_unauthenticated() {
  int expected = kUnauthenticated;
  if (!state_.compare_exchange_strong(expected, kReleased)) return false;
  owner_->release(source_, false);
  return true;
}

void AdmissionPlaces::release() {
  const int was = state_.exchange(kReleased);
  if (was != kReleased) owner_->release(source_, was == kAuthenticated);
}

AdmissionTicket& AdmissionTicket::operator=(AdmissionTicket&& other) noexcept {
  if (this != &other) {
    release();
    places_ = std::move(other.places_);
  }
  return *this;
}

AdmissionTicket::~AdmissionTicket() {
  release();
}

bool AdmissionTicket::authenticated() {
  return places_ && places_->authenticate();
}

void AdmissionTicket::release() {
  if (places_) places_->release();
}

Result<AdmissionTicket> AdmissionControl::admit(const std::string& source) {
  std::lock_guard lock(mutex_);
  if (clients_ >= limits_.max_clients) {
    return Error::unavailable("too many client connections to the proxy (" +
                              std::to_string(limits_.max_clients) + ")")
        .with_subcode("too_many_clients");
  }
  if (unauthenticated_ >= limits_.max_unauthenticated) {
    return Error::unavailable("too many connections are logging in at once (" +
                              std::to_string(limits_.max_unauthenticated) + ")")
        .with_subcode("too_many_unauthenticated");
  }
  std::size_t& from_source = unauthenticated_by_source_[source];
  if (from_source >= limits_.max_unauthenticated_per_source) {
    return Error::unavailable("too many connections from " + source + " are logging in at once (" +
                              std::to_string(limits_.max_unauthenticated_per_source) + ")")
        .with_subcode("too_many_from_source");
  }
  ++from_source;
  ++unauthenticated_;
  ++clients_;
  return AdmissionTicket(std::shared_ptr<AdmissionPlaces>(new AdmissionPlaces(this, source)));
}

void AdmissionControl::mark_authenticated(const std::string& source) {
  std::lock_guard lock(mutex_);
  --unauthenticated_;
  const auto it = unauthenticated_by_source_.find(source);
  if (it != unauthenticated_by_source_.end() && --it->second == 0) {
    unauthenticated_by_source_.erase(it);
  }
}

void AdmissionControl::release(const std::string& source, bool authenticated) {
  if (!authenticated) mark_authenticated(source);
  std::lock_guard lock(mutex_);
  --clients_;
}

AdmissionControl::Counts AdmissionControl::counts() const {
  std::lock_guard lock(mutex_);
  return {clients_, unauthenticated_};
}

}  // namespace writegate::proxy
