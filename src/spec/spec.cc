#include "spec/spec.h"

#include <yaml-cpp/yaml.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <utility>

namespace writegate::spec {
namespace {

// Walks the YAML tree and remembers where it is, so every error names file:line:col and field.
class Reader {
 public:
  explicit Reader(std::string_view origin) : origin_(origin) {}

  Error error_at(const YAML::Node& node, const std::string& field, const std::string& what) const {
    const YAML::Mark mark = node.Mark();
    std::ostringstream out;
    out << origin_;
    if (mark.line >= 0) out << ":" << mark.line + 1 << ":" << mark.column + 1;
    out << ": " << field << ": " << what;
    return Error::invalid_argument(out.str());
  }

  // A mapping whose keys must all be in `allowed`.
  Status expect_map(const YAML::Node& node, const std::string& field,
                    const std::set<std::string>& allowed) const {
    if (!node.IsMap()) return error_at(node, field, "expected a mapping of keys");
    for (const auto& entry : node) {
      const auto key = entry.first.as<std::string>();
      if (!allowed.contains(key)) {
        std::string list;
        for (const auto& name : allowed)
          list += (list.empty() ? "" : ", ") + name;
        return error_at(entry.first, join(field, key), "unknown key; allowed keys: " + list);
      }
    }
    return {};
  }

  Status read_string(const YAML::Node& parent, const std::string& field, const char* key,
                     std::string& out) const {
    const YAML::Node node = parent[key];
    if (!node) return {};
    if (!node.IsScalar()) return error_at(node, join(field, key), "expected a string");
    out = node.Scalar();
    if (out.empty()) return error_at(node, join(field, key), "must not be empty");
    return {};
  }

  // A string that must match `pattern`; `what` says what is allowed when it does not.
  Status read_matching(const YAML::Node& parent, const std::string& field, const char* key,
                       const std::regex& pattern, const std::string& what, std::string& out) const {
    WG_RETURN_IF_ERROR(read_string(parent, field, key, out));
    if (!std::regex_match(out, pattern)) {
      return error_at(parent[key] ? parent[key] : parent, join(field, key),
                      "'" + out + "' is not " + what);
    }
    return {};
  }

  Status read_int(const YAML::Node& parent, const std::string& field, const char* key, int low,
                  int high, int& out) const {
    const YAML::Node node = parent[key];
    if (!node) return {};
    const std::string name = join(field, key);
    if (!node.IsScalar()) return error_at(node, name, "expected a whole number");
    const std::string& text = node.Scalar();
    static const std::regex kInteger("-?[0-9]{1,9}");
    if (!std::regex_match(text, kInteger)) {
      return error_at(node, name, "expected a whole number, got '" + text + "'");
    }
    const int value = std::stoi(text);
    if (value < low || value > high) {
      return error_at(node, name,
                      "must be between " + std::to_string(low) + " and " + std::to_string(high));
    }
    out = value;
    return {};
  }

  Status read_bool(const YAML::Node& parent, const std::string& field, const char* key,
                   bool& out) const {
    const YAML::Node node = parent[key];
    if (!node) return {};
    const std::string name = join(field, key);
    if (!node.IsScalar() || (node.Scalar() != "true" && node.Scalar() != "false")) {
      return error_at(node, name, "expected true or false");
    }
    out = node.Scalar() == "true";
    return {};
  }

  Status read_choice(const YAML::Node& parent, const std::string& field, const char* key,
                     const std::vector<std::string>& allowed, std::string& out) const {
    std::string value;
    WG_RETURN_IF_ERROR(read_string(parent, field, key, value));
    if (value.empty()) return {};
    for (const auto& choice : allowed) {
      if (value == choice) {
        out = value;
        return {};
      }
    }
    std::string list;
    for (const auto& choice : allowed)
      list += (list.empty() ? "" : " | ") + choice;
    return error_at(parent[key], join(field, key), "'" + value + "' is not allowed; use " + list);
  }

  Status read_string_list(const YAML::Node& parent, const std::string& field, const char* key,
                          std::vector<std::string>& out) const {
    const YAML::Node node = parent[key];
    if (!node) return {};
    const std::string name = join(field, key);
    if (!node.IsSequence()) return error_at(node, name, "expected a list of strings");
    std::vector<std::string> values;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const std::string item_name = name + "[" + std::to_string(i) + "]";
      if (!node[i].IsScalar() || node[i].Scalar().empty()) {
        return error_at(node[i], item_name, "expected a non-empty string");
      }
      values.push_back(node[i].Scalar());
    }
    out = std::move(values);
    return {};
  }

