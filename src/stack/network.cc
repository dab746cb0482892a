#include "stack/network.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/netns.h"
#include "common/process.h"

namespace writegate::stack {
namespace {

constexpr Component kComponents[] = {Component::kLambda, Component::kProxy, Component::kAurora};
constexpr std::size_t kMaxLinkName = 15;  // IFNAMSIZ - 1

// Short names keep "<stack id>-<short>-h" within 15 characters.
std::string_view short_name(Component component) {
  switch (component) {
    case Component::kLambda:
      return "lam";
    case Component::kProxy:
      return "prx";
    case Component::kAurora:
      return "aur";
  }
  return "unk";
}

int host_number(Component component) {
  switch (component) {
    case Component::kLambda:
      return 10;
    case Component::kProxy:
      return 20;
    case Component::kAurora:
      return 30;
  }
  return 0;
}

const spec::SecurityGroup* find_group(const spec::Spec& spec, const std::string& name) {
  for (const auto& group : spec.security_groups) {
    if (group.name == name) return &group;
  }
  return nullptr;
}

// The addresses of every member that wears `group`.
std::vector<std::string> addresses_wearing(const NetworkPlan& plan, const std::string& group) {
  std::vector<std::string> addresses;
  for (const auto& member : plan.members) {
    if (member.security_group == group) addresses.push_back(member.address);
  }
  return addresses;
}

bool rule_allows(const std::vector<spec::SecurityGroupRule>& rules, const std::string& peer,
                 int port) {
  return std::any_of(rules.begin(), rules.end(), [&](const spec::SecurityGroupRule& rule) {
    return rule.protocol == "tcp" && rule.port == port && rule.peer == peer;
  });
}

std::string tool(const std::string& name) {
  return find_program(name, {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}).value_or(name);
}

std::string joined(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& arg : argv)
    text += (text.empty() ? "" : " ") + arg;
  return text;
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text;
}

// One command of a step; the error names the step, the command and what it printed.
Status run_step(const std::string& step, const std::vector<std::string>& argv,
                const std::string& stdin_data = "") {
  ProcessOptions options;
  options.stdin_data = stdin_data;
  options.timeout = std::chrono::seconds(30);
  auto out = run_process(argv, options);
  if (!out) return std::move(out).error().with_context(step);
  if (out->exit_code != 0) {
    return Error::io(step + ": `" + joined(argv) + "` exited with " +
                     std::to_string(out->exit_code) + ": " + trimmed(out->output));
  }
  return {};
}

bool namespace_exists(const std::string& netns) {
  std::error_code ignored;
  return std::filesystem::exists(netns_path(netns), ignored);
}

bool link_exists(const std::string& link) {
  std::error_code ignored;
  return std::filesystem::exists("/sys/class/net/" + link, ignored);
}

std::string netns_folder(const std::string& netns) {
  return "/etc/netns/" + netns;
}

// Writes "1" to a sysctl file of the calling thread's namespace; a missing file (no IPv6 in
// this kernel) is fine.
Status write_sysctl_if_present(const std::string& path, const std::string& value) {
  std::error_code ignored;
  if (!std::filesystem::exists(path, ignored)) return {};
  std::ofstream out(path);
  out << value;
  out.flush();
  if (!out) return Error::io("cannot write " + path + ": " + std::strerror(errno));
  return {};
}

Status disable_ipv6_in(const std::string& netns) {
  Status status;
  WG_RETURN_IF_ERROR(run_in_netns(netns, [&] {
    for (const char* scope : {"all", "default", "lo"}) {
      if (!status) return;
      status = write_sysctl_if_present(
          std::string("/proc/sys/net/ipv6/conf/") + scope + "/disable_ipv6", "1");
    }
  }));
  return status;
}

// What create_network made so far, undone in reverse on a failure.
struct Made {
  std::string bridge;              // empty until made
  std::vector<std::string> veths;  // the host ends
  std::vector<std::string> namespaces;
  std::vector<std::string> folders;
};

// Host veths first (that removes their namespace ends at once; a namespace's own removal is
// asynchronous), then the namespaces, the bridge and the folders.
Status remove_pieces(const Made& pieces) {
  std::vector<std::string> failures;
  const std::string ip = tool("ip");
  auto remove_link = [&](const std::string& link) {
    if (!link_exists(link)) return;
    Status removed = run_step("remove link " + link, {ip, "link", "del", "dev", link});
    if (!removed && link_exists(link)) failures.push_back(removed.error().message());
  };
  for (const auto& veth : pieces.veths)
    remove_link(veth);
  for (const auto& netns : pieces.namespaces) {
    if (!namespace_exists(netns)) continue;
    Status removed = run_step("remove namespace " + netns, {ip, "netns", "del", netns});
    if (!removed && namespace_exists(netns)) failures.push_back(removed.error().message());
  }
  if (!pieces.bridge.empty()) remove_link(pieces.bridge);
  for (const auto& folder : pieces.folders) {
    std::error_code error;
    std::filesystem::remove_all(folder, error);
    if (error) failures.push_back("remove folder " + folder + ": " + error.message());
  }
  if (failures.empty()) return {};
  std::string message = "could not remove everything of the network:";
  for (const auto& failure : failures)
    message += "\n  " + failure;
  return Error::io(message);
}

Status create_member(const NetworkPlan& plan, const spec::Spec& spec, const NetworkMember& member,
                     Made& made) {
  const std::string ip = tool("ip");
  const std::string& ns = member.netns;
  WG_RETURN_IF_ERROR(run_step("create namespace " + ns, {ip, "netns", "add", ns}));
  made.namespaces.push_back(ns);
  Status ipv6 = disable_ipv6_in(ns);
  if (!ipv6) return std::move(ipv6).error().with_context("turn off IPv6 in " + ns);
  // The security groups hold before any link of the namespace is up.
  std::vector<std::string> nft = ip_netns_exec_prefix(ns);
  nft.insert(nft.end(), {tool("nft"), "-f", "-"});
  WG_RETURN_IF_ERROR(run_step("load the security groups into " + ns, nft,
                              render_nftables(plan, spec, member.component)));

  const std::string folder = netns_folder(ns);
  made.folders.push_back(folder);
  {
    std::error_code error;
    std::filesystem::create_directories(folder, error);
    std::ofstream hosts(folder + "/hosts");
    hosts << "127.0.0.1\tlocalhost\n";
    for (const auto& [name, address] : plan.hosts)
      hosts << address << "\t" << name << "\n";
    hosts.flush();
    if (error || !hosts) {
      return Error::io("write " + folder +
                       "/hosts: " + (error ? error.message() : std::string(std::strerror(errno))));
    }
  }

  WG_RETURN_IF_ERROR(run_step("create veth " + member.host_veth + " for " + ns,
                              {ip, "link", "add", member.host_veth, "type", "veth", "peer", "name",
                               member.ns_veth, "netns", ns}));
  made.veths.push_back(member.host_veth);
  WG_RETURN_IF_ERROR(run_step("attach " + member.host_veth + " to " + plan.bridge,
                              {ip, "link", "set", "dev", member.host_veth, "master", plan.bridge}));
  Status quiet =
      write_sysctl_if_present("/proc/sys/net/ipv6/conf/" + member.host_veth + "/disable_ipv6", "1");
  if (!quiet) return std::move(quiet).error().with_context("turn off IPv6 on " + member.host_veth);
  WG_RETURN_IF_ERROR(
      run_step("bring up " + member.host_veth, {ip, "link", "set", "dev", member.host_veth, "up"}));
  const std::string cidr = member.address + "/" + std::to_string(plan.prefix_length);
  WG_RETURN_IF_ERROR(run_step("address " + member.ns_veth + " in " + ns,
                              {ip, "-n", ns, "addr", "add", cidr, "dev", member.ns_veth}));
  WG_RETURN_IF_ERROR(run_step("bring up " + member.ns_veth + " in " + ns,
                              {ip, "-n", ns, "link", "set", "dev", member.ns_veth, "up"}));
  WG_RETURN_IF_ERROR(
      run_step("bring up lo in " + ns, {ip, "-n", ns, "link", "set", "dev", "lo", "up"}));
  return {};
}

Status create_all(const NetworkPlan& plan, const spec::Spec& spec, Made& made) {
  const std::string ip = tool("ip");
  WG_RETURN_IF_ERROR(run_step("create bridge " + plan.bridge,
                              {ip, "link", "add", "name", plan.bridge, "type", "bridge"}));
  made.bridge = plan.bridge;
  // No address at all on the bridge, not even an IPv6 link-local one: the host is not in the VPC.
  Status quiet =
      write_sysctl_if_present("/proc/sys/net/ipv6/conf/" + plan.bridge + "/disable_ipv6", "1");
  if (!quiet) return std::move(quiet).error().with_context("turn off IPv6 on " + plan.bridge);
  WG_RETURN_IF_ERROR(
      run_step("bring up " + plan.bridge, {ip, "link", "set", "dev", plan.bridge, "up"}));
  for (const auto& member : plan.members) {
    WG_RETURN_IF_ERROR(create_member(plan, spec, member, made));
  }
  return {};
}

}  // namespace

