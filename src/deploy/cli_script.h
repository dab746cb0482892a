// `writegate render cli`: the architecture document's AWS CLI steps as one runnable bash
// script, corrected and filled in from the spec, for users who do not use CloudFormation:
// security groups with AWS's default allow-all egress revoked and explicit rules only, the
// roles with the rendered policies (iam/*.json), IAM authentication on the cluster, the proxy
// with TLS and IAM required, its prx- id looked up (never typed in) and put into the function
// role's rds-db:connect ARN, the function with PGSSLMODE=verify-full.
//
//   std::string script = deploy::cli_script(spec);   // written as DIR/cli/deploy.sh
//
// The script reads the IAM documents from ../iam/ beside it and, with RUN_SQL=yes, runs
// ../sql/provision.sql. It is idempotent (each step looks before it creates) and stops at the
// first error. Its inputs are the values the spec cannot know: VPC_ID, SUBNET_IDS, CODE_ZIP
// and, for an existing cluster, nothing more (its resource id is looked up).
#pragma once

#include <string>

#include "spec/spec.h"

namespace writegate::deploy {

std::string cli_script(const spec::Spec& spec);

// A value as one single-quoted shell word.
std::string shell_quote(const std::string& value);

}  // namespace writegate::deploy
