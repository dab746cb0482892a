// The `writegate` CLI is assembled from command files: each cmd_*.cc in this folder registers
// its subcommands at start-up, so adding a command never edits main.cc.
//
//   static const bool kRegistered = writegate::cli::register_command(
//       [](CLI::App& root, writegate::cli::Globals& globals) {
//         auto* cmd = root.add_subcommand("hello", "Say hello");
//         cmd->callback([&globals] { writegate::cli::finish(say_hello(globals)); });
//       });
//
// A command reports its outcome with finish(exit_code) (0 = success); errors go to stderr
// through fail(), which never prints secrets given to it by the caller.
//
// Global options (`--spec`, `--state`, `-v`) live on the root app only, and every subcommand
// falls through to it, so they work before or after any (sub-)subcommand, as with the aws CLI
// and kubectl: `writegate --spec F provision` and `writegate provision --spec F` are the same.
// Commands never define their own `--spec`/`--state`; they read them from Globals.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "common/result.h"
#include "spec/spec.h"
#ifdef WRITEGATE_HAVE_OBSERVE
#include "observe/logs.h"
#endif

namespace writegate::cli {

// The default state folder of the local stack (iam::kDefaultStateDir, checked in cmd_iam.cc).
inline constexpr const char* kDefaultStateDir = ".writegate/state";

struct Globals {
  std::string spec_path;  // --spec; empty means ./writegate.yaml if present, else defaults
  // --state, else WRITEGATE_STATE, else kDefaultStateDir (main resolves the order).
  std::string state_dir = kDefaultStateDir;
  // The state folder was named (--state, WRITEGATE_STATE) or is this folder's own
  // ./.writegate/state, not only remembered as the last `up` made somewhere else. Commands that
  // judge an arbitrary database (audit) use a stack's IAM store only then.
  bool state_dir_chosen = false;
  bool verbose = false;
};

using CommandInstaller = std::function<void(CLI::App& root, Globals& globals)>;

bool register_command(CommandInstaller installer);

// The spec a command works with: --spec FILE; else ./writegate.yaml; else the copy of the
// running stack in the state folder (STATE/spec.yaml, kept by `writegate up`); else the
// built-in defaults.
Result<spec::Spec> effective_spec(const Globals& globals);

// The folder of this executable (/proc/self/exe's): writegate-proxy and bootstrap are built next
// to it.
std::string own_bin_dir();

// Adds `rotate-writer` to the `secrets` command (cmd_aws.cc owns `secrets`; cmd_rotate.cc).
void install_rotate_writer(CLI::App& secrets, Globals& globals);

#ifdef WRITEGATE_HAVE_OBSERVE
// The stack's log files and group names in a state folder (cmd_logs.cc): the spec's names,
// STATE/logs/{function,proxy}.log and StackState::aurora_dir/log (PostgreSQL's own rotation).
observe::StackLogLayout stack_log_layout(const std::string& state_dir, const spec::Spec& spec);
#endif

// Ends the command with this exit code (thrown as CLI::RuntimeError, caught in main).
[[noreturn]] void finish(int exit_code);

// Prints "writegate: <error message>" to stderr and ends with exit_code.
[[noreturn]] void fail(const Error& error, int exit_code = 2);

}  // namespace writegate::cli
