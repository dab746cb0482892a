// `writegate verify`: proves, live against the running stack, the architecture document's Tests
// 1-5, its section 9 checklist (IAM, database, network) and what the document does not ask but
// the design promises (TLS only, tokens only, no secret in any log). Each check is PASS or FAIL
// with its evidence, or SKIP when the stack's mode cannot prove it (loopback: no security groups).
//
//   auto state = stack::StackState::load(dir);
//   auto spec = stack::stack_spec(*state);
//   auto results = stack::verify_stack(*state, *spec);   // error: could not verify at all
//   std::cout << stack::verify_text(*state, *results);
//   return stack::verify_failed(*results) ? 1 : 0;
//
// Evidence never holds a password, a secret access key or a token.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "spec/spec.h"
#include "stack/state.h"

namespace writegate::stack {

struct CheckResult {
  std::string section;  // "Test 1" .. "Test 5", "iam", "database", "network", "proxy", "logs"
  std::string name;     // stable: tests and scripts look checks up by section and name
  enum Outcome { kPass, kFail, kSkip } outcome = kFail;
  std::string evidence;
};

std::string_view outcome_name(CheckResult::Outcome outcome);  // "PASS", "FAIL", "SKIP"

// Runs every check. An error only when nothing can be verified (no running stack, no admin
// connection to the database, the IAM store unreadable); a check that fails is a kFail result.
Result<std::vector<CheckResult>> verify_stack(const StackState& state, const spec::Spec& spec);

bool verify_failed(const std::vector<CheckResult>& results);

// "writegate verify: DIR (MODE network)", one line per check, "N passed, N failed, N skipped".
std::string verify_text(const StackState& state, const std::vector<CheckResult>& results);
// {"state_dir", "mode", "passed", "failed", "skipped",
//  "checks": [{"section", "name", "outcome", "evidence"}]}
std::string verify_json(const StackState& state, const std::vector<CheckResult>& results);

}  // namespace writegate::stack
