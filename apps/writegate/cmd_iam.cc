// `writegate iam ...`: simulate, lint, seed, and small admin commands on the local IAM store.
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "command.h"
#include "common/time.h"
#include "iam/evaluator.h"
#include "iam/lint.h"
#include "iam/seed.h"
#include "iam/store.h"
#include "spec/spec.h"

namespace {

using writegate::Error;
using writegate::Result;
using writegate::Status;
using writegate::cli::fail;
using writegate::cli::finish;
namespace iam = writegate::iam;

static_assert(std::string_view(writegate::cli::kDefaultStateDir) == iam::kDefaultStateDir);

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::io("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error::io("cannot read " + path);
  return text.str();
}

// --policy-document accepts file://PATH (as the aws CLI) or the JSON text itself.
Result<std::string> policy_document_argument(const std::string& value) {
  if (value.starts_with("file://")) return read_text_file(value.substr(7));
  return value;
}

// Admin commands create the store when missing, with the spec's account and region.
std::unique_ptr<iam::IamStore> open_store_for_writing(const std::string& state,
                                                      const writegate::cli::Globals& globals) {
  if (iam::IamStore::exists(state)) {
    auto store = iam::IamStore::open(state);
    if (!store) fail(store.error());
    return std::move(*store);
  }
  auto spec = writegate::cli::effective_spec(globals);
  if (!spec) fail(spec.error());
  iam::StoreSettings settings;
  settings.account_id = spec->account_id;
  settings.region = spec->region;
  auto store = iam::IamStore::open_or_create(state, settings);
  if (!store) fail(store.error());
  return std::move(*store);
}

std::unique_ptr<iam::IamStore> open_existing_store(const std::string& state) {
  auto store = iam::IamStore::open(state);
  if (!store) fail(store.error());
  return std::move(*store);
}

void check(const Status& status) {
  if (!status) fail(status.error());
}

struct SimulateArgs {
  std::string principal, action, resource;
  std::vector<std::string> context;
};

int run_simulate(const SimulateArgs& args, const std::string& state) {
  auto store = open_existing_store(state);
  auto found = store->find_principal(args.principal);
  if (!found) fail(found.error());
  iam::RequestContext request;
  request.principal = found->principal;
  request.action = args.action;
  request.resource = args.resource;
  for (const auto& entry : args.context) {
    auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      fail(Error::invalid_argument("--context " + entry + ": expected KEY=VALUE"));
    }
    request.keys.add(entry.substr(0, eq), entry.substr(eq + 1));
  }
  iam::add_global_keys(request, std::chrono::system_clock::now());
  auto result = iam::evaluate(found->policies, request);
  std::cout << "EvalDecision: " << iam::decision_name(result.decision) << "\n";
  if (result.matched) {
    std::cout << "MatchedStatement: " << result.matched->describe() << "\n";
  } else {
    size_t count = found->policies.size();
    std::cout << "MatchedStatement: none (no statement of the " << count
              << (count == 1 ? " policy" : " policies") << " allows " << args.action << " on "
              << args.resource << ")\n";
  }
  std::cout << "Principal: " << found->principal.arn << "\n"
            << "Action: " << args.action << "\n"
            << "Resource: " << args.resource << "\n";
  return result.allowed() ? 0 : 1;
}

int run_lint(const std::vector<std::string>& files, const iam::LintOptions& options) {
  bool unreadable = false;
  size_t count = 0;
  for (const auto& file : files) {
    auto text = read_text_file(file);
    if (!text) {
      std::cerr << "writegate: " << text.error().message() << "\n";
      unreadable = true;
      continue;
    }
    auto findings = iam::lint_policy(*text, options);
    for (const auto& finding : findings)
      std::cout << iam::format_finding(file, finding) << "\n";
    if (findings.empty()) std::cout << file << ": clean\n";
    count += findings.size();
  }
  if (count > 0) std::cout << count << (count == 1 ? " finding\n" : " findings\n");
  if (unreadable) return 2;
  return count > 0 ? 1 : 0;
}

