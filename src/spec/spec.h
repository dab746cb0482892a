// writegate.yaml — the one declarative description of the whole architecture.
//
// Every other part of writegate reads a Spec; nothing repeats its values. The defaults are the
// names of the architecture document (region us-east-1, cluster my-aurora-cluster, user
// lambda_writer, schemas foo and bar, ...), so an empty file is a valid spec.
//
//   auto spec = writegate::spec::load_file("writegate.yaml");
//   if (!spec) { std::cerr << spec.error().message(); return 2; }  // names file:line:col, field
//   for (const auto& schema : spec->database.schemas) provision(schema);
//
// Parsing is strict: unknown keys, wrong types and out-of-range values are errors that name the
// file, line, column and field and say what is allowed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace writegate::spec {

enum class WriteMode {
  kStrict,  // no SELECT at all: INSERT and unconditional UPDATE/DELETE only
  kKeyed,   // plus SELECT on primary-key columns, so keyed UPDATE/DELETE work
};
std::string_view write_mode_name(WriteMode mode);

struct DatabaseSpec {
  std::string cluster = "my-aurora-cluster";
  std::string name = "mydb";
  int port = 5432;
  std::string master_user = "postgres";
  std::string master_secret = "aurora-master-secret";  // Secrets Manager secret name
  std::string user = "lambda_writer";                  // the writer
  // Secrets Manager secret holding the writer's own password, for the proxy's standard
  // (SECRETS) backend login. Never the master secret: the proxy logs in as the same user.
  std::string user_secret = "lambda-writer-secret";
  std::vector<std::string> schemas = {"foo", "bar"};
  WriteMode write_mode = WriteMode::kStrict;
  // Roles that create tables in the schemas; default privileges are set FOR ROLE each of them.
  // Empty means the admin role that runs `provision`.
  std::vector<std::string> table_owners;
  std::string security_group = "aurora-sg";  // the group the database wears (security_groups)
};

// RDS Proxy's connection pool settings, with RDS Proxy's defaults.
struct PoolSpec {
  int max_connections_percent = 100;
  int max_idle_connections_percent = 50;
  int connection_borrow_timeout_seconds = 120;
  int idle_client_timeout_seconds = 1800;
  std::vector<std::string> session_pinning_filters;  // only EXCLUDE_VARIABLE_SETS is known
  std::string init_query;  // InitQuery: run on every new database connection; empty: none
};

struct ProxySpec {
  std::string name = "aurora-write-proxy";
  int port = 5432;
  bool require_tls = true;            // RequireTLS; writegate refuses false
  std::string iam_auth = "REQUIRED";  // IAMAuth; writegate refuses DISABLED
  // "IAM_AUTH" (end-to-end IAM, the default: the proxy logs in to the database with a token of
  // its own role; the writer is in rds_iam and has no password anywhere) or "SECRETS" (RDS
  // Proxy's standard mode: the proxy logs in with the password of the writer's secret).
  std::string backend_auth = "IAM_AUTH";
  std::string resource_id;  // prx-<17 hex>; empty: made by the stack and kept in its state
  std::string security_group = "rds-proxy-sg";  // the group the proxy wears (security_groups)
  PoolSpec pool;
};

struct FunctionSpec {
  std::string name = "aurora-writer-lambda";
  std::string runtime = "provided.al2023";
  std::string architecture = "x86_64";
  int timeout_seconds = 30;
  int memory_mb = 256;
  // ReservedConcurrentExecutions on AWS; 0: none reserved (the account's pool is shared).
  int reserved_concurrency = 0;
  std::string security_group = "lambda-sg";  // the group the function wears (security_groups)
};

struct IamSpec {
  std::string lambda_role = "lambda-aurora-writer-role";
  std::string proxy_role = "rds-proxy-role";
};

// What only the AWS deployment needs (`writegate render`); the local stack ignores it.
struct DeploySpec {
  // "create": the template creates the Aurora cluster (IAM database authentication on, storage
  // encrypted, master password managed by Secrets Manager, deletion protection). "existing":
  // the cluster named database.cluster exists; the template takes its resource id as a
  // parameter and the rendered CLI script turns IAM authentication on and attaches aurora-sg.
  std::string cluster = "create";
  std::string engine_version = "15.10";          // aurora-postgresql, the local stack's major
  std::string instance_class = "db.serverless";  // the writer instance (Serverless v2 by default)
  double min_capacity = 0.5;                     // Serverless v2 ACUs (db.serverless only)
  double max_capacity = 4;
  int log_retention_days = 30;  // the function's and the proxy's log groups
};

struct SecurityGroupRule {
  std::string protocol = "tcp";
  int port = 5432;
  std::string peer;  // the name of another security group of this spec
};

struct SecurityGroup {
  std::string name;
  std::string description;
  std::vector<SecurityGroupRule> ingress;
  std::vector<SecurityGroupRule> egress;
};

struct Spec {
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  DatabaseSpec database;
  ProxySpec proxy;
  FunctionSpec function;
  IamSpec iam;
  std::vector<SecurityGroup> security_groups = default_security_groups();
  DeploySpec deploy;

  static std::vector<SecurityGroup> default_security_groups();
};

// Parses YAML text; `origin` names the file in error messages.
Result<Spec> parse(std::string_view yaml_text, std::string_view origin = "<spec>");
Result<Spec> load_file(const std::string& path);

// --spec resolution: an explicit path must exist; empty means ./writegate.yaml if present,
// otherwise the built-in defaults.
Result<Spec> load_for_cli(const std::string& explicit_path);

// The default spec as YAML with a comment on every field (`writegate init`).
std::string default_yaml_with_comments();

// The effective spec as YAML (`writegate spec show`).
std::string to_yaml(const Spec& spec);

}  // namespace writegate::spec