  static std::string join(const std::string& field, const std::string& key) {
    return field.empty() ? key : field + "." + key;
  }

 private:
  std::string origin_;
};

// PostgreSQL identifiers writegate manages are plain lower-case names: no quoting games.
const std::regex kIdentifier("[a-z_][a-z0-9_$]{0,62}");
const std::regex kAwsName("[A-Za-z0-9][A-Za-z0-9_.+=@-]{0,63}");
const std::regex kResourceId("prx-[0-9a-f]{17}");
const std::regex kRegion("[a-z]{2}(-[a-z]+)+-[0-9]");
const std::regex kAccount("[0-9]{12}");

Status check_identifier(const Reader& reader, const YAML::Node& node, const std::string& field,
                        const std::string& value) {
  if (!std::regex_match(value, kIdentifier)) {
    return reader.error_at(node, field,
                           "'" + value +
                               "' is not a plain PostgreSQL name (lower-case letters, digits, "
                               "'_', at most 63 characters, not starting with a digit)");
  }
  return {};
}

Status read_database(const Reader& r, const YAML::Node& node, DatabaseSpec& db) {
  const std::string f = "database";
  WG_RETURN_IF_ERROR(
      r.expect_map(node, f,
                   {"cluster", "name", "port", "master_user", "master_secret", "user",
                    "user_secret", "schemas", "write_mode", "table_owners", "security_group"}));
  static const std::regex kClusterId("[A-Za-z][A-Za-z0-9-]{0,62}");
  static const std::regex kSecretName("[A-Za-z0-9/_+=.@-]{1,512}");
  const std::string secret_what = "a Secrets Manager secret name (letters, digits, /_+=.@-)";
  WG_RETURN_IF_ERROR(r.read_matching(node, f, "cluster", kClusterId,
                                     "a DB cluster identifier (letters, digits, hyphens, "
                                     "starting with a letter, at most 63)",
                                     db.cluster));
  WG_RETURN_IF_ERROR(r.read_string(node, f, "name", db.name));
  WG_RETURN_IF_ERROR(r.read_int(node, f, "port", 1, 65535, db.port));
  WG_RETURN_IF_ERROR(r.read_string(node, f, "master_user", db.master_user));
  WG_RETURN_IF_ERROR(
      r.read_matching(node, f, "master_secret", kSecretName, secret_what, db.master_secret));
  WG_RETURN_IF_ERROR(r.read_string(node, f, "user", db.user));
  WG_RETURN_IF_ERROR(
      r.read_matching(node, f, "user_secret", kSecretName, secret_what, db.user_secret));
  WG_RETURN_IF_ERROR(r.read_string_list(node, f, "schemas", db.schemas));
  WG_RETURN_IF_ERROR(r.read_string_list(node, f, "table_owners", db.table_owners));
  WG_RETURN_IF_ERROR(r.read_string(node, f, "security_group", db.security_group));
  std::string mode = std::string(write_mode_name(db.write_mode));
  WG_RETURN_IF_ERROR(r.read_choice(node, f, "write_mode", {"strict", "keyed"}, mode));
  db.write_mode = mode == "keyed" ? WriteMode::kKeyed : WriteMode::kStrict;

  for (const char* key : {"name", "master_user", "user"}) {
    const std::string& value = std::string(key) == "name"          ? db.name
                               : std::string(key) == "master_user" ? db.master_user
                                                                   : db.user;
    WG_RETURN_IF_ERROR(check_identifier(r, node[key] ? node[key] : node, f + "." + key, value));
  }
  if (db.schemas.empty()) return r.error_at(node["schemas"], f + ".schemas", "list at least one");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < db.schemas.size(); ++i) {
    const YAML::Node item = node["schemas"] ? node["schemas"][i] : node;
    const std::string name = f + ".schemas[" + std::to_string(i) + "]";
    WG_RETURN_IF_ERROR(check_identifier(r, item, name, db.schemas[i]));
    if (db.schemas[i] == "public" || db.schemas[i].starts_with("pg_") ||
        db.schemas[i] == "information_schema") {
      return r.error_at(
          item, name,
          "'" + db.schemas[i] + "' is a system or shared schema; use a schema of its own");
    }
    if (!seen.insert(db.schemas[i]).second) {
      return r.error_at(item, name, "'" + db.schemas[i] + "' is listed twice");
    }
  }
  for (std::size_t i = 0; i < db.table_owners.size(); ++i) {
    const YAML::Node item = node["table_owners"][i];
    const std::string name = f + ".table_owners[" + std::to_string(i) + "]";
    WG_RETURN_IF_ERROR(check_identifier(r, item, name, db.table_owners[i]));
    if (db.table_owners[i] == db.user) {
      return r.error_at(item, name, "the writer user must not own tables (it would gain DDL)");
    }
  }
  if (db.user == db.master_user) {
    return r.error_at(node["user"] ? node["user"] : node, f + ".user",
                      "the writer must not be the master user");
  }
  return {};
}

