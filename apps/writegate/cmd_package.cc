// `writegate package [--out FILE] [--bootstrap FILE] [--ca-bundle FILE]`: the function's
// self-contained zip for Lambda provided.al2023 (src/deploy/package.h).
#include <iostream>
#include <memory>

#include "command.h"
#include "deploy/package.h"

namespace {

struct PackageArgs {
  std::string out = "function.zip";
  std::string bootstrap;  // empty: the bootstrap built beside this writegate
  std::string ca_bundle;  // empty: the Amazon Trust Services roots
  bool keep_debug = false;
};

int run_package(const PackageArgs& args, const writegate::cli::Globals& globals) {
  namespace deploy = writegate::deploy;
  auto spec = writegate::cli::effective_spec(globals);
  if (!spec) writegate::cli::fail(spec.error());
  deploy::PackageOptions options;
  options.architecture = spec->function.architecture;
  options.out = args.out;
  options.bootstrap =
      args.bootstrap.empty() ? writegate::cli::own_bin_dir() + "/bootstrap" : args.bootstrap;
  options.ca_bundle = args.ca_bundle;
  options.strip_debug = !args.keep_debug;
  auto report = deploy::build_package(options);
  if (!report) writegate::cli::fail(report.error().with_context("package"));
  std::cout << deploy::describe_package(*report);
  std::cout << "CA bundle: "
            << (args.ca_bundle.empty() ? "the Amazon Trust Services roots (RDS Proxy's ACM "
                                         "certificates chain to them)"
                                       : args.ca_bundle)
            << "\n";
  return 0;
}

const bool kRegistered = writegate::cli::register_command([](CLI::App& root,
                                                             writegate::cli::Globals& globals) {
  auto args = std::make_shared<PackageArgs>();
  auto* cmd = root.add_subcommand(
      "package",
      "Build the function's zip for Lambda provided.al2023: bootstrap, the CA bundle, and the "
      "loader and every library it needs (libpq included) under lib/");
  cmd->add_option("--out", args->out, "The zip to write")->default_str(args->out);
  cmd->add_option("--bootstrap", args->bootstrap,
                  "The function executable (default: the bootstrap built beside writegate)");
  cmd->add_option("--ca-bundle", args->ca_bundle,
                  "PEM file shipped as rds-ca-bundle.pem (default: the Amazon Trust Services "
                  "roots from Debian's ca-certificates, which RDS Proxy's certificates chain to)");
  cmd->add_flag("--keep-debug", args->keep_debug,
                "Ship bootstrap with its debug sections (by default they are stripped)");
  cmd->footer("The executable must be built for the spec's function.architecture.");
  cmd->callback([args, &globals] { writegate::cli::finish(run_package(*args, globals)); });
});

}  // namespace