std::string_view component_name(Component component) {
  switch (component) {
    case Component::kLambda:
      return "lambda";
    case Component::kProxy:
      return "proxy";
    case Component::kAurora:
      return "aurora";
  }
  return "unknown";
}

const NetworkMember& NetworkPlan::member(Component component) const {
  for (const auto& candidate : members) {
    if (candidate.component == component) return candidate;
  }
  // plan_network always makes all three; a hand-made plan without one is a programming error.
  static const NetworkMember kNone{component, "", "", "", "", ""};
  return kNone;
}

NetworkPlan plan_network(const spec::Spec& spec, const std::string& stack_id,
                         std::vector<std::pair<std::string, std::string>> hosts) {
  NetworkPlan plan;
  plan.stack_id = stack_id;
  plan.bridge = stack_id + "-br";
  plan.hosts = std::move(hosts);
  for (const Component component : kComponents) {
    NetworkMember member;
    member.component = component;
    member.netns = stack_id + "-" + std::string(component_name(component));
    member.address = "172.31.0." + std::to_string(host_number(component));
    member.host_veth = stack_id + "-" + std::string(short_name(component)) + "-h";
    member.ns_veth = stack_id + "-" + std::string(short_name(component)) + "-n";
    member.security_group = component == Component::kLambda  ? spec.function.security_group
                            : component == Component::kProxy ? spec.proxy.security_group
                                                             : spec.database.security_group;
    plan.members.push_back(std::move(member));
  }
  return plan;
}

