// The pure part of the local VPC: the plan, the nftables text and the reachability table.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "stack/network.h"

namespace writegate::stack {
namespace {

const std::vector<std::pair<std::string, std::string>> kHosts = {{"proxy.local", "172.31.0.20"},
                                                                 {"db.local", "172.31.0.30"}};

TEST(NetworkPlanTest, NamesAddressesAndGroupsOfTheDefaultSpec) {
  const spec::Spec spec;
  const NetworkPlan plan = plan_network(spec, "wg3fa2", kHosts);
  EXPECT_EQ(plan.bridge, "wg3fa2-br");
  EXPECT_EQ(plan.subnet, "172.31.0.0/24");
  EXPECT_EQ(plan.prefix_length, 24);
  ASSERT_EQ(plan.members.size(), 3u);
  const NetworkMember& lambda = plan.member(Component::kLambda);
  EXPECT_EQ(lambda.netns, "wg3fa2-lambda");
  EXPECT_EQ(lambda.address, "172.31.0.10");
  EXPECT_EQ(lambda.security_group, "lambda-sg");
  EXPECT_EQ(plan.member(Component::kProxy).netns, "wg3fa2-proxy");
  EXPECT_EQ(plan.member(Component::kProxy).address, "172.31.0.20");
  EXPECT_EQ(plan.member(Component::kProxy).security_group, "rds-proxy-sg");
  EXPECT_EQ(plan.member(Component::kAurora).netns, "wg3fa2-aurora");
  EXPECT_EQ(plan.member(Component::kAurora).address, "172.31.0.30");
  EXPECT_EQ(plan.member(Component::kAurora).security_group, "aurora-sg");
  EXPECT_EQ(plan.hosts, kHosts);
  EXPECT_EQ(component_name(Component::kLambda), "lambda");
  EXPECT_EQ(component_name(Component::kProxy), "proxy");
  EXPECT_EQ(component_name(Component::kAurora), "aurora");
}

TEST(NetworkPlanTest, LinkNamesFitInFifteenCharactersAndAreDistinct) {
  const spec::Spec spec;
  const NetworkPlan plan = plan_network(spec, "abcdef", {});  // the longest stack id
  std::vector<std::string> links = {plan.bridge};
  for (const auto& member : plan.members) {
    links.push_back(member.host_veth);
    links.push_back(member.ns_veth);
  }
  for (const auto& link : links)
    EXPECT_LE(link.size(), 15u) << link;
  std::sort(links.begin(), links.end());
  EXPECT_EQ(std::adjacent_find(links.begin(), links.end()), links.end());
  EXPECT_TRUE(validate_plan(plan, spec).ok());
}

TEST(NetworkPlanTest, ValidationNamesWhatIsWrong) {
  const spec::Spec spec;
  auto long_id = validate_plan(plan_network(spec, "abcdefg", {}), spec);
  ASSERT_FALSE(long_id.ok());
  EXPECT_EQ(long_id.error().message(),
            "stack id 'abcdefg' is not 2 to 6 lower-case letters or digits");
  auto bad_host = validate_plan(plan_network(spec, "wg1", {{"db\n1.2.3.4 evil", "1.2.3.4"}}), spec);
  ASSERT_FALSE(bad_host.ok());
  EXPECT_EQ(bad_host.error().message(),
            "hosts entry 'db\n1.2.3.4 evil' -> '1.2.3.4' is not a host name and an IPv4 address");
  spec::Spec other = spec;
  other.database.security_group = "nope";
  auto no_group = validate_plan(plan_network(other, "wg1", {}), other);
  ASSERT_FALSE(no_group.ok());
  EXPECT_EQ(no_group.error().message(),
            "aurora wears security group 'nope', which the spec does not define");
}

TEST(RenderNftablesTest, DefaultSpecExactText) {
  const spec::Spec spec;
  const NetworkPlan plan = plan_network(spec, "wg3fa2", kHosts);
  EXPECT_EQ(
      render_nftables(plan, spec, Component::kLambda),
      R"(# writegate wg3fa2: the security group lambda-sg of lambda (wg3fa2-lambda, 172.31.0.10)
# Default deny both ways; only the group's rules, loopback and return traffic pass.
table inet writegate {
  chain input {
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
  }
  chain output {
    type filter hook output priority filter; policy drop;
    oif "lo" accept
    ct state established,related accept
    ip daddr { 172.31.0.20 } tcp dport 5432 accept comment "lambda-sg egress tcp/5432 to rds-proxy-sg"
  }
}
)");
  EXPECT_EQ(
      render_nftables(plan, spec, Component::kProxy),
      R"(# writegate wg3fa2: the security group rds-proxy-sg of proxy (wg3fa2-proxy, 172.31.0.20)
# Default deny both ways; only the group's rules, loopback and return traffic pass.
table inet writegate {
  chain input {
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    ip saddr { 172.31.0.10 } tcp dport 5432 accept comment "rds-proxy-sg ingress tcp/5432 from lambda-sg"
  }
  chain output {
    type filter hook output priority filter; policy drop;
    oif "lo" accept
    ct state established,related accept
    ip daddr { 172.31.0.30 } tcp dport 5432 accept comment "rds-proxy-sg egress tcp/5432 to aurora-sg"
  }
}
)");
  EXPECT_EQ(
      render_nftables(plan, spec, Component::kAurora),
      R"(# writegate wg3fa2: the security group aurora-sg of aurora (wg3fa2-aurora, 172.31.0.30)
# Default deny both ways; only the group's rules, loopback and return traffic pass.
table inet writegate {
  chain input {
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    ip saddr { 172.31.0.20 } tcp dport 5432 accept comment "aurora-sg ingress tcp/5432 from rds-proxy-sg"
  }
  chain output {
    type filter hook output priority filter; policy drop;
    oif "lo" accept
    ct state established,related accept
  }
}
)");
}

// One group worn by two components: its peers' rules list both addresses.
spec::Spec shared_group_spec() {
  spec::Spec spec;
  spec.security_groups = {
      {"app-sg",
       "function and proxy",
       {{"tcp", 5432, "app-sg"}},
       {{"tcp", 5432, "app-sg"}, {"tcp", 5432, "db-sg"}}},
      {"db-sg", "database", {{"tcp", 5432, "app-sg"}}, {}},
      {"unused-sg", "no one wears it", {}, {}},
  };
  spec.function.security_group = "app-sg";
  spec.proxy.security_group = "app-sg";
  spec.database.security_group = "db-sg";
  return spec;
}

TEST(RenderNftablesTest, GroupWornByTwoComponentsListsBothAddresses) {
  const spec::Spec spec = shared_group_spec();
  const NetworkPlan plan = plan_network(spec, "wg1", {});
  EXPECT_EQ(render_nftables(plan, spec, Component::kAurora),
            R"(# writegate wg1: the security group db-sg of aurora (wg1-aurora, 172.31.0.30)
# Default deny both ways; only the group's rules, loopback and return traffic pass.
table inet writegate {
  chain input {
    type filter hook input priority filter; policy drop;
    iif "lo" accept
    ct state established,related accept
    ip saddr { 172.31.0.10, 172.31.0.20 } tcp dport 5432 accept comment "db-sg ingress tcp/5432 from app-sg"
  }
  chain output {
    type filter hook output priority filter; policy drop;
    oif "lo" accept
    ct state established,related accept
  }
}
)");
  const std::string lambda = render_nftables(plan, spec, Component::kLambda);
  EXPECT_THAT(lambda, ::testing::HasSubstr(
                          "    ip saddr { 172.31.0.10, 172.31.0.20 } tcp dport 5432 accept comment "
                          "\"app-sg ingress tcp/5432 from app-sg\"\n"));
  EXPECT_THAT(lambda,
              ::testing::HasSubstr("    ip daddr { 172.31.0.30 } tcp dport 5432 accept comment "
                                   "\"app-sg egress tcp/5432 to db-sg\"\n"));
}

TEST(RenderNftablesTest, RuleToAGroupNoOneWearsIsAComment) {
  spec::Spec spec;
  spec.security_groups[0].egress.push_back({"tcp", 443, "aurora-sg"});
  spec.security_groups.push_back({"vpce-sg", "", {}, {}});
  spec.security_groups[0].egress.push_back({"tcp", 443, "vpce-sg"});
  const NetworkPlan plan = plan_network(spec, "wg1", {});
  EXPECT_THAT(render_nftables(plan, spec, Component::kLambda),
              ::testing::HasSubstr("    # lambda-sg egress tcp/443 to vpce-sg: no member wears "
                                   "vpce-sg\n  }\n"));
}

struct Reachability {
  Component from;
  Component to;
  int port;
  bool allowed;
};

class SecurityGroupsAllowTest : public ::testing::TestWithParam<Reachability> {};

TEST_P(SecurityGroupsAllowTest, DefaultSpec) {
  const spec::Spec spec;
  const NetworkPlan plan = plan_network(spec, "wg1", {});
  const Reachability& c = GetParam();
  EXPECT_EQ(security_groups_allow(spec, plan, c.from, c.to, c.port), c.allowed)
      << component_name(c.from) << " -> " << component_name(c.to) << " tcp/" << c.port;
}

INSTANTIATE_TEST_SUITE_P(
    Network, SecurityGroupsAllowTest,
    ::testing::Values(Reachability{Component::kLambda, Component::kProxy, 5432, true},
                      Reachability{Component::kLambda, Component::kAurora, 5432, false},
                      Reachability{Component::kProxy, Component::kAurora, 5432, true},
                      Reachability{Component::kAurora, Component::kProxy, 5432, false},
                      Reachability{Component::kLambda, Component::kProxy, 22, false},
                      Reachability{Component::kProxy, Component::kLambda, 5432, false},
                      Reachability{Component::kAurora, Component::kLambda, 5432, false},
                      Reachability{Component::kProxy, Component::kAurora, 8080, false},
                      Reachability{Component::kLambda, Component::kLambda, 8080, true},
                      Reachability{Component::kAurora, Component::kAurora, 5432, true}));

TEST(SecurityGroupsAllowTest, GroupWornByTwoComponents) {
  const spec::Spec spec = shared_group_spec();
  const NetworkPlan plan = plan_network(spec, "wg1", {});
  // app-sg allows itself both ways, so function and proxy reach each other.
  EXPECT_TRUE(security_groups_allow(spec, plan, Component::kLambda, Component::kProxy, 5432));
  EXPECT_TRUE(security_groups_allow(spec, plan, Component::kProxy, Component::kLambda, 5432));
  EXPECT_TRUE(security_groups_allow(spec, plan, Component::kLambda, Component::kAurora, 5432));
  EXPECT_TRUE(security_groups_allow(spec, plan, Component::kProxy, Component::kAurora, 5432));
  EXPECT_FALSE(security_groups_allow(spec, plan, Component::kAurora, Component::kProxy, 5432));
  EXPECT_FALSE(security_groups_allow(spec, plan, Component::kProxy, Component::kAurora, 5433));
}

}  // namespace
}  // namespace writegate::stack