Status read_pool(const Reader& r, const YAML::Node& node, PoolSpec& pool) {
  const std::string f = "proxy.pool";
  WG_RETURN_IF_ERROR(r.expect_map(
      node, f,
      {"max_connections_percent", "max_idle_connections_percent", "connection_borrow_timeout",
       "idle_client_timeout", "session_pinning_filters", "init_query"}));
  WG_RETURN_IF_ERROR(r.read_string(node, f, "init_query", pool.init_query));
  if (pool.init_query.size() > 65536) {
    return r.error_at(node["init_query"], f + ".init_query", "longer than 64 KiB");
  }
  if (pool.init_query.find('\0') != std::string::npos) {
    return r.error_at(node["init_query"], f + ".init_query", "contains a NUL byte");
  }
  WG_RETURN_IF_ERROR(
      r.read_int(node, f, "max_connections_percent", 1, 100, pool.max_connections_percent));
  WG_RETURN_IF_ERROR(r.read_int(node, f, "max_idle_connections_percent", 0, 100,
                                pool.max_idle_connections_percent));
  WG_RETURN_IF_ERROR(r.read_int(node, f, "connection_borrow_timeout", 1, 3600,
                                pool.connection_borrow_timeout_seconds));
  WG_RETURN_IF_ERROR(
      r.read_int(node, f, "idle_client_timeout", 1, 28800, pool.idle_client_timeout_seconds));
  WG_RETURN_IF_ERROR(
      r.read_string_list(node, f, "session_pinning_filters", pool.session_pinning_filters));
  for (std::size_t i = 0; i < pool.session_pinning_filters.size(); ++i) {
    if (pool.session_pinning_filters[i] != "EXCLUDE_VARIABLE_SETS") {
      return r.error_at(
          node["session_pinning_filters"][i],
          f + ".session_pinning_filters[" + std::to_string(i) + "]",
          "'" + pool.session_pinning_filters[i] + "' is not allowed; use EXCLUDE_VARIABLE_SETS");
    }
  }
  if (pool.max_idle_connections_percent > pool.max_connections_percent) {
    return r.error_at(node, f + ".max_idle_connections_percent",
                      "must not exceed max_connections_percent");
  }
  return {};
}

Status read_proxy(const Reader& r, const YAML::Node& node, ProxySpec& proxy) {
  const std::string f = "proxy";
  WG_RETURN_IF_ERROR(r.expect_map(node, f,
                                  {"name", "port", "require_tls", "iam_auth", "backend_auth",
                                   "resource_id", "security_group", "pool"}));
  WG_RETURN_IF_ERROR(r.read_string(node, f, "name", proxy.name));
  if (!std::regex_match(proxy.name, std::regex("[a-z][a-z0-9-]{0,62}"))) {
    return r.error_at(node["name"], "proxy.name",
                      "'" + proxy.name +
                          "' is not a valid proxy name (lower-case letters, digits, "
                          "hyphens, starting with a letter)");
  }
  WG_RETURN_IF_ERROR(r.read_int(node, f, "port", 1, 65535, proxy.port));
  WG_RETURN_IF_ERROR(r.read_bool(node, f, "require_tls", proxy.require_tls));
  if (!proxy.require_tls) {
    return r.error_at(node["require_tls"], "proxy.require_tls",
                      "writegate requires TLS to the proxy; only true is allowed");
  }
  WG_RETURN_IF_ERROR(r.read_choice(node, f, "iam_auth", {"REQUIRED"}, proxy.iam_auth));
  WG_RETURN_IF_ERROR(
      r.read_choice(node, f, "backend_auth", {"SECRETS", "IAM_AUTH"}, proxy.backend_auth));
  WG_RETURN_IF_ERROR(r.read_string(node, f, "resource_id", proxy.resource_id));
  if (!proxy.resource_id.empty() && !std::regex_match(proxy.resource_id, kResourceId)) {
    std::string hint =
        proxy.resource_id.starts_with("prxy-")
            ? " (the architecture document's 'prxy-' is a typo: RDS Proxy ids start with 'prx-')"
            : "";
    return r.error_at(node["resource_id"], "proxy.resource_id",
                      "'" + proxy.resource_id +
                          "' is not a proxy resource id: expected prx- and 17 "
                          "lower-case hex digits" +
                          hint);
  }
  WG_RETURN_IF_ERROR(r.read_string(node, f, "security_group", proxy.security_group));
  if (node["pool"]) WG_RETURN_IF_ERROR(read_pool(r, node["pool"], proxy.pool));
  return {};
}

