#include "sigv4/credentials.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace writegate::sigv4 {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<std::string> non_empty(const Environment& env, std::string_view name) {
  auto v = env.get(name);
  if (v && v->empty()) return std::nullopt;
  return v;
}

Result<std::string> home_file(const Environment& env, std::string_view override_var,
                              std::string_view default_name) {
  if (auto path = non_empty(env, override_var)) {
    if (path->starts_with("~/")) {
      auto home = non_empty(env, "HOME");
      if (!home) return Error::failed_precondition("HOME is not set to expand " + *path);
      return *home + path->substr(1);
    }
    return *path;
  }
  auto home = non_empty(env, "HOME");
  if (!home) return std::string();
  return *home + "/.aws/" + std::string(default_name);
}

struct LoadedFile {
  std::string path;
  IniSections sections;
};

Result<std::optional<LoadedFile>> load(const Environment& env, std::string_view override_var,
                                       std::string_view default_name) {
  WG_ASSIGN_OR_RETURN(std::string path, home_file(env, override_var, default_name));
  if (path.empty()) return std::optional<LoadedFile>();
  WG_ASSIGN_OR_RETURN(std::optional<std::string> text, env.read_file(path));
  if (!text) return std::optional<LoadedFile>();
  auto sections = parse_aws_ini(*text);
  if (!sections) return std::move(sections).error().with_context("reading " + path);
  return std::optional<LoadedFile>(LoadedFile{path, std::move(*sections)});
}

// The profile's section: credentials file uses "[name]"; config uses "[profile name]", and
// "[default]" for the default profile.
const std::map<std::string, std::string>* find_profile(const IniSections& sections,
                                                       std::string_view profile, bool config) {
  if (config) {
    if (auto it = sections.find("profile " + std::string(profile)); it != sections.end()) {
      return &it->second;
    }
    if (profile != "default") return nullptr;
  }
  auto it = sections.find(std::string(profile));
  return it == sections.end() ? nullptr : &it->second;
}

// Keys of one profile section -> credentials; nullopt if it holds none.
Result<std::optional<Credentials>> credentials_from(const std::map<std::string, std::string>& s,
                                                    const std::string& where) {
  auto id = s.find("aws_access_key_id");
  auto secret = s.find("aws_secret_access_key");
  if (id == s.end() && secret == s.end()) return std::optional<Credentials>();
  if (id == s.end() || secret == s.end() || id->second.empty() || secret->second.empty()) {
    return Error::invalid_argument(where +
                                   " has only one of aws_access_key_id and aws_secret_access_key");
  }
  Credentials c{id->second, secret->second, ""};
  // botocore looks for the old name first.
  for (const char* name : {"aws_security_token", "aws_session_token"}) {
    if (auto t = s.find(name); t != s.end()) {
      c.session_token = t->second;
      break;
    }
  }
  return std::optional<Credentials>(std::move(c));
}

}  // namespace

Environment Environment::from_process() {
  Environment env;
  env.get = [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
  env.read_file = [](const std::string& path) -> Result<std::optional<std::string>> {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      if (errno == ENOENT) return std::optional<std::string>();
      return Error::io("cannot read " + path);
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return Error::io("cannot read " + path);
    return std::optional<std::string>(text.str());
  };
  return env;
}

Result<IniSections> parse_aws_ini(std::string_view text) {
  IniSections sections;
  std::map<std::string, std::string>* current = nullptr;
  bool in_nested = false;  // inside "s3 =\n  max_concurrent_requests = 10"
  int line_no = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t nl = text.find('\n', start);
    std::string_view raw = text.substr(start, nl == std::string_view::npos ? nl : nl - start);
    start = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    const bool indented = !raw.empty() && (raw.front() == ' ' || raw.front() == '\t');
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        return Error::invalid_argument("line " + std::to_string(line_no) +
                                       ": section header without ']'");
      }
      std::string_view name = trim(line.substr(1, line.size() - 2));
      // "[profile   x]" names profile "x" as botocore reads it.
      std::string key(name);
      if (name.starts_with("profile ") || name.starts_with("profile\t")) {
        key = "profile " + std::string(trim(name.substr(8)));
      }
      current = &sections[key];
      in_nested = false;
      continue;
    }
    if (indented && in_nested) continue;
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return Error::invalid_argument("line " + std::to_string(line_no) + ": expected key = value");
    }
    if (current == nullptr) {
      return Error::invalid_argument("line " + std::to_string(line_no) +
                                     ": key outside of any [section]");
    }
    std::string key(trim(line.substr(0, eq)));
    std::string value(trim(line.substr(eq + 1)));
    in_nested = value.empty();
    (*current)[key] = value;
  }
  return sections;
}

