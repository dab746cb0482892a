#include "deploy/render.h"

#include <filesystem>

#include "deploy/cli_script.h"
#include "deploy/policies.h"
#include "deploy/sql_script.h"
#include "deploy/template.h"
#include "deploy/yaml_writer.h"
#include "iam/arn.h"
#include "pki/pki.h"

namespace writegate::deploy {
namespace {

using nlohmann::ordered_json;

Result<std::vector<RenderedFile>> iam_files(const spec::Spec& spec, const RenderOptions& options) {
  std::string proxy_id =
      options.proxy_resource_id.empty() ? spec.proxy.resource_id : options.proxy_resource_id;
  if (!proxy_id.empty() && !iam::is_proxy_resource_id(proxy_id)) {
    return Error::invalid_argument("the proxy resource id '" + proxy_id +
                                   "' is not prx- and 17 lowercase hex digits");
  }
  const std::string& cluster_id = options.cluster_resource_id;
  if (!cluster_id.empty() && !iam::is_cluster_resource_id(cluster_id)) {
    return Error::invalid_argument("the cluster resource id '" + cluster_id +
                                   "' is not cluster- and 26 of A-Z0-9");
  }
  const std::map<std::string, std::string> values = {
      {"AWS::Partition", "aws"},
      {"AWS::Region", spec.region},
      {"AWS::AccountId", spec.account_id},
      {"ProxyResourceId", proxy_id.empty() ? "${ProxyResourceId}" : proxy_id},
      {"ClusterResourceId", cluster_id.empty() ? "${ClusterResourceId}" : cluster_id},
      // Secrets Manager adds a dash and six random characters to a secret's name.
      {"WriterSecretArn", "arn:aws:secretsmanager:" + spec.region + ":" + spec.account_id +
                              ":secret:" + spec.database.user_secret + "-??????"}};
  std::vector<RenderedFile> files;
  for (const auto& role : role_documents(spec)) {
    WG_ASSIGN_OR_RETURN(auto trust, substitute(role.trust, values));
    files.push_back({"iam/" + role.role_name + "-trust.json", trust.dump(2) + "\n"});
    for (const auto& policy : role.inline_policies) {
      WG_ASSIGN_OR_RETURN(auto document, substitute(policy.document, values));
      files.push_back(
          {"iam/" + role.role_name + "-" + policy.name + ".json", document.dump(2) + "\n"});
    }
  }
  return files;
}

}  // namespace

Result<std::vector<RenderedFile>> render(const spec::Spec& spec, std::string_view part,
                                         const RenderOptions& options) {
  const bool all = part == "all";
  if (!all && part != "cloudformation" && part != "iam" && part != "sql" && part != "cli") {
    return Error::invalid_argument("cannot render '" + std::string(part) +
                                   "': choose cloudformation, iam, sql, cli or all");
  }
  std::vector<RenderedFile> files;
  if (all || part == "cloudformation") {
    files.push_back({"template.yaml", to_cloudformation_yaml(cloudformation_template(spec))});
  }
  if (all || part == "iam") {
    WG_ASSIGN_OR_RETURN(auto iam, iam_files(spec, options));
    files.insert(files.end(), iam.begin(), iam.end());
  }
  if (all || part == "sql") {
    files.push_back({"sql/provision.sql", provision_sql(spec)});
    files.push_back({"sql/audit.sql", audit_sql(spec)});
  }
  if (all || part == "cli") files.push_back({"cli/deploy.sh", cli_script(spec), true});
  return files;
}

Status write_files(const std::string& dir, const std::vector<RenderedFile>& files) {
  namespace fs = std::filesystem;
  for (const auto& file : files) {
    const fs::path path = fs::path(dir) / file.path;
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) {
      return Error::io("cannot create " + path.parent_path().string() + ": " + ec.message());
    }
    WG_RETURN_IF_ERROR(pki::write_file(path.string(), file.content, file.executable ? 0755 : 0644));
  }
  return {};
}

}  // namespace writegate::deploy
