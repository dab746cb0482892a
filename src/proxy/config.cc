#include "proxy/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <fstream>
#include <set>
#include <sstream>

namespace writegate::proxy {
namespace {

Error config_error(const std::string& file, const YAML::Node& node, const std::string& field,
                   const std::string& what) {
  std::ostringstream out;
  out << file;
  if (node.Mark().line >= 0) out << ":" << node.Mark().line + 1 << ":" << node.Mark().column + 1;
  out << ": " << field << ": " << what;
  return Error::invalid_argument(out.str());
}

Status read_port(const std::string& file, const YAML::Node& node, const std::string& field,
                 int& out) {
  if (!node) return {};
  int value = -1;
  try {
    value = node.as<int>();
  } catch (const YAML::Exception&) {
  }
  if (value < 0 || value > 65535) {
    return config_error(file, node, field, "expected a port number 0..65535");
  }
  out = value;
  return {};
}

Status read_str(const std::string& file, const YAML::Node& node, const std::string& field,
                std::string& out) {
  if (!node) return {};
  if (!node.IsScalar() || node.Scalar().empty()) {
    return config_error(file, node, field, "expected a non-empty string");
  }
  out = node.Scalar();
  return {};
}

Status check_keys(const std::string& file, const YAML::Node& node, const std::string& field,
                  const std::set<std::string>& allowed) {
  if (!node.IsMap()) return config_error(file, node, field, "expected a mapping");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (!allowed.contains(key)) {
      std::string list;
      for (const auto& a : allowed)
        list += (list.empty() ? "" : ", ") + a;
      return config_error(file, kv.first, field.empty() ? key : field + "." + key,
                          "unknown key; allowed keys: " + list);
    }
  }
  return {};
}

Status read_int(const std::string& file, const YAML::Node& node, const std::string& field, int low,
                int high, int& out) {
  if (!node) return {};
  int value = low - 1;
  try {
    value = node.as<int>();
  } catch (const YAML::Exception&) {
  }
  if (value < low || value > high) {
    return config_error(file, node, field,
                        "expected " + std::to_string(low) + ".." + std::to_string(high));
  }
  out = value;
  return {};
}

Status read_list(const std::string& file, const YAML::Node& node, const std::string& field,
                 std::vector<std::string>& out) {
  if (!node) return {};
  if (!node.IsSequence() || node.size() == 0) {
    return config_error(file, node, field, "expected a non-empty list");
  }
  out.clear();
  for (const auto& item : node) {
    if (!item.IsScalar() || item.Scalar().empty()) {
      return config_error(file, item, field, "expected a non-empty string");
    }
    out.push_back(item.Scalar());
  }
  return {};
}

// Secrets travel over this link: https, or http to a loopback address only.
Status check_secrets_endpoint(const std::string& file, const std::string& url) {
  if (url.starts_with("https://")) return {};
  if (url.starts_with("http://")) {
    std::string host = url.substr(7);
    host = host.substr(0, host.find('/'));
    if (host.starts_with("[")) {
      host = host.substr(1, host.find(']') - 1);
    } else {
      host = host.substr(0, host.find(':'));
    }
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(host, ec);
    if (host == "localhost" || (!ec && address.is_loopback())) return {};
    return Error::invalid_argument(file + ": secrets.endpoint: " + url +
                                   " is plain http to a non-loopback host; use https://");
  }
  return Error::invalid_argument(file + ": secrets.endpoint: '" + url + "' is not an http(s) URL");
}

}  // namespace

