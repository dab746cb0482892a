// `writegate render cloudformation|iam|sql|cli|all [--out DIR]`: the AWS deployment, rendered
// from the spec. Deterministic (same spec and options, same bytes) and free of secrets.
//
//   auto files = deploy::render(spec, "all", {});
//   if (!files) return files.error();
//   WG_RETURN_IF_ERROR(deploy::write_files("deploy", *files));
//
// Layout: template.yaml, iam/<role>-trust.json and iam/<role>-<policy>.json, sql/provision.sql
// and sql/audit.sql, cli/deploy.sh.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "spec/spec.h"

namespace writegate::deploy {

struct RenderOptions {
  // The ids only AWS knows, for the IAM JSON files (the template and the CLI script look them
  // up themselves). Empty: spec proxy.resource_id, else the file keeps `${ProxyResourceId}` for
  // the CLI script (or the user) to fill in.
  std::string proxy_resource_id;    // prx-<17 hex>
  std::string cluster_resource_id;  // cluster-<26 of A-Z0-9>
};

struct RenderedFile {
  std::string path;  // relative: "iam/lambda-aurora-writer-role-trust.json"
  std::string content;
  bool executable = false;
};

// The parts: "cloudformation", "iam", "sql", "cli" or "all".
Result<std::vector<RenderedFile>> render(const spec::Spec& spec, std::string_view part,
                                         const RenderOptions& options);

// Writes each file under dir (folders made as needed; files replaced whole).
Status write_files(const std::string& dir, const std::vector<RenderedFile>& files);

}  // namespace writegate::deploy
