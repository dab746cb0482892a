// STS on the local AWS endpoint (query API, version 2011-06-15, XML answers as AWS sends them):
// GetCallerIdentity and AssumeRole.
//
// AssumeRole is decided by iam::authorize_assume_role: the caller's identity policies must allow
// sts:AssumeRole on the role ARN AND the role's trust policy must allow the caller. A role that
// does not exist is refused with the same AccessDenied as a role the caller may not assume (no
// probing for role names). Allowed calls mint an STS session in the store (ASIA... key, secret,
// session token, expiry) that the endpoint and the proxy accept at once.
//
//   router.add(std::make_shared<writegate::awslocal::StsService>());
//   // aws --endpoint-url http://127.0.0.1:PORT sts assume-role --role-arn ... --role-session-name
//   s
#pragma once

#include <string>

#include "awslocal/router.h"

namespace writegate::awslocal {

inline constexpr std::string_view kStsVersion = "2011-06-15";

class StsService : public Service {
 public:
  StsService();
  const ServiceRoute& route() const override { return route_; }
  ApiResult handle(const ServiceCall& call) override;

 private:
  ApiResult get_caller_identity(const ServiceCall& call);
  ApiResult assume_role(const ServiceCall& call);
  ServiceRoute route_;
};

}  // namespace writegate::awslocal
