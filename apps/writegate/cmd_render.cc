// writegate render cloudformation|iam|sql|cli|all [--out DIR]: the AWS deployment from the spec.
#include <iostream>

#include "command.h"
#include "deploy/render.h"

namespace {
using writegate::cli::fail;
using writegate::cli::Globals;

const bool kRegistered = writegate::cli::register_command([](CLI::App& root, Globals& globals) {
  auto* render = root.add_subcommand(
      "render",
      "Render the AWS deployment from the spec: the CloudFormation template, the IAM documents, "
      "the SQL and the CLI script");
  static std::string part;
  static std::string out = "writegate-aws";
  static writegate::deploy::RenderOptions options;
  render->add_option("part", part, "cloudformation, iam, sql, cli or all")
      ->required()
      ->check(CLI::IsMember({"cloudformation", "iam", "sql", "cli", "all"}));
  render
      ->add_option("--out,-o", out,
                   "Folder to write into: template.yaml, iam/, sql/, cli/ (made as needed)")
      ->capture_default_str();
  render->add_option("--proxy-resource-id", options.proxy_resource_id,
                     "The proxy's prx- id, for the IAM JSON files (default: spec proxy.resource_id;"
                     " else they keep ${ProxyResourceId} for cli/deploy.sh to fill in)");
  render->add_option("--cluster-resource-id", options.cluster_resource_id,
                     "The cluster's cluster- id, for the proxy role's IAM JSON under end-to-end "
                     "IAM (else ${ClusterResourceId})");
  render->footer(
      "The template takes both ids from the resources themselves; cli/deploy.sh looks them up.\n"
      "Same spec, same bytes; nothing rendered holds a secret.");
  render->callback([&globals] {
    auto spec = writegate::cli::effective_spec(globals);
    if (!spec) fail(spec.error());
    auto files = writegate::deploy::render(*spec, part, options);
    if (!files) fail(files.error());
    if (auto written = writegate::deploy::write_files(out, *files); !written) {
      fail(written.error());
    }
    for (const auto& file : *files)
      std::cout << out << "/" << file.path << "\n";
  });
});
}  // namespace