Result<ResolvedCredentials> resolve_credentials(const Environment& env,
                                                std::string_view explicit_profile) {
  // An explicit profile overrides environment credentials (botocore's
  // create_credential_resolver); AWS_PROFILE does not.
  if (explicit_profile.empty()) {
    auto id = non_empty(env, "AWS_ACCESS_KEY_ID");
    auto secret = non_empty(env, "AWS_SECRET_ACCESS_KEY");
    if (id && !secret) {
      return Error::invalid_argument(
          "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both or neither");
    }
    if (secret && !id) {
      return Error::invalid_argument(
          "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both or neither");
    }
    if (id && secret) {
      Credentials c{*id, *secret, ""};
      if (auto token = non_empty(env, "AWS_SESSION_TOKEN")) {
        c.session_token = *token;
      } else if (auto old = non_empty(env, "AWS_SECURITY_TOKEN")) {
        c.session_token = *old;
      }
      return ResolvedCredentials{std::move(c), "environment"};
    }
  }
  std::string profile(explicit_profile);
  if (profile.empty()) profile = non_empty(env, "AWS_PROFILE").value_or("default");

  WG_ASSIGN_OR_RETURN(auto shared, load(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials"));
  if (shared) {
    if (auto* section = find_profile(shared->sections, profile, /*config=*/false)) {
      std::string where = shared->path + " [" + profile + "]";
      WG_ASSIGN_OR_RETURN(auto creds, credentials_from(*section, where));
      if (creds) {
        return ResolvedCredentials{std::move(*creds), "shared credentials file " + shared->path +
                                                          " (profile " + profile + ")"};
      }
    }
  }
  WG_ASSIGN_OR_RETURN(auto config, load(env, "AWS_CONFIG_FILE", "config"));
  bool profile_exists = false;
  if (config) {
    if (auto* section = find_profile(config->sections, profile, /*config=*/true)) {
      profile_exists = true;
      std::string where = config->path + " [profile " + profile + "]";
      WG_ASSIGN_OR_RETURN(auto creds, credentials_from(*section, where));
      if (creds) {
        return ResolvedCredentials{std::move(*creds),
                                   "config file " + config->path + " (profile " + profile + ")"};
      }
    }
  }
  if (shared && find_profile(shared->sections, profile, false) != nullptr) profile_exists = true;
  if (!profile_exists && profile != "default") {
    return Error::not_found("the config profile (" + profile + ") could not be found");
  }
  return Error::not_found(
      "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add "
      "aws_access_key_id/aws_secret_access_key to profile '" +
      profile + "' in ~/.aws/credentials");
}

Result<std::string> resolve_region(const Environment& env, std::string_view explicit_profile) {
  if (auto r = non_empty(env, "AWS_REGION")) return *r;
  if (auto r = non_empty(env, "AWS_DEFAULT_REGION")) return *r;
  std::string profile(explicit_profile);
  if (profile.empty()) profile = non_empty(env, "AWS_PROFILE").value_or("default");
  WG_ASSIGN_OR_RETURN(auto config, load(env, "AWS_CONFIG_FILE", "config"));
  if (config) {
    if (auto* section = find_profile(config->sections, profile, /*config=*/true)) {
      if (auto it = section->find("region"); it != section->end()) return it->second;
    }
  }
  return std::string();
}

}  // namespace writegate::sigv4
