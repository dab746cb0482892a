// Finding AWS credentials and the region the way the AWS SDKs and the aws CLI do.
//
// Credentials: an explicit profile (--profile) reads only the shared files; otherwise the
// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) comes first, then
// the profile named by AWS_PROFILE (else "default") in the shared credentials file
// (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials), then in the config file
// (AWS_CONFIG_FILE, else ~/.aws/config; sections "[default]" and "[profile NAME]").
// Region: AWS_REGION, AWS_DEFAULT_REGION, then `region` of the profile in the config file.
// The environment is passed in, so tests and callers never depend on the process's own.
//
//   Environment env = Environment::from_process();
//   auto creds = resolve_credentials(env, /*explicit_profile=*/"");
//   if (!creds) fail(creds.error());
//   std::cerr << "using " << creds->source;   // never print creds->credentials
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "sigv4/sigv4.h"

namespace writegate::sigv4 {

// Read access to environment variables and files, replaceable in tests.
struct Environment {
  std::function<std::optional<std::string>(std::string_view name)> get;
  // Returns the file's text, std::nullopt if it does not exist, an error if it cannot be read.
  std::function<Result<std::optional<std::string>>(const std::string& path)> read_file;

  static Environment from_process();
};

struct ResolvedCredentials {
  Credentials credentials;
  std::string source;  // "environment", "shared credentials file /x (profile p)", ...
};

// `explicit_profile` is --profile; empty means none given.
Result<ResolvedCredentials> resolve_credentials(const Environment& env,
                                                std::string_view explicit_profile);

// Empty string when no region is configured anywhere.
Result<std::string> resolve_region(const Environment& env, std::string_view explicit_profile);

// An INI file as the AWS shared files use it: section -> key -> value. Keys and values are
// trimmed; '#' and ';' start comment lines; nested "key =\n  sub = v" blocks are skipped.
using IniSections = std::map<std::string, std::map<std::string, std::string>>;
Result<IniSections> parse_aws_ini(std::string_view text);

}  // namespace writegate::sigv4
