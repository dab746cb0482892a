// writegate init | writegate spec show
#include <filesystem>
#include <fstream>
#include <iostream>

#include "command.h"
#include "spec/spec.h"

namespace {
using writegate::cli::fail;
using writegate::cli::Globals;

const bool kRegistered = writegate::cli::register_command([](CLI::App& root, Globals& globals) {
  auto* init = root.add_subcommand("init", "Write the default writegate.yaml, with comments");
  static std::string path = "writegate.yaml";
  static bool force = false;
  init->add_option("--output,-o", path, "Where to write the spec (- for stdout)");
  init->add_flag("--force", force, "Overwrite an existing file");
  init->callback([] {
    const std::string text = writegate::spec::default_yaml_with_comments();
    if (path == "-") {
      std::cout << text;
      return;
    }
    if (std::filesystem::exists(path) && !force) {
      fail(writegate::Error::already_exists(path + " exists already; use --force to overwrite"));
    }
    std::ofstream out(path, std::ios::trunc);
    out << text;
    if (!out) fail(writegate::Error::io("cannot write " + path));
    std::cout << "wrote " << path << "\n";
  });

  auto* spec = root.add_subcommand("spec", "Inspect the spec");
  spec->require_subcommand(1);
  auto* show = spec->add_subcommand("show", "Print the effective spec (defaults filled in)");
  show->callback([&globals] {
    auto loaded = writegate::cli::effective_spec(globals);
    if (!loaded) fail(loaded.error());
    std::cout << writegate::spec::to_yaml(*loaded);
  });
});
}  // namespace