Status read_function(const Reader& r, const YAML::Node& node, FunctionSpec& fn) {
  const std::string f = "function";
  WG_RETURN_IF_ERROR(r.expect_map(node, f,
                                  {"name", "runtime", "architecture", "timeout", "memory_size",
                                   "reserved_concurrency", "security_group"}));
  WG_RETURN_IF_ERROR(r.read_string(node, f, "name", fn.name));
  if (!std::regex_match(fn.name, std::regex("[A-Za-z0-9_-]{1,64}"))) {
    return r.error_at(node["name"], "function.name",
                      "'" + fn.name +
                          "' is not a Lambda function name (letters, digits, '-', '_', "
                          "at most 64)");
  }
  WG_RETURN_IF_ERROR(
      r.read_choice(node, f, "runtime", {"provided.al2023", "provided.al2"}, fn.runtime));
  WG_RETURN_IF_ERROR(r.read_choice(node, f, "architecture", {"x86_64", "arm64"}, fn.architecture));
  WG_RETURN_IF_ERROR(r.read_int(node, f, "timeout", 1, 900, fn.timeout_seconds));
  WG_RETURN_IF_ERROR(r.read_int(node, f, "memory_size", 128, 10240, fn.memory_mb));
  WG_RETURN_IF_ERROR(
      r.read_int(node, f, "reserved_concurrency", 0, 100000, fn.reserved_concurrency));
  WG_RETURN_IF_ERROR(r.read_string(node, f, "security_group", fn.security_group));
  return {};
}

Status read_deploy(const Reader& r, const YAML::Node& node, DeploySpec& deploy) {
  const std::string f = "deploy";
  WG_RETURN_IF_ERROR(r.expect_map(node, f,
                                  {"cluster", "engine_version", "instance_class", "min_capacity",
                                   "max_capacity", "log_retention_days"}));
  WG_RETURN_IF_ERROR(r.read_choice(node, f, "cluster", {"create", "existing"}, deploy.cluster));
  WG_RETURN_IF_ERROR(r.read_matching(node, f, "engine_version", std::regex("[0-9]{2}\\.[0-9]{1,2}"),
                                     "an Aurora PostgreSQL version such as 15.10",
                                     deploy.engine_version));
  WG_RETURN_IF_ERROR(r.read_matching(
      node, f, "instance_class", std::regex("db\\.[a-z0-9]+(\\.[a-z0-9]+)?"),
      "a DB instance class such as db.serverless or db.r6g.large", deploy.instance_class));
  for (const char* key : {"min_capacity", "max_capacity"}) {
    if (!node[key]) continue;
    double& value = std::string(key) == "min_capacity" ? deploy.min_capacity : deploy.max_capacity;
    double read = 0;
    if (!node[key].IsScalar() || !YAML::convert<double>::decode(node[key], read)) {
      return r.error_at(node[key], f + "." + key, "expected a number of ACUs");
    }
    // Serverless v2: 0 to 256 ACUs in steps of 0.5.
    if (read < 0 || read > 256 || read * 2 != static_cast<double>(static_cast<int>(read * 2))) {
      return r.error_at(node[key], f + "." + key, "expected 0 to 256 in steps of 0.5");
    }
    value = read;
  }
  if (deploy.min_capacity > deploy.max_capacity) {
    return r.error_at(node["min_capacity"] ? node["min_capacity"] : node, f + ".min_capacity",
                      "is above deploy.max_capacity");
  }
  WG_RETURN_IF_ERROR(r.read_int(node, f, "log_retention_days", 1, 3653, deploy.log_retention_days));
  static const std::set<int> kRetention = {1,    3,    5,    7,    14,   30,  60,  90,
                                           120,  150,  180,  365,  400,  545, 731, 1096,
                                           1827, 2192, 2557, 2922, 3288, 3653};
  if (!kRetention.contains(deploy.log_retention_days)) {
    return r.error_at(node["log_retention_days"], f + ".log_retention_days",
                      "CloudWatch Logs keeps 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, "
                      "545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653 days");
  }
  return {};
}