Status validate_plan(const NetworkPlan& plan, const spec::Spec& spec) {
  static const std::regex kStackId("[a-z0-9]{2,6}");
  static const std::regex kAddress(
      "(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}");
  static const std::regex kHostName("[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?");
  if (!std::regex_match(plan.stack_id, kStackId)) {
    return Error::invalid_argument("stack id '" + plan.stack_id +
                                   "' is not 2 to 6 lower-case letters or digits");
  }
  std::vector<std::string> links = {plan.bridge};
  for (const auto& member : plan.members) {
    links.push_back(member.host_veth);
    links.push_back(member.ns_veth);
    if (!std::regex_match(member.address, kAddress)) {
      return Error::invalid_argument("address '" + member.address + "' of " + member.netns +
                                     " is not an IPv4 address");
    }
    if (find_group(spec, member.security_group) == nullptr) {
      return Error::invalid_argument(std::string(component_name(member.component)) +
                                     " wears security group '" + member.security_group +
                                     "', which the spec does not define");
    }
  }
  for (const auto& link : links) {
    if (link.empty() || link.size() > kMaxLinkName || link.find('/') != std::string::npos) {
      return Error::invalid_argument("link name '" + link + "' is not 1 to 15 characters");
    }
  }
  for (const auto& [name, address] : plan.hosts) {
    if (!std::regex_match(name, kHostName) || !std::regex_match(address, kAddress)) {
      return Error::invalid_argument("hosts entry '" + name + "' -> '" + address +
                                     "' is not a host name and an IPv4 address");
    }
  }
  return {};
}

