// The whole architecture on one machine: `writegate up`, `down`, `status`, and what `psql`,
// `exec` and `verify` need to reach the running stack.
//
//   stack::UpOptions options{.state_dir = ".writegate/state", .spec = spec, .bin_dir =
//   "build/bin"}; auto state = stack::up(options);          // prints each step with its timing if
//   (!state) return 1;                     // the error names the step; nothing is left running
//   ...
//   (void)stack::down({.state_dir = state->state_dir});
//
// `up` makes, in the state folder: a local CA (playing the RDS CA bundle) and certificates for
// the proxy's and the cluster's RDS-shaped endpoint names; the IAM store with the document's
// roles and a local administrator; the secrets (KMS-encrypted); PostgreSQL as "Aurora" (TLS
// only), provisioned with the document's test table; the local AWS endpoint with the local
// Lambda; and writegate-proxy. As root it puts the lambda, the proxy and Aurora in three
// network namespaces whose nftables rules are the spec's security groups; otherwise everything
// listens on loopback and `up` says which guarantees that loses.
#pragma once

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "common/result.h"
#include "iam/store.h"
#include "spec/spec.h"
#include "stack/state.h"

namespace writegate::stack {

enum class NetworkMode {
  kAuto,      // netns when root, else loopback
  kNetns,     // network namespaces + nftables (needs root)
  kLoopback,  // everything on 127.0.0.1; pg_hba, not a firewall, keeps the database apart
};
Result<NetworkMode> parse_network_mode(std::string_view text);  // auto | netns | loopback

struct UpOptions {
  std::string state_dir;
  spec::Spec spec;
  NetworkMode network = NetworkMode::kAuto;
  std::string bin_dir;  // where writegate, writegate-proxy and bootstrap are
  std::ostream* out = &std::cout;
};

// Brings the stack up, or, when it is up already, changes nothing and returns its state.
// On failure everything this call started is stopped again and the error names the step.
Result<StackState> up(const UpOptions& options);

struct DownOptions {
  std::string state_dir;
  bool purge = false;  // also delete the state folder (data, keys, certificates)
  std::ostream* out = &std::cout;
};
// Stops every process, removes every namespace, link and rule the stack made; then checks that
// none is left (the error lists what is).
Status down(const DownOptions& options);

// What `status` prints.
std::string status_text(const StackState& state);
std::string status_json(const StackState& state);

// The effective spec of a running stack (the copy `up` kept).
Result<spec::Spec> stack_spec(const StackState& state);

// A fresh STS session of a role, as the AWS service its trust policy names would get it
// (lambda.amazonaws.com for the function's role, rds.amazonaws.com for the proxy's).
Result<iam::Session> service_session(const std::string& state_dir, const std::string& role,
                                     std::chrono::seconds duration = std::chrono::hours(1));

// The local administrator's long-term key (AdministratorAccess): the identity a person uses
// for the document's CLI steps.
inline constexpr const char* kAdminUser = "writegate-admin";
Result<iam::AccessKey> admin_key(const std::string& state_dir);

// A libpq connection string to the proxy as the writer with a fresh token signed with the
// function role's credentials, sslmode=verify-full against the stack's CA. The token is in
// `password`; `netns` is where a client must run to reach the proxy (empty in loopback mode).
struct WriterLogin {
  std::string conninfo;  // without the password
  SecretString password;
  std::string netns;
};
Result<WriterLogin> writer_login(const StackState& state, const spec::Spec& spec);

// The proxy's log file rotates at this size, keeping this many rotated files
// (STATE/logs/proxy.log.<stream offset>, common/log_files.h).
inline constexpr int kProxyLogMaxBytes = 16 * 1024 * 1024;
inline constexpr int kProxyLogKeep = 5;

// The daemons' own stdout/stderr (STATE/logs/proxy.out, endpoint.out: start-up lines, the
// endpoint's access log, errors, a crash's last words) rotate at this size, each process
// rotating its own (common/log_files.h rotate_output_if_full), keeping this many rotated files.
inline constexpr int64_t kDaemonOutputMaxBytes = 4 * 1024 * 1024;
inline constexpr int kDaemonOutputKeep = 2;

// PostgreSQL rotates its log itself (logging_collector) at this size, into
// StackState::aurora_dir/log (common/log_files.h, postgres_log_segments); `up` and the running
// endpoint keep the newest kPostgresLogKeep files. pg_ctl's own output (before the collector
// runs) goes to aurora_dir/postgresql.out.
inline constexpr int kPostgresLogRotationKb = 16 * 1024;
inline constexpr int kPostgresLogKeep = 6;
std::string postgres_log_dir(const std::string& aurora_dir);

// What the proxy may change without a restart (its settings_file): STATE/proxy/settings.json.
std::string proxy_settings_file(const std::string& state_dir);
std::string proxy_settings_json(bool debug_logging);  // {"debug_logging": true}

// Turns the running proxy's debug logging on or off without a restart: writes the settings
// file (0600), sends the proxy SIGHUP (only to the pid the state recorded, and only while it
// is still writegate-proxy) and records the setting in stack.json, so `status` shows it.
// kFailedPrecondition when the stack is not up or the proxy is not running.
Result<StackState> set_proxy_debug_logging(const std::string& state_dir, bool on);

// The command line that runs argv inside a component's namespace ("lambda", "proxy",
// "aurora"): `ip netns exec NS ...` in netns mode; argv unchanged in loopback mode.
Result<std::vector<std::string>> in_component(const StackState& state, const std::string& component,
                                              std::vector<std::string> argv);

}  // namespace writegate::stack
