#include <iostream>

#include "command.h"

namespace {
const bool kRegistered = writegate::cli::register_command([](CLI::App& root, auto&) {
  auto* cmd = root.add_subcommand("version", "Print the writegate version");
  cmd->callback([] { std::cout << "writegate 0.1.0\n"; });
});
}  // namespace