std::string render_nftables(const NetworkPlan& plan, const spec::Spec& spec, Component component) {
  const NetworkMember& self = plan.member(component);
  const spec::SecurityGroup* group = find_group(spec, self.security_group);
  std::ostringstream out;
  out << "# writegate " << plan.stack_id << ": the security group " << self.security_group << " of "
      << component_name(component) << " (" << self.netns << ", " << self.address << ")\n";
  out << "# Default deny both ways; only the group's rules, loopback and return traffic pass.\n";
  out << "table inet writegate {\n";
  auto chain = [&](const char* name, const char* hook, const char* loopback, const char* peer_key,
                   const char* direction, const char* preposition,
                   const std::vector<spec::SecurityGroupRule>* rules) {
    out << "  chain " << name << " {\n";
    out << "    type filter hook " << hook << " priority filter; policy drop;\n";
    out << "    " << loopback << " \"lo\" accept\n";
    out << "    ct state established,related accept\n";
    if (rules != nullptr) {
      for (const auto& rule : *rules) {
        const std::string what = self.security_group + " " + direction + " " + rule.protocol + "/" +
                                 std::to_string(rule.port) + " " + preposition + " " + rule.peer;
        const auto addresses = addresses_wearing(plan, rule.peer);
        if (addresses.empty()) {
          out << "    # " << what << ": no member wears " << rule.peer << "\n";
          continue;
        }
        std::string set;
        for (const auto& address : addresses)
          set += (set.empty() ? "" : ", ") + address;
        out << "    " << peer_key << " { " << set << " } " << rule.protocol << " dport "
            << rule.port << " accept comment \"" << what << "\"\n";
      }
    }
    out << "  }\n";
  };
  chain("input", "input", "iif", "ip saddr", "ingress", "from",
        group != nullptr ? &group->ingress : nullptr);
  chain("output", "output", "oif", "ip daddr", "egress", "to",
        group != nullptr ? &group->egress : nullptr);
  out << "}\n";
  return out.str();
}

bool security_groups_allow(const spec::Spec& spec, const NetworkPlan& plan, Component from,
                           Component to, int port) {
  if (from == to) return true;
  const spec::SecurityGroup* source = find_group(spec, plan.member(from).security_group);
  const spec::SecurityGroup* target = find_group(spec, plan.member(to).security_group);
  if (source == nullptr || target == nullptr) return false;
  return rule_allows(source->egress, target->name, port) &&
         rule_allows(target->ingress, source->name, port);
}

Status create_network(const NetworkPlan& plan, const spec::Spec& spec) {
  WG_RETURN_IF_ERROR(validate_plan(plan, spec));
  for (const auto& member : plan.members) {
    if (namespace_exists(member.netns)) {
      return Error::already_exists("create namespace " + member.netns +
                                   ": it exists already (a stack with this id is up or was not "
                                   "taken down: writegate down)");
    }
    if (link_exists(member.host_veth)) {
      return Error::already_exists("create veth " + member.host_veth +
                                   ": a link of that name "
                                   "exists already");
    }
  }
  if (link_exists(plan.bridge)) {
    return Error::already_exists("create bridge " + plan.bridge +
                                 ": a link of that name exists already");
  }
  Made made;
  Status created = create_all(plan, spec, made);
  if (created) return {};
  Status undone = remove_pieces(made);
  if (!undone) {
    return Error(created.error().code(),
                 created.error().message() + "\nand then " + undone.error().message());
  }
  return created;
}

Status remove_network(const NetworkPlan& plan) {
  Made all;
  for (const auto& member : plan.members) {
    all.veths.push_back(member.host_veth);
    all.namespaces.push_back(member.netns);
    all.folders.push_back(netns_folder(member.netns));
  }
  all.bridge = plan.bridge;
  return remove_pieces(all);
}

std::vector<std::string> network_leftovers(const NetworkPlan& plan) {
  std::vector<std::string> left;
  for (const auto& member : plan.members) {
    if (namespace_exists(member.netns)) left.push_back("namespace " + member.netns);
  }
  for (const auto& member : plan.members) {
    if (link_exists(member.host_veth)) left.push_back("link " + member.host_veth);
  }
  if (link_exists(plan.bridge)) left.push_back("link " + plan.bridge);
  for (const auto& member : plan.members) {
    std::error_code ignored;
    if (std::filesystem::exists(netns_folder(member.netns), ignored)) {
      left.push_back("folder " + netns_folder(member.netns));
    }
  }
  return left;
}

}  // namespace writegate::stack
