// The local stack's record of itself: STATE/stack.json, written by `writegate up` step by step
// (so `down` can undo a half-finished `up`) and read by every other stack command (`status`,
// `psql`, `exec`, `verify`, `down`).
//
//   auto state = writegate::stack::StackState::load(state_dir);      // not_found: no stack here
//   if (state && state->component("proxy").running()) std::cout << state->proxy_endpoint;
//
// The file holds names, addresses, ports and pids; never a key, password or token.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace writegate::stack {

inline constexpr const char* kStateFileName = "stack.json";

// One process of the stack.
struct ComponentState {
  std::string name;     // "aurora", "proxy", "endpoint"
  pid_t pid = 0;        // 0: not started
  std::string netns;    // the network namespace it runs in; empty: the host's
  std::string address;  // where it listens (inside netns when set)
  int port = 0;
  std::string log_file;
  int admin_port = 0;  // the proxy's admin listener (/metrics, /status), in its netns; 0: none
  // The program's path as /proc/PID/exe shows it, so a reused pid is not taken for ours.
  std::string exe;

  // The process exists and is the program we started.
  bool running() const;
};

struct StackState {
  std::string state_dir;  // absolute
  // "starting" while `up` runs, "up" when it finished, "down" after `down`, "failed" when `up`
  // stopped half-way and could not clean up (then `down` removes what is left).
  std::string status = "starting";
  std::string mode;       // "netns" or "loopback"
  std::string stack_id;   // short id in every namespace and link name: "wg" + 4 hex
  std::string spec_file;  // the effective spec `up` used, kept in the state folder
  std::string region;
  std::string account_id;
  std::string dns_code;             // the 12 lowercase letters/digits of the endpoint names
  std::string proxy_endpoint;       // <proxy>.proxy-<code>.<region>.rds.amazonaws.com
  std::string cluster_endpoint;     // <cluster>.cluster-<code>.<region>.rds.amazonaws.com
  std::string proxy_resource_id;    // prx-<17 hex>
  std::string cluster_resource_id;  // cluster-<26 upper-case letters and digits>
  std::string ca_file;              // the local CA, playing the RDS CA bundle
  // Aurora's folder (data, certificate, log): STATE/aurora, or /var/lib/writegate/<stack id>
  // when the postgres account cannot reach the state folder (a state folder under /root).
  std::string aurora_dir;
  // What the database's PAM module (run by postgres) reads, when postgres cannot reach the
  // state folder: /var/lib/writegate/<stack id>-share, root's, holding the IAM store (STATE/iam
  // is a link to its iam/) and a copy of pam_writegate.so. Empty: the state folder itself.
  std::string share_dir;
  std::string endpoint_url;  // the local AWS endpoint for the host (aws --endpoint-url)
  // RDS Proxy's DebugLogging as `aws rds modify-db-proxy` last set it (the proxy reads
  // STATE/proxy/settings.json on SIGHUP), and when (ISO 8601; empty: never changed).
  bool proxy_debug_logging = false;
  std::string proxy_updated;
  std::map<std::string, ComponentState> components;
  // What `up` made, in order, so `down` undoes exactly that (e.g. "network").
  std::vector<std::string> made;

  static std::string file_path(const std::string& state_dir);
  // not_found when the folder has no stack.json.
  static Result<StackState> load(const std::string& state_dir);
  Status save() const;  // atomic replace, mode 0600

  ComponentState& component(const std::string& name);
  const ComponentState* find(const std::string& name) const;
  bool has_made(const std::string& what) const;
};

// Where the stack's state folder is when the user gave neither --state nor WRITEGATE_STATE:
// ./.writegate/state if it exists, else the folder of the last `writegate up` on this machine
// (remembered in $XDG_RUNTIME_DIR/writegate/current, else ~/.writegate/current), else
// ./.writegate/state.
std::string default_state_dir();
// Remembers `state_dir` as the last stack brought up (absolute path), or forgets it.
Status remember_current(const std::string& state_dir);
void forget_current(const std::string& state_dir);

}  // namespace writegate::stack
