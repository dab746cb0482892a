// The proxy's connection caps, shared by every event loop: all clients, clients that have not
// logged in yet, and not-yet-logged-in clients per source address. A flood of idle sockets
// fills only the last two, so clients that really log in keep getting through.
//
//   AdmissionControl admission({.max_clients = 1000, .max_unauthenticated = 200,
//                               .max_unauthenticated_per_source = 50});
//   auto ticket = admission.admit("203.0.113.7");
//   if (!ticket) { refuse(ticket.error().message()); return; }   // subcode: the reason code
//   ... log in ...
//   ticket->authenticated();   // leaves the unauthenticated caps, keeps its place in the total
//   // the ticket's destructor gives every place back
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"

namespace writegate::proxy {

struct AdmissionLimits {
  std::size_t max_clients = 1000;
  std::size_t max_unauthenticated = 256;
  std::size_t max_unauthenticated_per_source = 256;
};

class AdmissionControl;

// The places of one admitted client, shared by its ticket and whoever may evict it (another
// worker's thread): every change is one atomic step, so an eviction and a login that finish
// at the same moment cannot both win.
class AdmissionPlaces {
 public:
  // Not logged in yet -> logged in; false when the places were evicted first.
  bool authenticate();
  // Not logged in yet -> released (an eviction); false when it logged in (or left) first.
  bool release_if_unauthenticated();
  // Whatever it holds -> released; idempotent.
  void release();

 private:
  friend class AdmissionControl;
  AdmissionPlaces(AdmissionControl* owner, std::string source)
      : owner_(owner), source_(std::move(source)) {}
  enum : int { kUnauthenticated, kAuthenticated, kReleased };
  AdmissionControl* owner_;
  std::string source_;
  std::atomic<int> state_{kUnauthenticated};
};

// One admitted client's places; movable, gives them back when destroyed.
class AdmissionTicket {
 public:
  AdmissionTicket(AdmissionTicket&& other) noexcept = default;
  AdmissionTicket& operator=(AdmissionTicket&& other) noexcept;
  AdmissionTicket(const AdmissionTicket&) = delete;
  AdmissionTicket& operator=(const AdmissionTicket&) = delete;
  ~AdmissionTicket();

  // Idempotent; false when the client was evicted before it could log in.
  bool authenticated();
  void release();  // gives the places back now (an evicted client); idempotent
  // For an evictor elsewhere (see AdmissionPlaces).
  std::shared_ptr<AdmissionPlaces> places() const { return places_; }

 private:
  friend class AdmissionControl;
  explicit AdmissionTicket(std::shared_ptr<AdmissionPlaces> places) : places_(std::move(places)) {}
  std::shared_ptr<AdmissionPlaces> places_;
};

class AdmissionControl {
 public:
  explicit AdmissionControl(AdmissionLimits limits) : limits_(limits) {}

  // A ticket, or an error whose subcode is the reason code for the log
  // (too_many_clients, too_many_unauthenticated, too_many_from_source).
  Result<AdmissionTicket> admit(const std::string& source);

  struct Counts {
    std::size_t clients = 0;
    std::size_t unauthenticated = 0;
  };
  Counts counts() const;
  const AdmissionLimits& limits() const { return limits_; }

 private:
  friend class AdmissionPlaces;
  void mark_authenticated(const std::string& source);
  void release(const std::string& source, bool authenticated);

  const AdmissionLimits limits_;
  mutable std::mutex mutex_;
  std::size_t clients_ = 0;
  std::size_t unauthenticated_ = 0;
  std::map<std::string, std::size_t> unauthenticated_by_source_;
};

}  // namespace writegate::proxy
