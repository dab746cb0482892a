// writegate: one CLI for the spec, the database, IAM and (later) the local stack.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string_view>
#include <vector>

#include "command.h"
#include "stack/state.h"

namespace writegate::cli {
namespace {
std::vector<CommandInstaller>& installers() {
  static std::vector<CommandInstaller> list;
  return list;
}
}  // namespace

bool register_command(CommandInstaller installer) {
  installers().push_back(std::move(installer));
  return true;
}

Result<spec::Spec> effective_spec(const Globals& globals) {
  std::error_code ec;
  if (globals.spec_path.empty() && !std::filesystem::exists("writegate.yaml", ec) &&
      std::filesystem::exists(globals.state_dir + "/spec.yaml", ec)) {
    return spec::load_file(globals.state_dir + "/spec.yaml");
  }
  return spec::load_for_cli(globals.spec_path);
}

std::string own_bin_dir() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

void finish(int exit_code) {
  if (exit_code == 0) throw CLI::Success();
  throw CLI::RuntimeError(exit_code);
}

void fail(const Error& error, int exit_code) {
  std::cerr << "writegate: " << error.message() << "\n";
  finish(exit_code);
}

}  // namespace writegate::cli

int main(int argc, char** argv) {
  using writegate::cli::Globals;
  CLI::App app{
      "writegate: write-only access from AWS Lambda to Aurora PostgreSQL through RDS Proxy"};
  app.require_subcommand(1);
  // Inherited by every subcommand created below: options a subcommand does not know are
  // parsed by its parent, so the global options work anywhere on the command line.
  app.fallthrough();
  Globals globals;
  // Without --state or WRITEGATE_STATE: ./.writegate/state, else the last stack `up` made.
  globals.state_dir = writegate::stack::default_state_dir();
  globals.state_dir_chosen = std::getenv("WRITEGATE_STATE") != nullptr ||
                             globals.state_dir == writegate::cli::kDefaultStateDir;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--state" || arg.starts_with("--state=")) globals.state_dir_chosen = true;
  }
  app.add_option("--spec", globals.spec_path,
                 "Spec file (default ./writegate.yaml if present, else built-in defaults)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--state", globals.state_dir, "State folder of the local stack")
      ->envname("WRITEGATE_STATE")
      ->default_str(std::string(writegate::cli::kDefaultStateDir) + ", else the last `up`'s")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_flag("-v,--verbose", globals.verbose, "More output (secrets stay redacted)");
  app.footer(
      "Global options (--spec, --state, -v) may also be given after the subcommand.\n"
      "WRITEGATE_STATE sets the state folder when --state is not given.");
  for (auto& install : writegate::cli::installers())
    install(app, globals);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