Status read_iam(const Reader& r, const YAML::Node& node, IamSpec& iam) {
  WG_RETURN_IF_ERROR(r.expect_map(node, "iam", {"lambda_role", "proxy_role"}));
  WG_RETURN_IF_ERROR(r.read_string(node, "iam", "lambda_role", iam.lambda_role));
  WG_RETURN_IF_ERROR(r.read_string(node, "iam", "proxy_role", iam.proxy_role));
  for (const char* key : {"lambda_role", "proxy_role"}) {
    const std::string& value = std::string(key) == "lambda_role" ? iam.lambda_role : iam.proxy_role;
    if (!std::regex_match(value, kAwsName)) {
      return r.error_at(
          node[key], std::string("iam.") + key,
          "'" + value + "' is not an IAM role name (letters, digits, _+=,.@-, at most 64)");
    }
  }
  if (iam.lambda_role == iam.proxy_role) {
    return r.error_at(node, "iam.proxy_role", "the proxy and the function need separate roles");
  }
  return {};
}

Status read_rules(const Reader& r, const YAML::Node& node, const std::string& field,
                  std::vector<SecurityGroupRule>& rules) {
  if (!node) return {};
  if (!node.IsSequence()) return r.error_at(node, field, "expected a list of rules");
  rules.clear();
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string f = field + "[" + std::to_string(i) + "]";
    const YAML::Node item = node[i];
    WG_RETURN_IF_ERROR(r.expect_map(item, f, {"protocol", "port", "peer"}));
    SecurityGroupRule rule;
    WG_RETURN_IF_ERROR(r.read_choice(item, f, "protocol", {"tcp"}, rule.protocol));
    WG_RETURN_IF_ERROR(r.read_int(item, f, "port", 1, 65535, rule.port));
    if (!item["peer"])
      return r.error_at(item, f + ".peer", "required: the name of a security group");
    WG_RETURN_IF_ERROR(r.read_string(item, f, "peer", rule.peer));
    rules.push_back(rule);
  }
  return {};
}

Status read_security_groups(const Reader& r, const YAML::Node& node,
                            std::vector<SecurityGroup>& groups) {
  if (!node.IsSequence()) return r.error_at(node, "security_groups", "expected a list of groups");
  groups.clear();
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string f = "security_groups[" + std::to_string(i) + "]";
    const YAML::Node item = node[i];
    WG_RETURN_IF_ERROR(r.expect_map(item, f, {"name", "description", "ingress", "egress"}));
    SecurityGroup group;
    if (!item["name"]) return r.error_at(item, f + ".name", "required");
    WG_RETURN_IF_ERROR(r.read_string(item, f, "name", group.name));
    if (!std::regex_match(group.name, std::regex("[A-Za-z0-9][A-Za-z0-9._-]{0,254}"))) {
      return r.error_at(item["name"], f + ".name",
                        "'" + group.name +
                            "' is not a security group name (letters, digits, "
                            "'.', '_', '-', at most 255)");
    }
    WG_RETURN_IF_ERROR(r.read_string(item, f, "description", group.description));
    if (group.description.find_first_of("\"\\\n") != std::string::npos ||
        group.description.size() > 255) {
      return r.error_at(item["description"], f + ".description",
                        "at most 255 characters, without quotes, backslashes or line breaks");
    }
    WG_RETURN_IF_ERROR(read_rules(r, item["ingress"], f + ".ingress", group.ingress));
    WG_RETURN_IF_ERROR(read_rules(r, item["egress"], f + ".egress", group.egress));
    groups.push_back(std::move(group));
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    if (!names.insert(groups[i].name).second) {
      return r.error_at(node[i]["name"], "security_groups[" + std::to_string(i) + "].name",
                        "'" + groups[i].name + "' is defined twice");
    }
  }
  for (std::size_t i = 0; i < groups.size(); ++i) {
    for (const char* direction : {"ingress", "egress"}) {
      const auto& rules =
          std::string(direction) == "ingress" ? groups[i].ingress : groups[i].egress;
      for (std::size_t j = 0; j < rules.size(); ++j) {
        if (!names.contains(rules[j].peer)) {
          return r.error_at(node[i][direction][j]["peer"],
                            "security_groups[" + std::to_string(i) + "]." + direction + "[" +
                                std::to_string(j) + "].peer",
                            "'" + rules[j].peer + "' is not a security group of this spec");
        }
      }
    }
  }
  return {};
}

