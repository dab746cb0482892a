#include "deploy/template.h"

#include <cctype>

#include "deploy/policies.h"

namespace writegate::deploy {
namespace {

using nlohmann::ordered_json;

ordered_json ref(const std::string& name) {
  return {{"Ref", name}};
}
ordered_json get_att(const std::string& resource, const std::string& attribute) {
  return {{"Fn::GetAtt", ordered_json::array({resource, attribute})}};
}
ordered_json sub(const std::string& text) {
  return {{"Fn::Sub", text}};
}

bool iam_backend(const spec::Spec& spec) {
  return spec.proxy.backend_auth == "IAM_AUTH";
}
bool creates_cluster(const spec::Spec& spec) {
  return spec.deploy.cluster == "create";
}

std::string proxy_log_group(const spec::Spec& spec) {
  return "/aws/rds/proxy/" + spec.proxy.name;
}
std::string function_log_group(const spec::Spec& spec) {
  return "/aws/lambda/" + spec.function.name;
}

// The proxy's resource id, prx-..., the last field of its ARN
// (arn:PARTITION:rds:REGION:ACCOUNT:db-proxy:prx-...).
ordered_json proxy_resource_id() {
  return {
      {"Fn::Select",
       ordered_json::array(
           {6,
            {{"Fn::Split", ordered_json::array({":", get_att(kProxyLogicalId, "DBProxyArn")})}}})}};
}

ordered_json cluster_resource_id(const spec::Spec& spec) {
  return creates_cluster(spec) ? get_att(kClusterLogicalId, "DBClusterResourceId")
                               : ref("ExistingClusterResourceId");
}

ordered_json parameters(const spec::Spec& spec) {
  ordered_json p = ordered_json::object();
  p["VpcId"] = {{"Type", "AWS::EC2::VPC::Id"},
                {"Description", "The VPC of the function, the proxy and the cluster"}};
  p["PrivateSubnetIds"] = {{"Type", "List<AWS::EC2::Subnet::Id>"},
                           {"Description",
                            "Private subnets in at least two Availability Zones (the proxy and the "
                            "cluster need two); the function runs in them too"}};
  p["CodeS3Bucket"] = {{"Type", "String"},
                       {"Description", "The S3 bucket holding function.zip (`writegate package`)"}};
  p["CodeS3Key"] = {{"Type", "String"},
                    {"Default", "function.zip"},
                    {"Description", "The key of function.zip in CodeS3Bucket"}};
  if (!creates_cluster(spec)) {
    p["ExistingClusterResourceId"] = {
        {"Type", "String"},
        {"AllowedPattern", "cluster-[A-Z0-9]{26}"},
        {"Description",
         "The resource id of the existing cluster " + spec.database.cluster +
             " (aws rds describe-db-clusters --query 'DBClusters[0].DbClusterResourceId')"}};
  }
  return p;
}

ordered_json role_resource(const RoleDocuments& role,
                           const std::map<std::string, ordered_json>& variables) {
  ordered_json policies = ordered_json::array();
  for (const auto& policy : role.inline_policies) {
    policies.push_back(
        {{"PolicyName", policy.name}, {"PolicyDocument", as_sub(policy.document, variables)}});
  }
  ordered_json properties = {{"RoleName", role.role_name},
                             {"Description", role.description},
                             {"AssumeRolePolicyDocument", as_sub(role.trust, variables)},
                             {"Policies", policies}};
  if (!role.managed_policy_arns.empty()) {
    ordered_json arns = ordered_json::array();
    for (const auto& arn : role.managed_policy_arns)
      arns.push_back(as_sub(arn, variables));
    properties["ManagedPolicyArns"] = arns;
  }
  return {{"Type", "AWS::IAM::Role"}, {"Properties", properties}};
}

void add_security_groups(const spec::Spec& spec, ordered_json& resources) {
  for (const auto& group : spec.security_groups) {
    const std::string id = security_group_logical_id(group.name);
    resources[id] = {
        {"Type", "AWS::EC2::SecurityGroup"},
        {"Properties",
         {{"GroupName", group.name},
          {"GroupDescription", group.description.empty() ? group.name : group.description},
          {"VpcId", ref("VpcId")},
          // A group made without egress rules keeps AWS's default allow-all egress; naming one
          // rule here removes it. This rule matches nothing (ICMP type 252 code 86 to the
          // broadcast address, as the AWS CDK writes it): the real rules are below.
          {"SecurityGroupEgress", ordered_json::array({{{"CidrIp", "255.255.255.255/32"},
                                                        {"Description", "Disallow all traffic"},
                                                        {"IpProtocol", "icmp"},
                                                        {"FromPort", 252},
                                                        {"ToPort", 86}}})},
          {"Tags", ordered_json::array({{{"Key", "Name"}, {"Value", group.name}}})}}}};
  }
  // Rules as standalone resources: the groups refer to each other.
  for (const auto& group : spec.security_groups) {
    const std::string id = security_group_logical_id(group.name);
    auto add_rule = [&](const spec::SecurityGroupRule& rule, bool ingress) {
      const std::string peer_id = security_group_logical_id(rule.peer);
      std::string name = id.substr(0, id.size() - std::string("SecurityGroup").size()) +
                         (ingress ? "IngressFrom" : "EgressTo") +
                         peer_id.substr(0, peer_id.size() - std::string("SecurityGroup").size()) +
                         std::to_string(rule.port);
      ordered_json properties = {{"GroupId", get_att(id, "GroupId")},
                                 {"IpProtocol", rule.protocol},
                                 {"FromPort", rule.port},
                                 {"ToPort", rule.port}};
      properties[ingress ? "SourceSecurityGroupId" : "DestinationSecurityGroupId"] =
          get_att(peer_id, "GroupId");
      properties["Description"] = std::string(ingress ? "from " : "to ") + rule.peer + " " +
                                  rule.protocol + "/" + std::to_string(rule.port);
      resources[name] = {
          {"Type", ingress ? "AWS::EC2::SecurityGroupIngress" : "AWS::EC2::SecurityGroupEgress"},
          {"Properties", properties}};
    };
    for (const auto& rule : group.ingress)
      add_rule(rule, true);
    for (const auto& rule : group.egress)
      add_rule(rule, false);
  }
}

void add_cluster(const spec::Spec& spec, ordered_json& resources) {
  if (!creates_cluster(spec)) return;
  const auto& db = spec.database;
  resources["ClusterSubnetGroup"] = {
      {"Type", "AWS::RDS::DBSubnetGroup"},
      {"Properties",
       {{"DBSubnetGroupDescription", "Private subnets of " + db.cluster},
        {"SubnetIds", ref("PrivateSubnetIds")}}}};
  ordered_json cluster = {
      {"DBClusterIdentifier", db.cluster},
      {"Engine", "aurora-postgresql"},
      {"EngineVersion", spec.deploy.engine_version},
      {"DatabaseName", db.name},
      {"Port", db.port},
      {"MasterUsername", db.master_user},
      // The master password is made and kept by Secrets Manager, never in the template.
      {"ManageMasterUserPassword", true},
      {"EnableIAMDatabaseAuthentication", true},
      {"StorageEncrypted", true},
      {"DeletionProtection", true},
      {"CopyTagsToSnapshot", true},
      {"BackupRetentionPeriod", 7},
      {"DBSubnetGroupName", ref("ClusterSubnetGroup")},
      {"VpcSecurityGroupIds",
       ordered_json::array({get_att(security_group_logical_id(db.security_group), "GroupId")})}};
  if (spec.deploy.instance_class == "db.serverless") {
    cluster["ServerlessV2ScalingConfiguration"] = {{"MinCapacity", spec.deploy.min_capacity},
                                                   {"MaxCapacity", spec.deploy.max_capacity}};
  }
  resources[kClusterLogicalId] = {{"Type", "AWS::RDS::DBCluster"},
                                  {"DeletionPolicy", "Snapshot"},
                                  {"UpdateReplacePolicy", "Snapshot"},
                                  {"Properties", cluster}};
  resources["ClusterWriter"] = {{"Type", "AWS::RDS::DBInstance"},
                                {"Properties",
                                 {{"DBClusterIdentifier", ref(kClusterLogicalId)},
                                  {"DBInstanceClass", spec.deploy.instance_class},
                                  {"Engine", "aurora-postgresql"},
                                  {"PubliclyAccessible", false}}}};
}

void add_proxy(const spec::Spec& spec, ordered_json& resources) {
  const auto& proxy = spec.proxy;
  ordered_json properties = {
      {"DBProxyName", proxy.name},
      {"EngineFamily", "POSTGRESQL"},
      {"RoleArn", get_att("ProxyRole", "Arn")},
      {"RequireTLS", true},
      {"IdleClientTimeout", proxy.pool.idle_client_timeout_seconds},
      // Debug logging writes statements with their values to CloudWatch: off.
      {"DebugLogging", false},
      {"VpcSubnetIds", ref("PrivateSubnetIds")},
      {"VpcSecurityGroupIds",
       ordered_json::array({get_att(security_group_logical_id(proxy.security_group), "GroupId")})}};
  if (iam_backend(spec)) {
    // End-to-end IAM: clients need an IAM token, and the proxy logs in with its role's.
    properties["DefaultAuthScheme"] = "IAM_AUTH";
  } else {
    properties["Auth"] = ordered_json::array({{{"AuthScheme", "SECRETS"},
                                               {"SecretArn", ref("WriterSecret")},
                                               {"IAMAuth", proxy.iam_auth},
                                               {"ClientPasswordAuthType", "POSTGRES_SCRAM_SHA_256"},
                                               {"Description", "The writer's own secret"}}});
  }
  properties["Tags"] = ordered_json::array({{{"Key", "Name"}, {"Value", proxy.name}}});
  resources[kProxyLogicalId] = {{"Type", "AWS::RDS::DBProxy"},
                                {"DependsOn", ordered_json::array({"ProxyLogGroup"})},
                                {"Properties", properties}};
  ordered_json pool = {{"MaxConnectionsPercent", proxy.pool.max_connections_percent},
                       {"MaxIdleConnectionsPercent", proxy.pool.max_idle_connections_percent},
                       {"ConnectionBorrowTimeout", proxy.pool.connection_borrow_timeout_seconds}};
  if (!proxy.pool.session_pinning_filters.empty()) {
    pool["SessionPinningFilters"] = proxy.pool.session_pinning_filters;
  }
  if (!proxy.pool.init_query.empty()) pool["InitQuery"] = proxy.pool.init_query;
  ordered_json target = {
      {"DBProxyName", ref(kProxyLogicalId)},
      {"TargetGroupName", "default"},
      {"ConnectionPoolConfigurationInfo", pool},
      {"DBClusterIdentifiers",
       ordered_json::array({creates_cluster(spec) ? ref(kClusterLogicalId)
                                                  : ordered_json(spec.database.cluster)})}};
  ordered_json target_group = {{"Type", "AWS::RDS::DBProxyTargetGroup"}, {"Properties", target}};
  // The cluster needs its writer instance before the proxy can reach it.
  if (creates_cluster(spec)) target_group["DependsOn"] = ordered_json::array({"ClusterWriter"});
  resources["ProxyTargetGroup"] = target_group;
}

void add_writer_secret(const spec::Spec& spec, ordered_json& resources) {
  if (iam_backend(spec)) return;
  // Standard mode: the proxy logs in with the writer's own password. Secrets Manager makes it;
  // `writegate render sql`'s script and the CLI script set it on the database from the secret.
  resources["WriterSecret"] = {
      {"Type", "AWS::SecretsManager::Secret"},
      {"Properties",
       {{"Name", spec.database.user_secret},
        {"Description", "The password " + spec.proxy.name + " logs in to the database with as " +
                            spec.database.user},
        {"GenerateSecretString",
         {{"SecretStringTemplate", ordered_json{{"username", spec.database.user}}.dump()},
          {"GenerateStringKey", "password"},
          {"PasswordLength", 40},
          {"ExcludePunctuation", true}}}}}};
}

void add_function(const spec::Spec& spec, ordered_json& resources) {
  const auto& fn = spec.function;
  ordered_json properties = {
      {"FunctionName", fn.name},
      {"Description", "writegate's writer: INSERT/UPDATE/DELETE through " + spec.proxy.name},
      {"Runtime", fn.runtime},
      {"Handler", "bootstrap"},
      {"Architectures", ordered_json::array({fn.architecture})},
      {"Role", get_att("LambdaRole", "Arn")},
      {"Code", {{"S3Bucket", ref("CodeS3Bucket")}, {"S3Key", ref("CodeS3Key")}}},
      {"Timeout", fn.timeout_seconds},
      {"MemorySize", fn.memory_mb},
      {"VpcConfig",
       {{"SecurityGroupIds",
         ordered_json::array({get_att(security_group_logical_id(fn.security_group), "GroupId")})},
        {"SubnetIds", ref("PrivateSubnetIds")}}},
      {"Environment",
       {{"Variables", function_environment(spec, get_att(kProxyLogicalId, "Endpoint"))}}},
      {"LoggingConfig", {{"LogGroup", ref("FunctionLogGroup")}, {"LogFormat", "JSON"}}}};
  if (fn.reserved_concurrency > 0)
    properties["ReservedConcurrentExecutions"] = fn.reserved_concurrency;
  resources[kFunctionLogicalId] = {{"Type", "AWS::Lambda::Function"},
                                   {"DependsOn", ordered_json::array({"ProxyTargetGroup"})},
                                   {"Properties", properties}};
}

void add_logs(const spec::Spec& spec, ordered_json& resources) {
  resources["FunctionLogGroup"] = {{"Type", "AWS::Logs::LogGroup"},
                                   {"Properties",
                                    {{"LogGroupName", function_log_group(spec)},
                                     {"RetentionInDays", spec.deploy.log_retention_days}}}};
  resources["ProxyLogGroup"] = {{"Type", "AWS::Logs::LogGroup"},
                                {"Properties",
                                 {{"LogGroupName", proxy_log_group(spec)},
                                  {"RetentionInDays", spec.deploy.log_retention_days}}}};
}

ordered_json alarm(const std::string& name, const std::string& description,
                   const std::string& name_space, const std::string& metric,
                   const std::string& dimension, const ordered_json& dimension_value,
                   const std::string& statistic, double threshold, const std::string& comparison) {
  return {
      {"Type", "AWS::CloudWatch::Alarm"},
      {"Properties",
       {{"AlarmName", name},
        {"AlarmDescription", description},
        {"Namespace", name_space},
        {"MetricName", metric},
        {"Dimensions", ordered_json::array({{{"Name", dimension}, {"Value", dimension_value}}})},
        {"Statistic", statistic},
        {"Period", 300},
        {"EvaluationPeriods", 1},
        {"Threshold", threshold},
        {"ComparisonOperator", comparison},
        {"TreatMissingData", "notBreaching"}}}};
}

void add_alarms(const spec::Spec& spec, ordered_json& resources) {
  const std::string& proxy = spec.proxy.name;
  const ordered_json proxy_name = ref(kProxyLogicalId);  // Ref of a DBProxy is its name
  resources["RefusedLoginsAlarm"] =
      alarm(proxy + "-refused-logins",
            "Logins to " + proxy + " refused for a bad or unauthorized IAM token", "AWS/RDS",
            "ClientConnectionsSetupFailedAuth", "ProxyName", proxy_name, "Sum", 0,
            "GreaterThanThreshold");
  resources["PinnedSessionsAlarm"] =
      alarm(proxy + "-pinned-sessions",
            "Sessions pinned to a database connection (SET, PREPARE, temporary objects, ...): "
            "the writer should never pin",
            "AWS/RDS", "DatabaseConnectionsCurrentlySessionPinned", "ProxyName", proxy_name,
            "Maximum", 0, "GreaterThanThreshold");
  // RDS Proxy has no count of borrow timeouts: a borrow that waited 90 % of
  // ConnectionBorrowTimeout (the metric is in microseconds) is one about to time out.
  resources["BorrowTimeoutsAlarm"] = alarm(
      proxy + "-borrow-timeouts",
      "Clients waited close to ConnectionBorrowTimeout (" +
          std::to_string(spec.proxy.pool.connection_borrow_timeout_seconds) +
          " s) for a database connection",
      "AWS/RDS", "DatabaseConnectionsBorrowLatency", "ProxyName", proxy_name, "Maximum",
      spec.proxy.pool.connection_borrow_timeout_seconds * 0.9e6, "GreaterThanOrEqualToThreshold");
  resources["FunctionErrorsAlarm"] =
      alarm(spec.function.name + "-errors", "Invocations of " + spec.function.name + " that failed",
            "AWS/Lambda", "Errors", "FunctionName", ref(kFunctionLogicalId), "Sum", 0,
            "GreaterThanThreshold");
}

// The local /dashboard's six charts (src/observe/dashboard.cc), as a CloudWatch dashboard.
void add_dashboard(const spec::Spec& spec, ordered_json& resources) {
  struct Series {
    const char* name_space;
    const char* metric;
    const char* dimension;
    std::string value;
    const char* stat;
    const char* label;
  };
  struct Chart {
    const char* title;
    std::vector<Series> series;
  };
  const std::string proxy = spec.proxy.name, cluster = spec.database.cluster,
                    fn = spec.function.name;
  const std::vector<Chart> charts = {
      {"Client vs database connections",
       {{"AWS/RDS", "ClientConnections", "ProxyName", proxy, "Maximum", "client"},
        {"AWS/RDS", "DatabaseConnections", "ProxyName", proxy, "Maximum", "database (proxy)"},
        {"AWS/RDS", "DatabaseConnections", "DBClusterIdentifier", cluster, "Maximum",
         "database (cluster)"}}},
      {"Pinned sessions",
       {{"AWS/RDS", "DatabaseConnectionsCurrentlySessionPinned", "ProxyName", proxy, "Maximum",
         "pinned"}}},
      {"Borrow latency (µs)",
       {{"AWS/RDS", "DatabaseConnectionsBorrowLatency", "ProxyName", proxy, "Average", "borrow"}}},
      {"Query latency (µs)",
       {{"AWS/RDS", "QueryDatabaseResponseLatency", "ProxyName", proxy, "Average",
         "query (proxy)"}}},
      // Aurora PostgreSQL has no DMLLatency (Aurora MySQL only): commits, latency and rate.
      {"Commit latency (ms) and commits",
       {{"AWS/RDS", "CommitLatency", "DBClusterIdentifier", cluster, "Average",
         "commit latency (ms)"},
        {"AWS/RDS", "CommitThroughput", "DBClusterIdentifier", cluster, "Average",
         "commits per second"}}},
      {"Invocations and errors",
       {{"AWS/Lambda", "Invocations", "FunctionName", fn, "Sum", "invocations"},
        {"AWS/Lambda", "Errors", "FunctionName", fn, "Sum", "errors"}}},
  };
  ordered_json widgets = ordered_json::array();
  int index = 0;
  for (const auto& chart : charts) {
    ordered_json metrics = ordered_json::array();
    for (const auto& s : chart.series) {
      metrics.push_back(ordered_json::array(
          {s.name_space, s.metric, s.dimension, s.value, {{"stat", s.stat}, {"label", s.label}}}));
    }
    widgets.push_back({{"type", "metric"},
                       {"x", (index % 2) * 12},
                       {"y", (index / 2) * 6},
                       {"width", 12},
                       {"height", 6},
                       {"properties",
                        {{"title", chart.title},
                         {"region", "${AWS::Region}"},
                         {"view", "timeSeries"},
                         {"period", 60},
                         {"metrics", metrics}}}});
    ++index;
  }
  ordered_json body = {{"widgets", widgets}};
  resources["Dashboard"] = {
      {"Type", "AWS::CloudWatch::Dashboard"},
      {"Properties",
       {{"DashboardName", proxy + "-writegate"}, {"DashboardBody", sub(body.dump())}}}};
}

}  // namespace

std::string security_group_logical_id(const std::string& group_name) {
  std::string id;
  bool upper = true;
  for (const char ch : group_name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) {
      upper = true;
      continue;
    }
    id += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch;
    upper = false;
  }
  return id + "SecurityGroup";
}

