// Test support: the front half of the architecture on loopback, for real — a PostgreSQL with
// the writer provisioned (and, for the proxy's standard backend login, a password only the
// proxy's secret knows), the local IAM store seeded from the spec, a certificate for the proxy's
// endpoint name, and writegate-proxy serving in a thread of the test.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "awslocal/endpoint.h"
#include "iam/store.h"
#include "localpg/cluster.h"
#include "proxy/server.h"
#include "sigv4/sigv4.h"
#include "spec/spec.h"

namespace writegate::testing {

class ProxyStack {
 public:
  // Starts everything; fails the current test (and returns nullptr) when it cannot.
  static std::unique_ptr<ProxyStack> start();
  // Raises this process's open-file limit to 8192 (or the hard limit): tests that hold
  // hundreds of sockets (both ends of each live in the test process).
  static void raise_open_file_limit();
  ~ProxyStack();

  const spec::Spec& spec() const { return spec_; }
  localpg::Cluster& pg() { return *pg_; }
  iam::IamStore& store() { return *store_; }
  const std::string& state_dir() const { return state_dir_; }
  const std::string& dir() const { return dir_; }
  int port() const { return server_->port(); }
  const std::string& proxy_ca_file() const { return proxy_ca_file_; }
  const std::string& resource_id() const { return resource_id_; }
  const std::string& log_file() const { return log_file_; }
  const proxy::Metrics& metrics() const { return server_->metrics(); }
  std::string endpoint_url() const { return endpoint_->url(); }

  // Fresh STS credentials of a role (the Lambda role by default).
  sigv4::Credentials role_credentials(
      const std::string& role = "", std::chrono::seconds duration = std::chrono::hours(1),
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
  // An RDS token for the proxy endpoint ("localhost", its port) unless told otherwise.
  std::string token(const sigv4::Credentials& credentials, const std::string& user = "",
                    std::chrono::system_clock::time_point now = std::chrono::system_clock::now(),
                    const std::string& host = "localhost", int port = 0,
                    const std::string& region = "");
  // A libpq conninfo for the proxy with this password, verify-full against the proxy's CA.
  std::string dsn(const std::string& password, const std::string& user = "",
                  const std::string& sslmode = "verify-full") const;
  // Stops the proxy (closing every client connection, as a restart does) and starts a new one
  // on the same port with the same configuration. Fails the current test when it cannot.
  bool restart_proxy();
  // How many "connect" lines the proxy log has now.
  std::size_t connect_log_count() const;
  // The connect line number `index` (0-based), waiting up to 5 s for the proxy to write it.
  std::string wait_connect_log(std::size_t index) const;

  // A second writegate-proxy over the same database, IAM store and secrets, its config changed
  // by `adjust` (caps, timeouts, backend, databases), with a log file of its own. It serves in a
  // thread until the object goes.
  class ExtraProxy {
   public:
    ~ExtraProxy();
    int port() const { return server_->port(); }
    proxy::ProxyServer& server() { return *server_; }
    const std::string& log_file() const { return log_file_; }
    // The log line `index` (0-based) whose event is `event`, waiting up to `wait` for it.
    std::string wait_log(std::size_t index, const std::string& event = "connect",
                         std::chrono::milliseconds wait = std::chrono::seconds(5)) const;
    std::size_t log_count(const std::string& event = "connect") const;
    void stop_and_join();

   private:
    friend class ProxyStack;
    std::unique_ptr<proxy::ProxyServer> server_;
    std::thread thread_;
    std::string log_file_;
  };
  std::unique_ptr<ExtraProxy> start_proxy(const std::function<void(proxy::ProxyConfig&)>& adjust);
  // The main proxy's config (a copy, to adjust for start_proxy).
  const proxy::ProxyConfig& config() const { return config_; }
  // A libpq conninfo for any proxy of the stack, verify-full against the proxy CA.
  std::string dsn_for_port(int port, const std::string& password, const std::string& user = "",
                           const std::string& database = "mydb") const;

 private:
  ProxyStack() = default;
  spec::Spec spec_;
  std::unique_ptr<localpg::Cluster> pg_;
  std::unique_ptr<iam::IamStore> store_;
  std::unique_ptr<awslocal::Endpoint> endpoint_;
  std::unique_ptr<proxy::ProxyServer> server_;
  proxy::ProxyConfig config_;
  std::thread thread_;
  int extra_proxies_ = 0;
  std::string dir_;
  std::string state_dir_;
  std::string proxy_ca_file_;
  std::string resource_id_;
  std::string log_file_;
  int session_counter_ = 0;
};

}  // namespace writegate::testing
