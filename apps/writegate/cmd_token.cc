// `writegate token`: prints an RDS IAM auth token, as `aws rds generate-db-auth-token` does,
// with credentials found the way the AWS SDKs find them (environment, shared files, profiles).
#include <iostream>

#include "command.h"
#include "sigv4/credentials.h"
#include "sigv4/rds_token.h"

namespace {

struct TokenOptions {
  std::string hostname;
  int port = 0;
  std::string username;
  std::string region;
  std::string profile;
};

int run_token(const TokenOptions& o, const writegate::cli::Globals& globals) {
  using namespace writegate::sigv4;
  Environment env = Environment::from_process();
  auto creds = resolve_credentials(env, o.profile);
  if (!creds) writegate::cli::fail(creds.error(), 255);
  std::string region = o.region;
  if (region.empty()) {
    auto r = resolve_region(env, o.profile);
    if (!r) writegate::cli::fail(r.error(), 255);
    region = *r;
  }
  if (region.empty()) {
    writegate::cli::fail(writegate::Error::invalid_argument(
                             "no region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION"),
                         255);
  }
  if (globals.verbose) {
    // The source only: never the keys, the session token or the token itself.
    std::cerr << "writegate: credentials from " << creds->source << ", access key "
              << creds->credentials.access_key_id.substr(0, 4) << "..., region " << region << "\n";
  }
  auto token =
      generate_rds_token({o.hostname, static_cast<std::uint16_t>(o.port), o.username, region},
                         creds->credentials, Clock::now());
  if (!token) writegate::cli::fail(token.error(), 255);
  std::cout << *token << "\n";
  return 0;
}

const bool kRegistered = writegate::cli::register_command([](CLI::App& root,
                                                             writegate::cli::Globals& globals) {
  auto options = std::make_shared<TokenOptions>();
  auto* cmd = root.add_subcommand(
      "token", "Print an RDS IAM authentication token (like aws rds generate-db-auth-token)");
  cmd->add_option("--hostname", options->hostname, "Database or proxy endpoint name")->required();
  cmd->add_option("--port", options->port, "Port")->required()->check(CLI::Range(1, 65535));
  cmd->add_option("--username", options->username, "Database user")->required();
  cmd->add_option("--region", options->region,
                  "Region (default: AWS_REGION, AWS_DEFAULT_REGION, profile's region)");
  cmd->add_option("--profile", options->profile, "Profile of ~/.aws/credentials and ~/.aws/config");
  cmd->callback([options, &globals] { writegate::cli::finish(run_token(*options, globals)); });
});

}  // namespace
