// `writegate up | down | status | psql | exec`: the whole architecture on one machine (see
// src/stack/stack.h). Every command finds the running stack by itself: --state, else
// WRITEGATE_STATE, else ./.writegate/state, else the last stack `up` made on this machine.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>

#include "command.h"
#include "stack/stack.h"

namespace {

using writegate::Error;
using writegate::cli::fail;
using writegate::cli::finish;
using writegate::cli::Globals;
using writegate::cli::own_bin_dir;
namespace stack = writegate::stack;

stack::StackState load_running(const Globals& globals) {
  auto state = stack::StackState::load(globals.state_dir);
  if (!state) fail(state.error());
  if (state->status != "up") {
    fail(Error::failed_precondition("the stack in " + state->state_dir + " is " + state->status +
                                    "; `writegate up` starts it"));
  }
  return std::move(*state);
}

// Replaces this process with argv (so psql owns the terminal and its exit code is ours).
[[noreturn]] void exec_program(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env) {
  for (const auto& kv : env) {
    const auto eq = kv.find('=');
    ::setenv(kv.substr(0, eq).c_str(), kv.substr(eq + 1).c_str(), 1);
  }
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::cout.flush();
  ::execvp(args[0], args.data());
  fail(Error::not_found("cannot run " + argv[0] + ": " + std::strerror(errno)), 127);
}

struct UpArgs {
  std::string network = "auto";
};

void install(CLI::App& root, Globals& globals) {
  static UpArgs up_args;
  auto* up = root.add_subcommand(
      "up", "Stand up the whole architecture on this machine: Aurora, the proxy, the Lambda");
  up->add_option("--network", up_args.network,
                 "netns (network namespaces + nftables security groups; needs root), loopback, "
                 "or auto (the mode the stack had, else netns when root)")
      ->default_str("auto");
  up->callback([&globals] {
    // `up` makes its stack where the README says: --state, else WRITEGATE_STATE, else this
    // folder's ./.writegate/state. The last stack made elsewhere (which the other commands find
    // by themselves) is not this folder's.
    if (!globals.state_dir_chosen) globals.state_dir = writegate::cli::kDefaultStateDir;
    auto mode = stack::parse_network_mode(up_args.network);
    if (!mode) fail(mode.error());
    auto spec = writegate::cli::effective_spec(globals);
    if (!spec) fail(spec.error());
    stack::UpOptions options;
    options.state_dir = globals.state_dir;
    options.spec = std::move(*spec);
    options.network = *mode;
    options.bin_dir = own_bin_dir();
    auto state = stack::up(options);
    if (!state) fail(state.error(), 1);
    std::cout << "\n"
              << stack::status_text(*state)
              << "\nnext: writegate verify | writegate invoke --payload '{...}' | writegate psql\n";
    finish(0);
  });

  static bool purge = false;
  auto* down = root.add_subcommand("down", "Stop the stack and remove what `up` made");
  down->add_flag("--purge", purge, "Also delete the state folder (database, keys, certificates)");
  down->callback([&globals] {
    auto done = stack::down({.state_dir = globals.state_dir, .purge = purge});
    if (!done) fail(done.error(), 1);
    finish(0);
  });

  static bool json = false;
  auto* status = root.add_subcommand("status", "Where the stack's parts are and whether they run");
  status->add_flag("--json", json, "JSON output");
  status->callback([&globals] {
    auto state = stack::StackState::load(globals.state_dir);
    if (!state) fail(state.error(), 1);
    std::cout << (json ? stack::status_json(*state) : stack::status_text(*state));
    bool all_running = state->status == "up";
    for (const auto& [name, c] : state->components)
      all_running = all_running && c.running();
    finish(all_running ? 0 : 1);
  });

  static std::vector<std::string> psql_args;
  auto* psql = root.add_subcommand(
      "psql", "psql through the proxy as the writer (fresh IAM token, sslmode=verify-full)");
  psql->add_option("args", psql_args, "Arguments for psql (after --)");
  psql->callback([&globals] {
    const auto state = load_running(globals);
    auto spec = stack::stack_spec(state);
    if (!spec) fail(spec.error());
    auto login = stack::writer_login(state, *spec);
    if (!login) fail(login.error());
    std::vector<std::string> argv = {"psql", login->conninfo};
    argv.insert(argv.end(), psql_args.begin(), psql_args.end());
    auto wrapped = stack::in_component(state, "lambda", argv);
    if (!wrapped) fail(wrapped.error());
    // Loopback mode: the endpoint name does not resolve on the host; connect to the proxy's
    // address and still verify the certificate for the name.
    std::vector<std::string> env = {"PGPASSWORD=" + std::string(login->password.reveal())};
    if (state.mode != "netns") env.push_back("PGHOSTADDR=127.0.0.1");
    exec_program(*wrapped, env);
  });

  static std::string component;
  static std::vector<std::string> command;
  auto* exec = root.add_subcommand(
      "exec",
      "Run a command in the lambda, proxy or aurora network namespace, with that "
      "component's AWS credentials, region and TLS settings in its environment");
  exec->add_option("component", component, "lambda | proxy | aurora")->required();
  exec->add_option("command", command, "The command (after --)")->required();
  exec->callback([&globals] {
    const auto state = load_running(globals);
    auto spec = stack::stack_spec(state);
    if (!spec) fail(spec.error());
    auto wrapped = stack::in_component(state, component, command);
    if (!wrapped) fail(wrapped.error());
    std::vector<std::string> env = {"AWS_REGION=" + state.region,
                                    "AWS_DEFAULT_REGION=" + state.region,
                                    "AWS_CA_BUNDLE=" + state.ca_file, "PGSSLMODE=verify-full",
                                    "PGSSLROOTCERT=" + state.ca_file};
    // A connection that gets no answer (the document's Test 5: dropped by the security groups)
    // gives up after 10 s instead of the kernel's 2 min 15 s; the caller's own value wins.
    if (std::getenv("PGCONNECT_TIMEOUT") == nullptr) env.push_back("PGCONNECT_TIMEOUT=10");
    // The component's own identity, as the AWS service running it would have it.
    const std::string role = component == "lambda"  ? spec->iam.lambda_role
                             : component == "proxy" ? spec->iam.proxy_role
                                                    : std::string();
    if (!role.empty()) {
      auto session = stack::service_session(state.state_dir, role);
      if (!session) fail(session.error());
      env.push_back("AWS_ACCESS_KEY_ID=" + session->access_key_id);
      env.push_back("AWS_SECRET_ACCESS_KEY=" + std::string(session->secret_access_key.reveal()));
      env.push_back("AWS_SESSION_TOKEN=" + std::string(session->session_token.reveal()));
    }
    if (state.mode != "netns") {
      std::cerr << "writegate exec: loopback mode: runs on the host, without a namespace\n";
    }
    exec_program(*wrapped, env);
  });
}

const bool kRegistered = writegate::cli::register_command(install);

}  // namespace
