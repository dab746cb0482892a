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

#include <cstddef>
#include <map>
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

// One admitted client's places; movable, gives them back when destroyed.
class AdmissionTicket {
 public:
  AdmissionTicket(AdmissionTicket&& other) noexcept;
  AdmissionTicket& operator=(AdmissionTicket&& other) noexcept;
  AdmissionTicket(const AdmissionTicket&) = delete;
  AdmissionTicket& operator=(const AdmissionTicket&) = delete;
  ~AdmissionTicket();

  void authenticated();  // idempotent
  void release();        // gives the places back now (an evicted client); idempotent

 private:
  friend class AdmissionControl;
  AdmissionTicket(AdmissionControl* owner, std::string source)
      : owner_(owner), source_(std::move(source)) {}
  AdmissionControl* owner_ = nullptr;
  std::string source_;
  bool authenticated_ = false;
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
  friend class AdmissionTicket;
  void mark_authenticated(const std::string& source);
  void release(const std::string& source, bool authenticated);

  const AdmissionLimits limits_;
  mutable std::mutex mutex_;
  std::size_t clients_ = 0;
  std::size_t unauthenticated_ = 0;
  std::map<std::string, std::size_t> unauthenticated_by_source_;
};

}  // namespace writegate::proxy
