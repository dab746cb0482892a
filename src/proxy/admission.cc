#include "proxy/admission.h"

#include <utility>

namespace writegate::proxy {

AdmissionTicket::AdmissionTicket(AdmissionTicket&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      source_(std::move(other.source_)),
      authenticated_(other.authenticated_) {}

AdmissionTicket& AdmissionTicket::operator=(AdmissionTicket&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    source_ = std::move(other.source_);
    authenticated_ = other.authenticated_;
  }
  return *this;
}

AdmissionTicket::~AdmissionTicket() {
  release();
}

void AdmissionTicket::authenticated() {
  if (!owner_ || authenticated_) return;
  owner_->mark_authenticated(source_);
  authenticated_ = true;
}

void AdmissionTicket::release() {
  if (owner_) owner_->release(source_, authenticated_);
  owner_ = nullptr;
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
  return AdmissionTicket(this, source);
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