Result<ProxyConfig> load_config(const spec::Spec& spec, const std::string& config_file) {
  ProxyConfig c;
  c.region = spec.region;
  c.account_id = spec.account_id;
  c.resource_id = spec.proxy.resource_id;
  c.listen_port = spec.proxy.port;
  c.proxy_name = spec.proxy.name;
  c.proxy_role = spec.iam.proxy_role;
  c.database = spec.database.name;
  c.writer_user = spec.database.user;
  c.user_secret_name = spec.database.user_secret;
  c.idle_client_timeout_seconds = spec.proxy.pool.idle_client_timeout_seconds;
  c.max_connections_percent = spec.proxy.pool.max_connections_percent;
  c.max_idle_connections_percent = spec.proxy.pool.max_idle_connections_percent;
  c.connection_borrow_timeout_ms = spec.proxy.pool.connection_borrow_timeout_seconds * 1000;
  c.init_query = spec.proxy.pool.init_query;
  for (const auto& filter : spec.proxy.pool.session_pinning_filters) {
    if (filter == "EXCLUDE_VARIABLE_SETS") c.exclude_variable_sets = true;
  }
  if (config_file.empty()) {
    return Error::invalid_argument("writegate-proxy needs --config FILE (TLS files, backend)");
  }
  YAML::Node root;
  try {
    std::ifstream in(config_file);
    if (!in) return Error::not_found("cannot read proxy config " + config_file);
    root = YAML::Load(in);
  } catch (const YAML::Exception& e) {
    return Error::invalid_argument(config_file + ":" + std::to_string(e.mark.line + 1) +
                                   ": not valid YAML: " + e.msg);
  }
  const std::string& f = config_file;
  try {
    WG_RETURN_IF_ERROR(check_keys(f, root, "",
                                  {"listen",
                                   "endpoint_names",
                                   "endpoint_port",
                                   "tls_cert",
                                   "tls_key",
                                   "state_dir",
                                   "resource_id",
                                   "backend",
                                   "secrets",
                                   "secrets_file",
                                   "log_file",
                                   "log_max_bytes",
                                   "log_keep",
                                   "settings_file",
                                   "auth_timeout",
                                   "max_client_connections",
                                   "max_unauthenticated_connections",
                                   "max_unauthenticated_per_source",
                                   "verify_threads",
                                   "databases",
                                   "admin_listen",
                                   "pool",
                                   "shutdown_grace",
                                   "workers"}));
    if (const auto p = root["pool"]) {
      WG_RETURN_IF_ERROR(check_keys(f, p, "pool",
                                    {"max_database_connections", "max_prepared_statements",
                                     "connection_borrow_timeout_ms", "idle_timeout_ms"}));
      WG_RETURN_IF_ERROR(read_int(f, p["max_database_connections"], "pool.max_database_connections",
                                  1, 100000, c.max_database_connections));
      WG_RETURN_IF_ERROR(read_int(f, p["max_prepared_statements"], "pool.max_prepared_statements",
                                  1, 100000, c.max_prepared_statements));
      WG_RETURN_IF_ERROR(read_int(f, p["connection_borrow_timeout_ms"],
                                  "pool.connection_borrow_timeout_ms", 1, 3'600'000,
                                  c.connection_borrow_timeout_ms));
      WG_RETURN_IF_ERROR(read_int(f, p["idle_timeout_ms"], "pool.idle_timeout_ms", 1, 86'400'000,
                                  c.pool_idle_timeout_ms));
    }
    if (root["listen"]) {
      const std::string listen = root["listen"].Scalar();
      const auto colon = listen.rfind(':');
      if (colon == std::string::npos) {
        return config_error(f, root["listen"], "listen", "expected address:port");
      }
      c.listen_host = listen.substr(0, colon);
      try {
        c.listen_port = std::stoi(listen.substr(colon + 1));
      } catch (const std::exception&) {
        return config_error(f, root["listen"], "listen", "expected address:port");
      }
      if (c.listen_port < 0 || c.listen_port > 65535) {
        return config_error(f, root["listen"], "listen", "port out of range");
      }
    }
    WG_RETURN_IF_ERROR(read_list(f, root["endpoint_names"], "endpoint_names", c.endpoint_names));
    WG_RETURN_IF_ERROR(read_list(f, root["databases"], "databases", c.databases));
    if (const auto admin = root["admin_listen"]) {
      const std::string text = admin.IsScalar() ? admin.Scalar() : "";
      const auto colon = text.rfind(':');
      int port = -1;
      if (colon != std::string::npos && colon > 0) {
        try {
          port = std::stoi(text.substr(colon + 1));
        } catch (const std::exception&) {
        }
      }
      if (port < 0 || port > 65535) {
        return config_error(f, admin, "admin_listen", "expected address:port");
      }
      c.admin_host = text.substr(0, colon);
      c.admin_port = port;
    }
    WG_RETURN_IF_ERROR(read_port(f, root["endpoint_port"], "endpoint_port", c.endpoint_port));
    WG_RETURN_IF_ERROR(read_str(f, root["tls_cert"], "tls_cert", c.tls_cert_file));
    WG_RETURN_IF_ERROR(read_str(f, root["tls_key"], "tls_key", c.tls_key_file));
    WG_RETURN_IF_ERROR(read_str(f, root["state_dir"], "state_dir", c.state_dir));
    WG_RETURN_IF_ERROR(read_str(f, root["resource_id"], "resource_id", c.resource_id));
    WG_RETURN_IF_ERROR(read_str(f, root["secrets_file"], "secrets_file", c.secrets_file));
    WG_RETURN_IF_ERROR(read_str(f, root["log_file"], "log_file", c.log_file));
    WG_RETURN_IF_ERROR(read_str(f, root["settings_file"], "settings_file", c.settings_file));
    if (const auto n = root["log_max_bytes"]) {
      int bytes = 0;
      WG_RETURN_IF_ERROR(read_int(f, n, "log_max_bytes", 0, 1 << 30, bytes));
      if (bytes != 0 && bytes < 64 * 1024) {
        return config_error(f, n, "log_max_bytes", "must be 0 (no rotation) or at least 65536");
      }
      c.log_max_bytes = bytes;
    }
    WG_RETURN_IF_ERROR(read_int(f, root["log_keep"], "log_keep", 1, 1000, c.log_keep));
    if (const auto b = root["backend"]) {
      WG_RETURN_IF_ERROR(check_keys(f, b, "backend",
                                    {"host", "port", "ca_file", "server_name", "connect_timeout",
                                     "require_auth", "source_address", "auth"}));
      std::string auth = "password";
      WG_RETURN_IF_ERROR(read_str(f, b["auth"], "backend.auth", auth));
      if (auth != "password" && auth != "iam") {
        return config_error(f, b["auth"], "backend.auth",
                            "'" + auth + "' is not allowed; use password or iam");
      }
      c.backend.auth = auth == "iam" ? BackendAuth::kIam : BackendAuth::kPassword;
      // A token goes as a cleartext password (only ever inside the verified TLS link).
      if (c.backend.auth == BackendAuth::kIam) c.backend.require_auth = {"password"};
      WG_RETURN_IF_ERROR(read_int(f, b["connect_timeout"], "backend.connect_timeout", 1, 600,
                                  c.backend.connect_timeout_seconds));
      if (const auto methods = b["require_auth"]) {
        std::vector<std::string> names;
        if (methods.IsScalar()) {
          std::string text = methods.Scalar();
          for (std::size_t start = 0; start <= text.size();) {
            const auto comma = std::min(text.find(',', start), text.size());
            names.push_back(text.substr(start, comma - start));
            start = comma + 1;
          }
        } else {
          WG_RETURN_IF_ERROR(read_list(f, methods, "backend.require_auth", names));
        }
        c.backend.require_auth.clear();
        for (const auto& name : names) {
          if (name != "scram-sha-256" && name != "md5" && name != "password" && name != "none") {
            return config_error(
                f, methods, "backend.require_auth",
                "'" + name + "' is not allowed; use scram-sha-256, md5, password, none");
          }
          c.backend.require_auth.insert(name);
        }
        if (c.backend.auth == BackendAuth::kIam &&
            c.backend.require_auth != std::set<std::string>{"password"}) {
          return config_error(f, methods, "backend.require_auth",
                              "with backend.auth iam the token is sent as a cleartext password: "
                              "require_auth must be [password]");
        }
      }
      WG_RETURN_IF_ERROR(read_str(f, b["host"], "backend.host", c.backend.host));
      WG_RETURN_IF_ERROR(read_port(f, b["port"], "backend.port", c.backend.port));
      WG_RETURN_IF_ERROR(read_str(f, b["ca_file"], "backend.ca_file", c.backend.ca_file));
      WG_RETURN_IF_ERROR(
          read_str(f, b["server_name"], "backend.server_name", c.backend.server_name));
      WG_RETURN_IF_ERROR(
          read_str(f, b["source_address"], "backend.source_address", c.backend.source_address));
      if (!c.backend.source_address.empty()) {
        boost::system::error_code ec;
        boost::asio::ip::make_address(c.backend.source_address, ec);
        if (ec) {
          return config_error(f, b["source_address"], "backend.source_address",
                              "'" + c.backend.source_address + "' is not an IP address");
        }
      }
    } else {
      return config_error(f, root, "backend", "required: {host, port, ca_file}");
    }
    if (const auto s = root["secrets"]) {
      WG_RETURN_IF_ERROR(check_keys(f, s, "secrets", {"endpoint", "ca_file"}));
      WG_RETURN_IF_ERROR(read_str(f, s["endpoint"], "secrets.endpoint", c.secrets_endpoint));
      WG_RETURN_IF_ERROR(read_str(f, s["ca_file"], "secrets.ca_file", c.secrets_ca_file));
    }
    for (const auto& [key, target, low, high] :
         {std::tuple{"auth_timeout", &c.auth_timeout_seconds, 1, 600},
          std::tuple{"shutdown_grace", &c.shutdown_grace_seconds, 0, 3600},
          std::tuple{"max_client_connections", &c.max_client_connections, 1, 100000},
          std::tuple{"max_unauthenticated_connections", &c.max_unauthenticated_connections, 1,
                     100000},
          std::tuple{"max_unauthenticated_per_source", &c.max_unauthenticated_per_source, 1,
                     100000},
          std::tuple{"verify_threads", &c.verify_threads, 1, 64},
          std::tuple{"workers", &c.workers, 0, 64}}) {
      WG_RETURN_IF_ERROR(read_int(f, root[key], key, low, high, *target));
    }
  } catch (const YAML::Exception& e) {
    return Error::invalid_argument(config_file + ": " + e.msg);
  }
  if (c.tls_cert_file.empty() || c.tls_key_file.empty()) {
    return Error::invalid_argument(
        config_file + ": tls_cert and tls_key are required: the proxy only speaks TLS");
  }
  if (c.backend.ca_file.empty()) {
    return Error::invalid_argument(config_file +
                                   ": backend.ca_file is required: the proxy verifies the "
                                   "database's certificate (verify-full)");
  }
  if (c.backend.server_name.empty()) c.backend.server_name = c.backend.host;
  if (c.backend.auth == BackendAuth::kPassword && c.secrets_endpoint.empty() &&
      c.secrets_file.empty()) {
    return Error::invalid_argument(config_file +
                                   ": say where users' secrets come from: secrets.endpoint "
                                   "(Secrets Manager) or secrets_file (or use backend.auth iam)");
  }
  if (!c.secrets_endpoint.empty()) {
    WG_RETURN_IF_ERROR(check_secrets_endpoint(config_file, c.secrets_endpoint));
  }
  if (c.endpoint_names.empty()) c.endpoint_names = {"localhost"};
  if (c.databases.empty()) c.databases = {c.database};
  return c;
}

}  // namespace writegate::proxy
