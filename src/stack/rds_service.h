// RDS's query API on the local AWS endpoint, for the stack's one proxy: `aws rds
// describe-db-proxies` and `aws rds modify-db-proxy --[no-]debug-logging` with --endpoint-url
// (signing name `rds`, Version 2014-10-31, XML answers in RDS's namespace).
//
//   ModifyDBProxy      rds:ModifyDBProxy     arn:aws:rds:REGION:ACCOUNT:db-proxy:prx-...
//   DescribeDBProxies  rds:DescribeDBProxies the same ARN (arn:...:db-proxy:* for a name that
//                                            is not the stack's proxy, or for the whole list)
//
// ModifyDBProxy changes DebugLogging only (without a restart: stack::set_proxy_debug_logging);
// any other change is InvalidParameterValue naming what this endpoint cannot do. An unknown
// proxy name is DBProxyNotFoundFault (404) after the policy allowed the action on db-proxy:*;
// a stack that is not up is InvalidDBProxyStateFault. The answer is RDS's DBProxy.
//
//   router.add(std::make_shared<RdsProxyService>(state_dir, spec));
#pragma once

#include <string>

#include "awslocal/router.h"
#include "spec/spec.h"

namespace writegate::stack {

inline constexpr std::string_view kRdsXmlNamespace = "http://rds.amazonaws.com/doc/2014-10-31/";

class RdsProxyService : public awslocal::Service {
 public:
  RdsProxyService(std::string state_dir, spec::Spec spec);
  const awslocal::ServiceRoute& route() const override { return route_; }
  awslocal::ApiResult handle(const awslocal::ServiceCall& call) override;

 private:
  awslocal::ApiResult modify(const awslocal::ServiceCall& call);
  awslocal::ApiResult describe(const awslocal::ServiceCall& call);

  awslocal::ServiceRoute route_;
  std::string state_dir_;
  spec::Spec spec_;
};

}  // namespace writegate::stack