// function/proxy/database.security_group must each name a group of security_groups. Checked
// after the whole file is read, since the groups may come after the sections that use them.
Status check_attachments(const Reader& r, const YAML::Node& root, const Spec& spec) {
  const std::pair<const char*, const std::string*> attachments[] = {
      {"function", &spec.function.security_group},
      {"proxy", &spec.proxy.security_group},
      {"database", &spec.database.security_group},
  };
  for (const auto& [section, group] : attachments) {
    bool found = false;
    std::string names;
    for (const auto& candidate : spec.security_groups) {
      found = found || candidate.name == *group;
      names += (names.empty() ? "" : ", ") + candidate.name;
    }
    if (found) continue;
    const YAML::Node section_node = root[section];
    const bool given = section_node && section_node.IsMap() && section_node["security_group"];
    const YAML::Node where =
        given ? section_node["security_group"] : (section_node ? section_node : root);
    return r.error_at(where, std::string(section) + ".security_group",
                      "'" + *group + "'" + (given ? "" : " (the default)") +
                          " is not a security group of this spec; use one of: " +
                          (names.empty() ? "(none defined)" : names));
  }
  return {};
}

}  // namespace

std::string_view write_mode_name(WriteMode mode) {
  return mode == WriteMode::kKeyed ? "keyed" : "strict";
}

std::vector<SecurityGroup> Spec::default_security_groups() {
  return {
      {"lambda-sg",
       "Lambda functions: outbound PostgreSQL to RDS Proxy only",
       {},
       {{"tcp", 5432, "rds-proxy-sg"}}},
      {"rds-proxy-sg",
       "RDS Proxy: inbound from lambda-sg, outbound to aurora-sg",
       {{"tcp", 5432, "lambda-sg"}},
       {{"tcp", 5432, "aurora-sg"}}},
      {"aurora-sg",
       "Aurora PostgreSQL: inbound from rds-proxy-sg only",
       {{"tcp", 5432, "rds-proxy-sg"}},
       {}},
  };
}

Result<Spec> parse(std::string_view yaml_text, std::string_view origin) {
  const Reader r(origin);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    std::ostringstream out;
    out << origin << ":" << e.mark.line + 1 << ":" << e.mark.column + 1
        << ": not valid YAML: " << e.msg;
    return Error::invalid_argument(out.str());
  }
  Spec spec;
  if (root.IsNull()) return spec;  // an empty file is the defaults
  try {
    WG_RETURN_IF_ERROR(r.expect_map(root, "",
                                    {"region", "account_id", "database", "proxy", "function", "iam",
                                     "security_groups", "deploy"}));
    WG_RETURN_IF_ERROR(r.read_string(root, "", "region", spec.region));
    if (!std::regex_match(spec.region, kRegion)) {
      return r.error_at(root["region"], "region",
                        "'" + spec.region + "' is not an AWS region name");
    }
    WG_RETURN_IF_ERROR(r.read_string(root, "", "account_id", spec.account_id));
    if (!std::regex_match(spec.account_id, kAccount)) {
      return r.error_at(root["account_id"], "account_id",
                        "expected 12 digits (quote it: account_id: \"000000000000\")");
    }
    if (root["database"]) WG_RETURN_IF_ERROR(read_database(r, root["database"], spec.database));
    if (root["proxy"]) WG_RETURN_IF_ERROR(read_proxy(r, root["proxy"], spec.proxy));
    if (root["function"]) WG_RETURN_IF_ERROR(read_function(r, root["function"], spec.function));
    if (root["iam"]) WG_RETURN_IF_ERROR(read_iam(r, root["iam"], spec.iam));
    if (root["security_groups"]) {
      WG_RETURN_IF_ERROR(read_security_groups(r, root["security_groups"], spec.security_groups));
    }
    if (root["deploy"]) WG_RETURN_IF_ERROR(read_deploy(r, root["deploy"], spec.deploy));
    WG_RETURN_IF_ERROR(check_attachments(r, root, spec));
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws on conversions of odd nodes (e.g. a mapping as a key).
    std::ostringstream out;
    out << origin << ":" << e.mark.line + 1 << ":" << e.mark.column + 1 << ": " << e.msg;
    return Error::invalid_argument(out.str());
  }
  return spec;
}

