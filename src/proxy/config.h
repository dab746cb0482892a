// writegate-proxy's configuration: what the spec says (region, account, proxy name and port,
// database, user) plus the local facts of one deployment from a `--config` YAML file (where to
// listen, TLS files, the backend, the IAM state folder, where secrets come from).
//
//   auto config = proxy::load_config(spec, "proxy.yaml");
//   if (!config) { std::cerr << config.error().message(); return 2; }
//
// Config file keys (all optional but tls_cert/tls_key and backend):
//   listen: 127.0.0.1:5432          # address:port; port 0 picks a free one (printed at start)
//   endpoint_names: [aurora-write-proxy.proxy-abc.us-east-1.rds.amazonaws.com, localhost]
//   endpoint_port: 5432             # the port in tokens; default: the listen port
//   tls_cert: proxy.crt             # certificate for the endpoint names
//   tls_key: proxy.key
//   state_dir: .writegate/state     # the local IAM store (keys, roles, policies)
//   resource_id: prx-...            # default: spec proxy.resource_id, else the store's
//   backend: {host: 127.0.0.1, port: 5433, ca_file: ca.crt, server_name: localhost,
//             connect_timeout: 10,             # seconds for the whole backend login
//             source_address: 127.0.0.3,       # bind backend connections to this address
//             require_auth: [scram-sha-256],   # also md5, password, none (as libpq's)
//             auth: password}                  # or iam: a fresh token of proxy_role per
//                                              # connection; then require_auth is [password]
//   databases: [mydb]               # databases clients may name; default: the spec's only
//   secrets: {endpoint: https://127.0.0.1:4566, ca_file: ca.crt}   # Secrets Manager; http://
//                                   # only to a loopback address
//   secrets_file: passwords.json    # test/dev only: {"user": "password"}, mode 0600
//   log_file: proxy.log             # JSON lines; default stderr
//   log_max_bytes: 0                # rotate the log file when a line would take it past this
//                                   # size (0: never; at least 64 KiB): it becomes
//                                   # proxy.log.<20-digit stream offset> (common/log_files.h)
//   log_keep: 5                     # rotated files kept (the oldest go first)
//   settings_file: settings.json    # what may change without a restart, read at start and on
//                                   # SIGHUP: {"debug_logging": true|false} (RDS Proxy's
//                                   # DebugLogging); missing file: the defaults
//   auth_timeout: 30                # seconds a client has to log in
//   shutdown_grace: 30              # SIGTERM: seconds transactions in flight may take
//   max_client_connections: 1000
//   max_unauthenticated_connections: 256   # clients not logged in yet, all sources
//   max_unauthenticated_per_source: 256    # the same, from one source address
//   verify_threads: 2
//   workers: 0                      # event loops; 0: one per core (at most 8)
//   admin_listen: 127.0.0.1:9187     # /metrics (Prometheus) and /status (JSON); default: off
//   pool:                            # the spec's proxy.pool, and for local use:
//     max_database_connections: 20   # an absolute cap (default: max_connections_percent of
//                                    # the database's max_connections)
//     max_prepared_statements: 100   # per database connection
//     connection_borrow_timeout_ms: 120000   # overrides the spec's (seconds), for tests
//     idle_timeout_ms: 60000         # a backend over max_idle_connections_percent is closed
//                                    # once idle this long
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "spec/spec.h"

namespace writegate::proxy {

// How the proxy logs in to the database: with the user's secret (password: SCRAM, standard
// mode) or with an IAM token of its own role sent as a cleartext password inside the verified
// TLS link (iam: end-to-end IAM, RDS Proxy's DefaultAuthScheme IAM_AUTH).
enum class BackendAuth { kPassword, kIam };

struct BackendConfig {
  std::string host = "127.0.0.1";
  int port = 5432;
  std::string ca_file;      // verify-full against this CA
  std::string server_name;  // the name on the server's certificate; default: host
  int connect_timeout_seconds = 10;
  std::set<std::string> require_auth = {"scram-sha-256"};  // libpq's require_auth names
  // The local address backend connections come from (the local stack's loopback mode lets the
  // writer log in only from it, in pg_hba); empty: the kernel's choice.
  std::string source_address;
  BackendAuth auth = BackendAuth::kPassword;
};

struct ProxyConfig {
  std::string listen_host = "127.0.0.1";
  int listen_port = 5432;
  std::vector<std::string> endpoint_names;
  int endpoint_port = 0;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string state_dir = ".writegate/state";
  std::string region;
  std::string account_id;
  std::string resource_id;  // prx-<17 hex>; empty until resolved from the store
  BackendConfig backend;
  std::string secrets_endpoint;
  std::string secrets_ca_file;
  std::string secrets_file;
  std::string log_file;            // empty: stderr
  std::int64_t log_max_bytes = 0;  // 0: no rotation
  int log_keep = 5;
  std::string settings_file;  // empty: none (debug logging off)
  std::string admin_host;     // the admin listener (/metrics, /status); empty: none
  int admin_port = 0;
  int auth_timeout_seconds = 30;
  int shutdown_grace_seconds = 30;  // SIGTERM: how long transactions in flight may take
  int max_client_connections = 1000;
  int max_unauthenticated_connections = 256;
  int max_unauthenticated_per_source = 256;
  std::vector<std::string> databases;  // the databases clients may name; default: the spec's
  int verify_threads = 2;
  int workers = 0;  // event loops; 0: one per core (at most 8)
  // From the spec.
  std::string proxy_name;
  std::string proxy_role;
  std::string database;
  std::string user_secret_name;  // the writer's secret (standard mode)
  std::string writer_user;
  int idle_client_timeout_seconds = 1800;
  // RDS Proxy's pool: the spec's proxy.pool; max_database_connections and
  // max_prepared_statements from the config file.
  int max_connections_percent = 100;
  int max_idle_connections_percent = 50;
  int connection_borrow_timeout_ms = 120'000;
  int pool_idle_timeout_ms = 60'000;
  std::string init_query;
  bool exclude_variable_sets = false;  // session_pinning_filters: [EXCLUDE_VARIABLE_SETS]
  int max_database_connections = 0;
  int max_prepared_statements = 100;
};

Result<ProxyConfig> load_config(const spec::Spec& spec, const std::string& config_file);

}  // namespace writegate::proxy
