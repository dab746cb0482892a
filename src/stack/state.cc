#include "stack/state.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pki/pki.h"

namespace writegate::stack {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string read_link(const std::string& path) {
  std::error_code ec;
  auto target = fs::read_symlink(path, ec);
  return ec ? std::string() : target.string();
}

// The file that remembers the last stack brought up on this machine.
std::string current_file() {
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime && *runtime) {
    return std::string(runtime) + "/writegate/current";
  }
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.writegate/current";
}

}  // namespace

bool ComponentState::running() const {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  // A zombie has no exe link; a reused pid has another program.
  const std::string actual = read_link("/proc/" + std::to_string(pid) + "/exe");
  if (actual.empty()) return false;
  return exe.empty() || actual == exe || actual == exe + " (deleted)";
}

std::string StackState::file_path(const std::string& state_dir) {
  return state_dir + "/" + kStateFileName;
}

Result<StackState> StackState::load(const std::string& state_dir) {
  const std::string path = file_path(state_dir);
  std::ifstream in(path);
  if (!in) return Error::not_found("no stack in " + state_dir + " (`writegate up` makes one)");
  StackState s;
  try {
    const json j = json::parse(in);
    s.state_dir = j.at("state_dir").get<std::string>();
    s.status = j.at("status").get<std::string>();
    s.mode = j.at("mode").get<std::string>();
    s.stack_id = j.at("stack_id").get<std::string>();
    s.spec_file = j.value("spec_file", "");
    s.region = j.value("region", "");
    s.account_id = j.value("account_id", "");
    s.dns_code = j.value("dns_code", "");
    s.proxy_endpoint = j.value("proxy_endpoint", "");
    s.cluster_endpoint = j.value("cluster_endpoint", "");
    s.proxy_resource_id = j.value("proxy_resource_id", "");
    s.cluster_resource_id = j.value("cluster_resource_id", "");
    s.ca_file = j.value("ca_file", "");
    s.aurora_dir = j.value("aurora_dir", "");
    s.share_dir = j.value("share_dir", "");
    s.endpoint_url = j.value("endpoint_url", "");
    s.proxy_debug_logging = j.value("proxy_debug_logging", false);
    s.proxy_updated = j.value("proxy_updated", "");
    s.made = j.value("made", std::vector<std::string>{});
    const json empty = json::object();
    const json& components = j.contains("components") ? j.at("components") : empty;
    for (const auto& [name, c] : components.items()) {
      ComponentState component;
      component.name = name;
      component.pid = c.value("pid", 0);
      component.netns = c.value("netns", "");
      component.address = c.value("address", "");
      component.port = c.value("port", 0);
      component.log_file = c.value("log_file", "");
      component.exe = c.value("exe", "");
      component.admin_port = c.value("admin_port", 0);
      s.components.emplace(name, std::move(component));
    }
  } catch (const json::exception& e) {
    return Error::failed_precondition(path + " is damaged (" + e.what() +
                                      "); remove the stack's processes by hand or `writegate "
                                      "down --purge`");
  }
  return s;
}

Status StackState::save() const {
  json j;
  j["state_dir"] = state_dir;
  j["status"] = status;
  j["mode"] = mode;
  j["stack_id"] = stack_id;
  j["spec_file"] = spec_file;
  j["region"] = region;
  j["account_id"] = account_id;
  j["dns_code"] = dns_code;
  j["proxy_endpoint"] = proxy_endpoint;
  j["cluster_endpoint"] = cluster_endpoint;
  j["proxy_resource_id"] = proxy_resource_id;
  j["cluster_resource_id"] = cluster_resource_id;
  j["ca_file"] = ca_file;
  j["aurora_dir"] = aurora_dir;
  j["share_dir"] = share_dir;
  j["endpoint_url"] = endpoint_url;
  j["proxy_debug_logging"] = proxy_debug_logging;
  j["proxy_updated"] = proxy_updated;
  j["made"] = made;
  json components = json::object();
  for (const auto& [name, c] : this->components) {
    components[name] = {{"pid", c.pid},   {"netns", c.netns},       {"address", c.address},
                        {"port", c.port}, {"log_file", c.log_file}, {"exe", c.exe}};
    if (c.admin_port != 0) components[name]["admin_port"] = c.admin_port;
  }
  j["components"] = components;
  return pki::write_file(file_path(state_dir), j.dump(2) + "\n", 0600);
}

ComponentState& StackState::component(const std::string& name) {
  auto& c = components[name];
  c.name = name;
  return c;
}

const ComponentState* StackState::find(const std::string& name) const {
  auto it = components.find(name);
  return it == components.end() ? nullptr : &it->second;
}

bool StackState::has_made(const std::string& what) const {
  for (const auto& m : made)
    if (m == what) return true;
  return false;
}

std::string default_state_dir() {
  const std::string local = ".writegate/state";
  std::error_code ec;
  if (fs::exists(local, ec)) return local;
  std::ifstream in(current_file());
  std::string remembered;
  if (in && std::getline(in, remembered) && !remembered.empty() &&
      fs::exists(StackState::file_path(remembered), ec)) {
    return remembered;
  }
  return local;
}

Status remember_current(const std::string& state_dir) {
  const std::string file = current_file();
  std::error_code ec;
  fs::create_directories(fs::path(file).parent_path(), ec);
  if (ec) return Error::io("cannot create " + fs::path(file).parent_path().string());
  return pki::write_file(file, fs::absolute(state_dir).lexically_normal().string() + "\n", 0600);
}

void forget_current(const std::string& state_dir) {
  std::ifstream in(current_file());
  std::string remembered;
  if (in && std::getline(in, remembered) &&
      remembered == fs::absolute(state_dir).lexically_normal().string()) {
    in.close();
    std::error_code ec;
    fs::remove(current_file(), ec);
  }
}

}  // namespace writegate::stack