Result<Spec> load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::not_found("cannot read spec file " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > 1024 * 1024) {
    return Error::out_of_range(path + ": spec file is larger than 1 MiB");
  }
  return parse(text.str(), path);
}

Result<Spec> load_for_cli(const std::string& explicit_path) {
  if (!explicit_path.empty()) return load_file(explicit_path);
  if (std::filesystem::exists("writegate.yaml")) return load_file("writegate.yaml");
  return Spec{};
}

namespace {
std::string quoted_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i)
    out += (i ? ", " : "") + items[i];
  return out + "]";
}

void emit_rules(std::ostringstream& out, const char* key,
                const std::vector<SecurityGroupRule>& rules) {
  if (rules.empty()) {
    out << "    " << key << ": []\n";
    return;
  }
  out << "    " << key << ":\n";
  for (const auto& rule : rules) {
    out << "      - {protocol: " << rule.protocol << ", port: " << rule.port
        << ", peer: " << rule.peer << "}\n";
  }
}

// One emitter for both `init` (with comments) and `spec show` (without).
std::string emit(const Spec& s, bool comments) {
  std::ostringstream out;
  auto c = [&](const char* text) {
    if (comments) out << text;
  };
  c("# writegate.yaml: the whole architecture in one file. Every other part reads it.\n"
    "# Defaults are the architecture document's names; delete a line to use its default.\n\n");
  c("# AWS region and account. Locally the account is a made-up id.\n");
  out << "region: " << s.region << "\n";
  out << "account_id: \"" << s.account_id << "\"\n\n";
  c("# Aurora PostgreSQL (locally: a PostgreSQL 15 server the stack starts).\n");
  out << "database:\n";
  out << "  cluster: " << s.database.cluster << "\n";
  out << "  name: " << s.database.name << "\n";
  out << "  port: " << s.database.port << "\n";
  c("  # Admin role and its Secrets Manager secret (never used by the function).\n");
  out << "  master_user: " << s.database.master_user << "\n";
  out << "  master_secret: " << s.database.master_secret << "\n";
  c("  # The writer: no password, INSERT/UPDATE/DELETE in the schemas, no SELECT, no DDL.\n");
  out << "  user: " << s.database.user << "\n";
  c("  # The writer's own secret, read by the proxy for standard (SECRETS) backend logins.\n");
  out << "  user_secret: " << s.database.user_secret << "\n";
  out << "  schemas: " << quoted_list(s.database.schemas) << "\n";
  c("  # strict: no SELECT at all, so UPDATE/DELETE with a WHERE clause cannot work.\n"
    "  # keyed:  SELECT on primary-key columns only, so keyed UPDATE/DELETE work.\n");
  out << "  write_mode: " << write_mode_name(s.database.write_mode) << "\n";
  c("  # Roles that create tables in the schemas (default privileges are set FOR ROLE each).\n"
    "  # Empty: the admin role that runs `writegate provision`.\n");
  out << "  table_owners: " << quoted_list(s.database.table_owners) << "\n";
  c("  # The security group the database wears (one of security_groups below).\n");
  out << "  security_group: " << s.database.security_group << "\n\n";
  c("# RDS Proxy (locally: writegate-proxy). TLS and IAM authentication are always required.\n");
  out << "proxy:\n";
  out << "  name: " << s.proxy.name << "\n";
  out << "  port: " << s.proxy.port << "\n";
  out << "  require_tls: " << (s.proxy.require_tls ? "true" : "false") << "\n";
  out << "  iam_auth: " << s.proxy.iam_auth << "\n";
  c("  # IAM_AUTH: end-to-end IAM (the proxy logs in with a token of its role; the writer is in\n"
    "  # rds_iam, no password anywhere). SECRETS: the proxy logs in with the writer's secret.\n");
  out << "  backend_auth: " << s.proxy.backend_auth << "\n";
  if (!s.proxy.resource_id.empty()) {
    out << "  resource_id: " << s.proxy.resource_id << "\n";
  } else {
    c("  # resource_id: prx-0123456789abcdef0   # set by the stack when empty\n");
  }
  c("  # The security group the proxy wears (one of security_groups below).\n");
  out << "  security_group: " << s.proxy.security_group << "\n";
  c("  # RDS Proxy's pool settings, with RDS Proxy's defaults (timeouts in seconds).\n");
  out << "  pool:\n";
  out << "    max_connections_percent: " << s.proxy.pool.max_connections_percent << "\n";
  out << "    max_idle_connections_percent: " << s.proxy.pool.max_idle_connections_percent << "\n";
  out << "    connection_borrow_timeout: " << s.proxy.pool.connection_borrow_timeout_seconds
      << "\n";
  out << "    idle_client_timeout: " << s.proxy.pool.idle_client_timeout_seconds << "\n";
  out << "    session_pinning_filters: " << quoted_list(s.proxy.pool.session_pinning_filters)
      << "\n";
  if (!s.proxy.pool.init_query.empty()) {
    std::string quoted = "\"";
    for (const char ch : s.proxy.pool.init_query) {
      if (ch == '"' || ch == '\\') quoted += '\\';
      if (ch == '\n') {
        quoted += "\\n";
        continue;
      }
      quoted += ch;
    }
    out << "    init_query: " << quoted << "\"\n\n";
  } else {
    c("    # init_query: \"SET lock_timeout = '5s'\"   # InitQuery, run on each new connection\n");
    out << "\n";
  }
  c("# The Lambda function (custom runtime; the binary is `bootstrap`).\n");
  out << "function:\n";
  out << "  name: " << s.function.name << "\n";
  out << "  runtime: " << s.function.runtime << "\n";
  out << "  architecture: " << s.function.architecture << "\n";
  out << "  timeout: " << s.function.timeout_seconds << "\n";
  out << "  memory_size: " << s.function.memory_mb << "\n";
  c("  # ReservedConcurrentExecutions on AWS; 0: none reserved.\n");
  out << "  reserved_concurrency: " << s.function.reserved_concurrency << "\n";
  c("  # The security group the function wears (one of security_groups below).\n");
  out << "  security_group: " << s.function.security_group << "\n\n";
  c("# IAM roles: the function's (rds-db:connect only) and the proxy's (its secret only).\n");
  out << "iam:\n";
  out << "  lambda_role: " << s.iam.lambda_role << "\n";
  out << "  proxy_role: " << s.iam.proxy_role << "\n\n";
  c("# Security groups: traffic flows only function -> proxy -> database.\n"
    "# A group with no egress rules gets no egress at all (AWS's default allow-all is revoked).\n");
  out << "security_groups:\n";
  for (const auto& group : s.security_groups) {
    out << "  - name: " << group.name << "\n";
    if (!group.description.empty()) out << "    description: \"" << group.description << "\"\n";
    emit_rules(out, "ingress", group.ingress);
    emit_rules(out, "egress", group.egress);
  }
  c("\n# What only the AWS deployment needs (`writegate render`); the local stack ignores it.\n"
    "# cluster: create (the template makes the Aurora cluster) or existing (database.cluster).\n");
  out << "\ndeploy:\n";
  out << "  cluster: " << s.deploy.cluster << "\n";
  out << "  engine_version: \"" << s.deploy.engine_version << "\"\n";
  out << "  instance_class: " << s.deploy.instance_class << "\n";
  c("  # Serverless v2 capacity in ACUs (db.serverless only).\n");
  out << "  min_capacity: " << s.deploy.min_capacity << "\n";
  out << "  max_capacity: " << s.deploy.max_capacity << "\n";
  out << "  log_retention_days: " << s.deploy.log_retention_days << "\n";
  return out.str();
}
}  // namespace

std::string default_yaml_with_comments() {
  return emit(Spec{}, true);
}

std::string to_yaml(const Spec& spec) {
  return emit(spec, false);
}

}  // namespace writegate::spec
