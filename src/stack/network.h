// TEMPORARY stand-in until the network helper's version lands (replaced at merge).
#pragma once
#include <string>
#include <utility>
#include <vector>
#include "common/result.h"
#include "spec/spec.h"
namespace writegate::stack {
enum class Component { kLambda, kProxy, kAurora };
struct NetworkMember { Component component; std::string netns; std::string address; std::string host_veth; std::string ns_veth; std::string security_group; };
struct NetworkPlan {
  std::string stack_id;
  std::string bridge;
  std::vector<NetworkMember> members;
  std::vector<std::pair<std::string, std::string>> hosts;
  const NetworkMember& member(Component c) const { return members.at(static_cast<int>(c)); }
};
inline NetworkPlan plan_network(const spec::Spec&, const std::string& id, std::vector<std::pair<std::string, std::string>> hosts) {
  NetworkPlan p; p.stack_id = id; p.bridge = id + "-br";
  p.members = {{Component::kLambda, id + "-lambda", "172.31.0.10", "", "", "lambda-sg"},
               {Component::kProxy, id + "-proxy", "172.31.0.20", "", "", "rds-proxy-sg"},
               {Component::kAurora, id + "-aurora", "172.31.0.30", "", "", "aurora-sg"}};
  p.hosts = std::move(hosts); return p;
}
// Stand-in (verify branch): same signature as the real one. Whether the spec's security groups
// let `from` open tcp/`port` to `to`: an egress rule of from's group naming to's group and an
// ingress rule of to's group naming from's group, both on that port.
inline bool security_groups_allow(const spec::Spec& spec, const NetworkPlan& plan, Component from,
                                  Component to, int port) {
  const std::string& a = plan.member(from).security_group;
  const std::string& b = plan.member(to).security_group;
  bool out = false, in = false;
  for (const auto& g : spec.security_groups) {
    for (const auto& r : g.egress)
      out = out || (g.name == a && r.peer == b && r.port == port && r.protocol == "tcp");
    for (const auto& r : g.ingress)
      in = in || (g.name == b && r.peer == a && r.port == port && r.protocol == "tcp");
  }
  return out && in;
}
inline Status create_network(const NetworkPlan&, const spec::Spec&) { return Error::unavailable("netns: not built yet"); }
inline Status remove_network(const NetworkPlan&) { return {}; }
inline std::vector<std::string> network_leftovers(const NetworkPlan&) { return {}; }
}  // namespace writegate::stack