ordered_json function_environment(const spec::Spec& spec, const ordered_json& proxy_endpoint) {
  std::string schemas;
  for (const auto& schema : spec.database.schemas)
    schemas += (schemas.empty() ? "" : ",") + schema;
  return {{"PROXY_ENDPOINT", proxy_endpoint},
          // RDS Proxy for PostgreSQL listens on 5432 whatever the local proxy.port says.
          {"DB_PORT", "5432"},
          {"DB_NAME", spec.database.name},
          // Where the stack runs: the token is signed for this region.
          {"DB_REGION", ref("AWS::Region")},
          {"ALLOWED_SCHEMAS", schemas},
          // The CA bundle shipped in function.zip (`writegate package`); verify-full always.
          {"DB_CA_BUNDLE", "/var/task/rds-ca-bundle.pem"},
          {"PGSSLMODE", "verify-full"}};
}

ordered_json cloudformation_template(const spec::Spec& spec) {
  ordered_json doc;
  doc["AWSTemplateFormatVersion"] = "2010-09-09";
  doc["Description"] =
      "writegate: " + spec.function.name + " writes into " + spec.database.cluster + "/" +
      spec.database.name + " through " + spec.proxy.name +
      " with IAM authentication and TLS only (rendered by `writegate render cloudformation`)";
  doc["Parameters"] = parameters(spec);
  ordered_json resources = ordered_json::object();
  const std::map<std::string, ordered_json> variables = {
      {"ProxyResourceId", proxy_resource_id()},
      {"ClusterResourceId", cluster_resource_id(spec)},
      {"WriterSecretArn", ref("WriterSecret")}};
  for (const auto& role : role_documents(spec))
    resources[role.logical_id] = role_resource(role, variables);
  add_security_groups(spec, resources);
  add_writer_secret(spec, resources);
  add_cluster(spec, resources);
  add_logs(spec, resources);
  add_proxy(spec, resources);
  add_function(spec, resources);
  add_alarms(spec, resources);
  add_dashboard(spec, resources);
  doc["Resources"] = resources;
  doc["Outputs"] = {
      {"ProxyEndpoint",
       {{"Description", "The endpoint the function connects to (TLS, verify-full)"},
        {"Value", get_att(kProxyLogicalId, "Endpoint")}}},
      {"ProxyResourceId",
       {{"Description", "The proxy's prx- id, as in the function role's rds-db:connect ARN"},
        {"Value", proxy_resource_id()}}},
      {"FunctionArn",
       {{"Description", "The writer function"}, {"Value", get_att(kFunctionLogicalId, "Arn")}}}};
  if (!iam_backend(spec)) {
    doc["Outputs"]["WriterSecretArn"] = {
        {"Description",
         "The writer's secret: its password goes on the database with "
         "sql/provision.sql (-v writer_password=<SCRAM verifier>)"},
        {"Value", ref("WriterSecret")}};
  }
  if (!creates_cluster(spec)) {
    doc["Outputs"]["DatabaseSecurityGroupId"] = {
        {"Description", "Attach it to the existing cluster " + spec.database.cluster +
                            " (and remove any group that admits others): the proxy reaches the "
                            "cluster through it only"},
        {"Value", get_att(security_group_logical_id(spec.database.security_group), "GroupId")}};
  }
  if (creates_cluster(spec)) {
    doc["Outputs"]["ClusterEndpoint"] = {
        {"Description",
         "The cluster's writer endpoint: for `writegate render sql` as the master "
         "user, from a host in the VPC; the function cannot reach it"},
        {"Value", get_att(kClusterLogicalId, "Endpoint.Address")}};
    doc["Outputs"]["MasterSecretArn"] = {
        {"Description", "The master user's secret, made and rotated by Secrets Manager"},
        {"Value", get_att(kClusterLogicalId, "MasterUserSecret.SecretArn")}};
  }
  return doc;
}

}  // namespace writegate::deploy
