// `writegate verify [--json]`: proves, live against the running stack, the architecture
// document's Tests 1-5, its section 9 checklist and what the design adds (see
// src/stack/verify.h). Exit 0: every check passed (SKIPs allowed); 1: a check failed; 2: could
// not verify at all (no stack, stack not running, database unreachable as the master user).
#include <iostream>

#include "command.h"
#include "stack/stack.h"
#include "stack/verify.h"

namespace {

using writegate::Error;
using writegate::cli::fail;
using writegate::cli::finish;
namespace stack = writegate::stack;

void install(CLI::App& root, writegate::cli::Globals& globals) {
  static bool json = false;
  auto* verify = root.add_subcommand(
      "verify",
      "Prove the running stack: the document's Tests 1-5 and section 9 checklist, "
      "PASS/FAIL with evidence (exit 1 on any FAIL)");
  verify->add_flag("--json", json, "JSON output");
  verify->callback([&globals] {
    auto state = stack::StackState::load(globals.state_dir);
    if (!state) fail(state.error());
    if (state->status != "up") {
      fail(Error::failed_precondition("the stack in " + state->state_dir + " is " + state->status +
                                      "; `writegate up` starts it"));
    }
    auto spec = stack::stack_spec(*state);
    if (!spec) fail(spec.error());
    auto results = stack::verify_stack(*state, *spec);
    if (!results) fail(results.error());
    std::cout << (json ? stack::verify_json(*state, *results)
                       : stack::verify_text(*state, *results))
              << std::flush;
    finish(stack::verify_failed(*results) ? 1 : 0);
  });
}

const bool kRegistered = writegate::cli::register_command(install);

}  // namespace
