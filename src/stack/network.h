// The local VPC: three network namespaces on a bridge, with the spec's security groups.
//
// `writegate up` runs the function (lambda), writegate-proxy (proxy) and PostgreSQL (aurora)
// each in a network namespace of its own, joined by a Linux bridge that has no address (the
// host is not in the VPC). Each namespace gets one `table inet writegate` whose input and
// output chains drop everything but exactly the spec's security-group rules, loopback inside
// the namespace and the return traffic of allowed connections. IPv6 is off in every namespace.
//
//   auto plan = stack::plan_network(spec, "wg3fa2", {{"db.local", "172.31.0.30"}});
//   if (auto made = stack::create_network(plan, spec); !made) return made.error();
//   ...  // ip netns exec wg3fa2-proxy writegate-proxy ...
//   if (auto gone = stack::remove_network(plan); !gone) report(gone.error());
//
// Planning, the nftables text and the reachability table are pure and unit-tested; only
// create_network/remove_network/network_leftovers touch the system (as root, with `ip` and
// `nft`).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "spec/spec.h"

namespace writegate::stack {

enum class Component { kLambda, kProxy, kAurora };
std::string_view component_name(Component component);  // "lambda", "proxy", "aurora"

struct NetworkMember {
  Component component;
  std::string netns;           // stack_id + "-" + component name, e.g. "wg3fa2-proxy"
  std::string address;         // its IPv4 address on the bridge, e.g. "172.31.0.20"
  std::string host_veth;       // the veth end on the bridge (root namespace)
  std::string ns_veth;         // the veth end inside the namespace
  std::string security_group;  // the spec group it wears (function/proxy/database.security_group)
};

struct NetworkPlan {
  std::string stack_id;  // [a-z0-9]{2,6}, e.g. "wg3fa2"
  std::string bridge;    // stack_id + "-br"
  std::string subnet = "172.31.0.0/24";
  int prefix_length = 24;
  std::vector<NetworkMember> members;  // lambda .10, proxy .20, aurora .30
  // name -> address, written to /etc/netns/<ns>/hosts of every member after "127.0.0.1
  // localhost"; `ip netns exec` shows that file as /etc/hosts.
  std::vector<std::pair<std::string, std::string>> hosts;

  const NetworkMember& member(Component component) const;
};

NetworkPlan plan_network(const spec::Spec& spec, const std::string& stack_id,
                         std::vector<std::pair<std::string, std::string>> hosts);

// Whether a plan can be created: the stack id's form, link names of at most 15 characters,
// every member's group defined in the spec. create_network checks it first.
Status validate_plan(const NetworkPlan& plan, const spec::Spec& spec);

// The nftables script (`nft -f`) of one member's namespace. A rule whose peer group no member
// wears is kept as a comment line.
std::string render_nftables(const NetworkPlan& plan, const spec::Spec& spec, Component component);

// Whether the security groups let `from` open a TCP connection to `to` on `port`: the egress of
// from's group and the ingress of to's group must both allow it (return traffic is stateful).
// A component always reaches itself (its own address goes over its loopback, as an instance's
// traffic to itself never meets its security group).
bool security_groups_allow(const spec::Spec& spec, const NetworkPlan& plan, Component from,
                           Component to, int port);

// Makes the bridge, the namespaces (IPv6 off, nftables loaded before any link is up), the veth
// pairs with their addresses, loopback up, and /etc/netns/<ns>/hosts. Refuses when one of the
// plan's namespaces or links exists already. On a failure it removes what it made and returns
// an error naming the step: "create namespace wg3fa2-proxy: ...".
Status create_network(const NetworkPlan& plan, const spec::Spec& spec);

// Removes the namespaces, veths, bridge and /etc/netns/<ns> folders of the plan. Pieces already
// gone are fine; the error lists what could not be removed.
Status remove_network(const NetworkPlan& plan);

// What of the plan still exists: "namespace wg3fa2-lambda", "link wg3fa2-br",
// "folder /etc/netns/wg3fa2-aurora". Empty when everything is gone.
std::vector<std::string> network_leftovers(const NetworkPlan& plan);

}  // namespace writegate::stack
