// writegate-proxy: RDS Proxy's front half. TLS is required, the password must be a valid RDS
// IAM token allowed to rds-db:connect as the startup user, and each client gets a backend
// connection logged in as that same user (never the master user) over verified TLS.
//
//   auto server = proxy::ProxyServer::create(config, std::move(secret_source));
//   if (!server) return 2;
//   std::cout << "listening on " << (*server)->port();
//   (*server)->run();            // until stop() (thread-safe, e.g. from a signal handler thread)
//
// One event loop per worker (per core by default) runs its sessions and its share of the pool;
// token verification runs on a small thread pool and secret look-ups on a thread of their own,
// so a slow check never stalls other clients. Every connection attempt writes one
// JSON log line: time, client, user, database, outcome, reason (never a token or password).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "proxy/config.h"
#include "proxy/metrics.h"
#include "proxy/secrets.h"

namespace writegate::proxy {

class ProxyServer {
 public:
  static Result<std::unique_ptr<ProxyServer>> create(ProxyConfig config,
                                                     std::unique_ptr<SecretSource> secrets);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  int port() const;        // the bound port (the real one when the config asked for 0)
  int admin_port() const;  // the admin listener's bound port; 0 when there is none
  const ProxyConfig& config() const;
  const Metrics& metrics() const;
  int workers() const;  // event loops (config `workers`; default: one per core, at most 8)

  void run();   // serves until stop(), or until a shutdown() has drained
  void stop();  // thread-safe: closes everything at once
  // Thread-safe, for SIGTERM: new clients are refused; a client between transactions is told
  // FATAL 57P01 (as PostgreSQL's fast shutdown says it) and closed with TLS close_notify; one
  // inside a transaction finishes it first. After `grace`, whatever is left is closed.
  void shutdown(std::chrono::milliseconds grace);
  // Reopens the log file by name (SIGHUP, after log rotation); thread-safe.
  Status reopen_log();
  // Re-reads config().settings_file (SIGHUP; create() reads it once): debug logging on or off,
  // logged as {"event":"debug_logging","enabled":...} when it changes. A bad file changes
  // nothing. Thread-safe.
  Status reload_settings();
  bool debug_logging() const;

  struct Shared;  // what the workers share: config, TLS contexts, verifier, caps, log, metrics
  struct State;   // one worker: event loop, listener, sessions, pool (server.cc)

 private:
  ProxyServer(std::shared_ptr<Shared> shared, std::vector<std::shared_ptr<State>> workers);
  std::shared_ptr<Shared> shared_;
  std::vector<std::shared_ptr<State>> workers_;
};

}  // namespace writegate::proxy