void install(CLI::App& root, writegate::cli::Globals& globals) {
  auto* iam_cmd = root.add_subcommand("iam", "IAM policies and the local IAM/STS store");
  iam_cmd->require_subcommand(1);
  // Callbacks read the global --state (globals.state_dir) when the command runs, after the
  // whole command line is parsed.

  static SimulateArgs simulate;
  auto* sim = iam_cmd->add_subcommand(
      "simulate",
      "Decide a request with a principal's identity policies (exit 0 allowed, 1 denied)");
  sim->add_option("--principal", simulate.principal, "User or role name, or its ARN")->required();
  sim->add_option("--action", simulate.action, "e.g. rds-db:connect")->required();
  sim->add_option("--resource", simulate.resource, "Resource ARN, or *")->required();
  sim->add_option("--context", simulate.context, "Condition key KEY=VALUE (repeat for more)");
  sim->callback([&globals] { finish(run_simulate(simulate, globals.state_dir)); });

  static std::vector<std::string> lint_files;
  auto* lint = iam_cmd->add_subcommand(
      "lint", "Check identity policy files against the IAM checklist (exit 1 on findings)");
  static iam::LintOptions lint_options;
  lint->add_option("files", lint_files, "Policy JSON files")->required();
  lint->add_option("--backend-cluster-id", lint_options.backend_cluster_resource_id,
                   "The files are an RDS Proxy role's under end-to-end IAM (IAM_AUTH): its "
                   "rds-db:connect on dbuser:ID/USER (the cluster's resource id) is allowed");
  lint->callback([] { finish(run_lint(lint_files, lint_options)); });

  auto* seed = iam_cmd->add_subcommand(
      "seed", "Create or update the document's Lambda and RDS Proxy roles in the local store");
  seed->callback([&globals] {
    auto spec = writegate::cli::effective_spec(globals);
    if (!spec) fail(spec.error());
    auto seeded = iam::seed_store(*spec, globals.state_dir);
    if (!seeded) fail(seeded.error());
    std::cout << "seeded " << iam::IamStore::file_path(globals.state_dir) << "\n"
              << "  lambda role: " << seeded->lambda_role_arn << "\n"
              << "  proxy role:  " << seeded->proxy_role_arn << "\n"
              << "  rds-db:connect on " << seeded->dbuser_arn << "\n"
              << "  secret:      " << seeded->secret_arn_pattern << "\n"
              << "  kms key:     " << seeded->kms_key_arn << "\n";
  });

  static std::string user_name, role_name, policy_name, policy_document, key_id;
  auto* create_user = iam_cmd->add_subcommand("create-user", "Create a user in the local store");
  create_user->add_option("user-name,--user-name", user_name, "User name")->required();
  create_user->callback([&globals] {
    auto store = open_store_for_writing(globals.state_dir, globals);
    auto user = store->create_user(user_name);
    if (!user) fail(user.error());
    std::cout << "created user " << user->name << " ("
              << "arn:aws:iam::" << store->settings().account_id << ":user/" << user->name
              << ", id " << user->user_id << ")\n";
  });

  auto* create_key = iam_cmd->add_subcommand(
      "create-access-key",
      "Create an access key for a user; prints it once, as `aws iam create-access-key` does");
  create_key->add_option("user-name,--user-name", user_name, "User name")->required();
  create_key->callback([&globals] {
    auto store = open_existing_store(globals.state_dir);
    auto key = store->create_access_key(user_name, std::chrono::system_clock::now());
    if (!key) fail(key.error());
    nlohmann::ordered_json out;
    out["AccessKey"] = {{"UserName", key->user_name},
                        {"AccessKeyId", key->access_key_id},
                        {"Status", "Active"},
                        {"SecretAccessKey", key->secret_access_key.reveal()},
                        {"CreateDate", writegate::format_iso8601(key->created)}};
    std::cout << out.dump(4) << "\n";
  });

  auto* delete_key = iam_cmd->add_subcommand("delete-access-key",
                                             "Delete (revoke) an access key or STS session key");
  delete_key->add_option("access-key-id,--access-key-id", key_id, "AKIA... or ASIA...")->required();
  delete_key->callback([&globals] {
    check(open_existing_store(globals.state_dir)->delete_access_key(key_id));
    std::cout << "deleted access key " << key_id << "\n";
  });

  auto* create_role = iam_cmd->add_subcommand("create-role", "Create a role with a trust policy");
  create_role->add_option("--role-name", role_name, "Role name")->required();
  create_role
      ->add_option("--assume-role-policy-document", policy_document,
                   "Trust policy: file://PATH or JSON")
      ->required();
  create_role->callback([&globals] {
    auto document = policy_document_argument(policy_document);
    if (!document) fail(document.error());
    auto store = open_store_for_writing(globals.state_dir, globals);
    auto role = store->create_role(role_name, *document);
    if (!role) fail(role.error());
    std::cout << "created role " << role->name << " (id " << role->role_id << ")\n";
  });

  auto put_policy = [&globals](bool for_role) {
    auto document = policy_document_argument(policy_document);
    if (!document) fail(document.error());
    auto store = open_store_for_writing(globals.state_dir, globals);
    check(for_role ? store->put_role_policy(role_name, policy_name, *document)
                   : store->put_user_policy(user_name, policy_name, *document));
    std::cout << "put policy " << policy_name << " on " << (for_role ? "role " : "user ")
              << (for_role ? role_name : user_name) << "\n";
  };
  auto* put_user =
      iam_cmd->add_subcommand("put-user-policy", "Add or replace a user's inline policy");
  put_user->add_option("--user-name", user_name, "User name")->required();
  put_user->add_option("--policy-name,--name", policy_name, "Policy name")->required();
  put_user->add_option("--policy-document", policy_document, "file://PATH or JSON")->required();
  put_user->callback([put_policy] { put_policy(false); });

  auto* put_role =
      iam_cmd->add_subcommand("put-role-policy", "Add or replace a role's inline policy");
  put_role->add_option("--role-name", role_name, "Role name")->required();
  put_role->add_option("--policy-name,--name", policy_name, "Policy name")->required();
  put_role->add_option("--policy-document", policy_document, "file://PATH or JSON")->required();
  put_role->callback([put_policy] { put_policy(true); });

  auto* del_user_policy =
      iam_cmd->add_subcommand("delete-user-policy", "Delete a user's inline policy");
  del_user_policy->add_option("--user-name", user_name, "User name")->required();
  del_user_policy->add_option("--policy-name,--name", policy_name, "Policy name")->required();
  del_user_policy->callback([&globals] {
    check(open_existing_store(globals.state_dir)->delete_user_policy(user_name, policy_name));
    std::cout << "deleted policy " << policy_name << " of user " << user_name << "\n";
  });

  auto* del_role_policy =
      iam_cmd->add_subcommand("delete-role-policy", "Delete a role's inline policy");
  del_role_policy->add_option("--role-name", role_name, "Role name")->required();
  del_role_policy->add_option("--policy-name,--name", policy_name, "Policy name")->required();
  del_role_policy->callback([&globals] {
    check(open_existing_store(globals.state_dir)->delete_role_policy(role_name, policy_name));
    std::cout << "deleted policy " << policy_name << " of role " << role_name << "\n";
  });

  auto* list =
      iam_cmd->add_subcommand("list", "List users, roles, policies and key ids (no secrets)");
  list->callback([&globals] {
    auto store = open_existing_store(globals.state_dir);
    auto settings = store->settings();
    std::cout << "account " << settings.account_id << ", region " << settings.region << ", proxy "
              << (settings.proxy_resource_id.empty() ? "-" : settings.proxy_resource_id)
              << ", generation " << store->generation() << "\n";
    for (const auto& user : store->users()) {
      std::cout << "user " << user.name << " " << user.user_id << "\n";
      for (const auto& [name, doc] : user.inline_policies)
        std::cout << "  policy " << name << "\n";
      for (const auto& arn : user.attached_policy_arns)
        std::cout << "  attached " << arn << "\n";
      for (const auto& key : store->access_keys(user.name)) {
        std::cout << "  key " << key.access_key_id << " "
                  << (key.status == iam::KeyStatus::kActive ? "Active" : "Inactive") << "\n";
      }
    }
    for (const auto& role : store->roles()) {
      std::cout << "role " << role.name << " " << role.role_id << "\n";
      for (const auto& [name, doc] : role.inline_policies)
        std::cout << "  policy " << name << "\n";
      for (const auto& arn : role.attached_policy_arns)
        std::cout << "  attached " << arn << "\n";
    }
  });
}

const bool kRegistered = writegate::cli::register_command(install);

}  // namespace
