#include "deploy/cli_script.h"

#include <sstream>

#include "deploy/template.h"

namespace writegate::deploy {
namespace {

// The steps that do not depend on the spec's shape; the spec's values come in as variables.
constexpr const char* kHelpers = R"BASH(
die() {
  echo "deploy.sh: $*" >&2
  exit 1
}
aws() { command aws --region "$REGION" "$@"; }
step() { echo "== $*"; }

# Stop before anything changes when the credentials are not for the spec's account.
account=$(aws sts get-caller-identity --query Account --output text) ||
  die "cannot call sts get-caller-identity: configure the aws CLI's credentials first"
[ "$account" = "$ACCOUNT_ID" ] ||
  die "the credentials are for account $account, the spec names $ACCOUNT_ID (set account_id in writegate.yaml and render again)"
[ -f "$CODE_ZIP" ] || die "$CODE_ZIP does not exist: run \`writegate package --out $CODE_ZIP\` first"

# A document of ../iam with the values only AWS knows put in.
iam_doc() {
  sed -e "s/\${ProxyResourceId}/${PROXY_RESOURCE_ID:-}/g" \
    -e "s/\${ClusterResourceId}/${CLUSTER_RESOURCE_ID:-}/g" \
    -e "s|\${WriterSecretArn}|${WRITER_SECRET_ARN:-}|g" "$IAM_DIR/$1"
}

sg_id() {
  aws ec2 describe-security-groups \
    --filters "Name=vpc-id,Values=$VPC_ID" "Name=group-name,Values=$1" \
    --query 'SecurityGroups[0].GroupId' --output text
}

# Creates the group once; a new group's default allow-all egress (IPv4 and IPv6) is revoked,
# so the group allows only the rules this script adds.
ensure_sg() {
  local id rules
  id=$(sg_id "$1")
  if [ "$id" = "None" ] || [ -z "$id" ]; then
    id=$(aws ec2 create-security-group --group-name "$1" --description "$2" --vpc-id "$VPC_ID" \
      --query GroupId --output text)
  fi
  rules=$(aws ec2 describe-security-group-rules --filters "Name=group-id,Values=$id" \
    --query "SecurityGroupRules[?IsEgress && (CidrIpv4=='0.0.0.0/0' || CidrIpv6=='::/0')].SecurityGroupRuleId" \
    --output text)
  if [ -n "$rules" ] && [ "$rules" != "None" ]; then
    # shellcheck disable=SC2086 # one word per rule id
    aws ec2 revoke-security-group-egress --group-id "$id" --security-group-rule-ids $rules >/dev/null
  fi
  echo "$id"
}

# authorize ingress|egress GROUP PEER PORT: tcp/PORT from/to the peer group only.
authorize() {
  local out
  if ! out=$(aws ec2 "authorize-security-group-$1" --group-id "$2" \
    --ip-permissions "IpProtocol=tcp,FromPort=$4,ToPort=$4,UserIdGroupPairs=[{GroupId=$3}]" 2>&1); then
    case $out in
      *InvalidPermission.Duplicate*) ;;
      *) die "authorize-security-group-$1 $2: $out" ;;
    esac
  fi
}

ensure_role() {
  if ! aws iam get-role --role-name "$1" >/dev/null 2>&1; then
    aws iam create-role --role-name "$1" --description "$3" \
      --assume-role-policy-document "file://$IAM_DIR/$2" >/dev/null
  fi
  aws iam get-role --role-name "$1" --query Role.Arn --output text
}

put_role_policy() {
  local file
  file=$(mktemp)
  iam_doc "$3" >"$file"
  aws iam put-role-policy --role-name "$1" --policy-name "$2" --policy-document "file://$file"
  rm -f "$file"
}

ensure_log_group() {
  local found
  found=$(aws logs describe-log-groups --log-group-name-prefix "$1" \
    --query "logGroups[?logGroupName=='$1'].logGroupName" --output text)
  if [ -z "$found" ] || [ "$found" = "None" ]; then
    aws logs create-log-group --log-group-name "$1"
  fi
  aws logs put-retention-policy --log-group-name "$1" --retention-in-days "$LOG_RETENTION_DAYS"
}

# wait_for WHAT SECONDS COMMAND...: until COMMAND prints "available".
wait_for() {
  local what=$1 deadline=$((SECONDS + $2)) status
  shift 2
  while :; do
    status=$("$@" 2>/dev/null || true)
    [ "$status" = "available" ] && return 0
    [ "$SECONDS" -lt "$deadline" ] || die "$what is not available after waiting (status: ${status:-none})"
    sleep 15
  done
}
)BASH";

// A SCRAM-SHA-256 verifier of the password on standard input (RFC 5802/7677, PostgreSQL's
// "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>"), made on this side.
constexpr const char* kScramVerifier =
    R"BASH(# A SCRAM-SHA-256 verifier of the password on standard input (PostgreSQL's format).
# shellcheck disable=SC2016 # Python, not shell: nothing to expand
SCRAM_VERIFIER='
import base64, hashlib, hmac, os, sys
password = sys.stdin.read().rstrip("\n").encode()
salt, iterations = os.urandom(16), 4096
salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
client_key = hmac.new(salted, b"Client Key", "sha256").digest()
stored_key = hashlib.sha256(client_key).digest()
server_key = hmac.new(salted, b"Server Key", "sha256").digest()
b64 = lambda b: base64.b64encode(b).decode()
print(f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}")
'
)BASH";

}  // namespace

std::string shell_quote(const std::string& value) {
  std::string out = "'";
  for (const char ch : value) {
    if (ch == '\'') {
      out += "'\\''";
    } else {
      out += ch;
    }
  }
  return out + "'";
}

std::string cli_script(const spec::Spec& spec) {
  const auto& db = spec.database;
  const auto& proxy = spec.proxy;
  const auto& fn = spec.function;
  const bool iam_backend = proxy.backend_auth == "IAM_AUTH";
  const bool create_cluster = spec.deploy.cluster == "create";
  auto q = shell_quote;
  std::ostringstream s;
  s << "#!/usr/bin/env bash\n"
       "# writegate: the architecture document's AWS CLI steps for "
    << fn.name << " -> " << proxy.name << " -> " << db.cluster
    << ",\n"
       "# corrected and filled in from the spec (rendered by `writegate render cli`).\n"
       "#\n"
       "# Usage, from the folder `writegate render all` wrote:\n"
       "#   VPC_ID=vpc-... SUBNET_IDS=subnet-a,subnet-b CODE_ZIP=function.zip bash cli/deploy.sh\n"
       "# VPC_ID: the VPC; SUBNET_IDS: private subnets in two Availability Zones "
       "(comma-separated);\n"
       "# CODE_ZIP: the function's zip (`writegate package`). RUN_SQL=yes also runs "
       "sql/provision.sql\n"
       "# with psql as the master user: only from a host inside the VPC that aurora-sg admits.\n"
       "# Needs the aws CLI v2 with credentials for account "
    << spec.account_id
    << ". Each step looks before it creates, so a\n"
       "# second run changes nothing; the first error stops it.\n"
       "set -euo pipefail\n\n"
       "# From the spec.\n"
    << "REGION=" << q(spec.region) << "\n"
    << "ACCOUNT_ID=" << q(spec.account_id) << "\n"
    << "CLUSTER=" << q(db.cluster) << "\n"
    << "# The cluster: " << (create_cluster ? "created by this script" : "an existing one") << ".\n"
    << "DB_NAME=" << q(db.name) << "\n"
    << "DB_PORT=" << db.port << "\n"
    << "MASTER_USER=" << q(db.master_user) << "\n"
    << "DB_USER=" << q(db.user) << "\n";
  if (!iam_backend) {
    s << "WRITER_SECRET=" << q(db.user_secret) << "\n" << kScramVerifier;
  }
  if (create_cluster) {
    s << "ENGINE_VERSION=" << q(spec.deploy.engine_version) << "\n"
      << "INSTANCE_CLASS=" << q(spec.deploy.instance_class) << "\n"
      << "MIN_CAPACITY=" << spec.deploy.min_capacity << "\n"
      << "MAX_CAPACITY=" << spec.deploy.max_capacity << "\n";
  }
  s << "PROXY=" << q(proxy.name) << "\n"
    << "# The proxy logs in to the database "
    << (iam_backend ? "with IAM tokens of its role (end-to-end IAM)" : "with the writer's secret")
    << ".\n"
    << "IDLE_CLIENT_TIMEOUT=" << proxy.pool.idle_client_timeout_seconds << "\n"
    << "FUNCTION=" << q(fn.name) << "\n"
    << "RUNTIME=" << q(fn.runtime) << "\n"
    << "ARCHITECTURE=" << q(fn.architecture) << "\n"
    << "TIMEOUT=" << fn.timeout_seconds << "\n"
    << "MEMORY=" << fn.memory_mb << "\n"
    << "RESERVED_CONCURRENCY=" << fn.reserved_concurrency << "  # 0: none\n"
    << "LAMBDA_ROLE=" << q(spec.iam.lambda_role) << "\n"
    << "PROXY_ROLE=" << q(spec.iam.proxy_role) << "\n"
    << "LOG_RETENTION_DAYS=" << spec.deploy.log_retention_days << "\n";
  std::string schemas;
  for (const auto& schema : db.schemas)
    schemas += (schemas.empty() ? "" : ",") + schema;
  s << "ALLOWED_SCHEMAS=" << q(schemas) << "\n\n"
    << "# Inputs.\n"
       ": \"${VPC_ID:?set VPC_ID to the id of the VPC (vpc-...)}\"\n"
       ": \"${SUBNET_IDS:?set SUBNET_IDS to private subnets in two Availability Zones, "
       "comma-separated}\"\n"
       "CODE_ZIP=${CODE_ZIP:-function.zip}\n"
       "RUN_SQL=${RUN_SQL:-no}\n"
       "HERE=$(cd \"$(dirname \"$0\")\" && pwd)\n"
       "IAM_DIR=$HERE/../iam\n"
       "SQL_DIR=$HERE/../sql\n"
       "IFS=, read -r -a SUBNETS <<<\"$SUBNET_IDS\"\n"
    << kHelpers
    << "[ \"${#SUBNETS[@]}\" -ge 2 ] || die \"SUBNET_IDS needs subnets in two Availability "
       "Zones\"\n";

  // 5. Security groups: explicit rules only.
  s << "\nstep \"security groups (default egress revoked, explicit rules only)\"\n";
  for (const auto& group : spec.security_groups) {
    s << "SG_" << security_group_logical_id(group.name) << "=$(ensure_sg " << q(group.name) << " "
      << q(group.description.empty() ? group.name : group.description) << ")\n";
  }
  for (const auto& group : spec.security_groups) {
    for (const auto& rule : group.ingress) {
      s << "authorize ingress \"$SG_" << security_group_logical_id(group.name) << "\" \"$SG_"
        << security_group_logical_id(rule.peer) << "\" " << rule.port << "  # " << group.name
        << " in from " << rule.peer << "\n";
    }
    for (const auto& rule : group.egress) {
      s << "authorize egress \"$SG_" << security_group_logical_id(group.name) << "\" \"$SG_"
        << security_group_logical_id(rule.peer) << "\" " << rule.port << "  # " << group.name
        << " out to " << rule.peer << "\n";
    }
  }
  const std::string lambda_sg = "$SG_" + security_group_logical_id(fn.security_group);
  const std::string proxy_sg = "$SG_" + security_group_logical_id(proxy.security_group);
  const std::string aurora_sg = "$SG_" + security_group_logical_id(db.security_group);

  // 3. The cluster.
  s << "\nstep \"Aurora cluster $CLUSTER (IAM database authentication on)\"\n";
  if (create_cluster) {
    s << "if ! aws rds describe-db-clusters --db-cluster-identifier \"$CLUSTER\" >/dev/null 2>&1; "
         "then\n"
         "  aws rds create-db-subnet-group --db-subnet-group-name \"$CLUSTER-subnets\" \\\n"
         "    --db-subnet-group-description \"Private subnets of $CLUSTER\" --subnet-ids "
         "\"${SUBNETS[@]}\" >/dev/null\n"
         "  # The master password is made and kept by Secrets Manager; storage encrypted.\n"
         "  aws rds create-db-cluster --db-cluster-identifier \"$CLUSTER\" --engine "
         "aurora-postgresql \\\n"
         "    --engine-version \"$ENGINE_VERSION\" --database-name \"$DB_NAME\" --port "
         "\"$DB_PORT\" \\\n"
         "    --master-username \"$MASTER_USER\" --manage-master-user-password \\\n"
         "    --enable-iam-database-authentication --storage-encrypted --deletion-protection \\\n"
         "    --db-subnet-group-name \"$CLUSTER-subnets\" --vpc-security-group-ids \""
      << aurora_sg
      << "\" \\\n"
         "    --serverless-v2-scaling-configuration "
         "\"MinCapacity=$MIN_CAPACITY,MaxCapacity=$MAX_CAPACITY\" >/dev/null\n"
         "  aws rds create-db-instance --db-instance-identifier \"$CLUSTER-writer\" \\\n"
         "    --db-cluster-identifier \"$CLUSTER\" --engine aurora-postgresql \\\n"
         "    --db-instance-class \"$INSTANCE_CLASS\" --no-publicly-accessible >/dev/null\n"
         "fi\n"
         "aws rds wait db-instance-available --db-instance-identifier \"$CLUSTER-writer\"\n";
  } else {
    s << "# An existing cluster: IAM authentication on and " << db.security_group
      << " added to its groups, in one change. The\n"
         "# groups it already wears stay: remove any that admits other clients yourself.\n"
         "groups=$(aws rds describe-db-clusters --db-cluster-identifier \"$CLUSTER\" \\\n"
         "  --query 'DBClusters[0].VpcSecurityGroups[].VpcSecurityGroupId' --output text | tr "
         "'\\t' ' ')\n"
         "case \" $groups \" in\n"
         "  *\" "
      << aurora_sg
      << " \"*) extra=() ;;\n"
         "  *)\n"
         "    # shellcheck disable=SC2206 # one word per group id\n"
         "    extra=(--vpc-security-group-ids $groups \""
      << aurora_sg
      << "\")\n"
         "    ;;\n"
         "esac\n"
         "aws rds modify-db-cluster --db-cluster-identifier \"$CLUSTER\" --apply-immediately \\\n"
         "  --enable-iam-database-authentication \"${extra[@]}\" >/dev/null\n";
  }
  s << "wait_for \"cluster $CLUSTER\" 3600 aws rds describe-db-clusters --db-cluster-identifier "
       "\"$CLUSTER\" \\\n"
       "  --query 'DBClusters[0].Status' --output text\n"
       "CLUSTER_RESOURCE_ID=$(aws rds describe-db-clusters --db-cluster-identifier \"$CLUSTER\" "
       "\\\n"
       "  --query 'DBClusters[0].DbClusterResourceId' --output text)\n"
       "CLUSTER_ENDPOINT=$(aws rds describe-db-clusters --db-cluster-identifier \"$CLUSTER\" \\\n"
       "  --query 'DBClusters[0].Endpoint' --output text)\n";

  // 2. The proxy's role, and the writer's secret in standard mode.
  if (!iam_backend) {
    s << "\nstep \"the writer's secret $WRITER_SECRET (standard mode: the proxy logs in with "
         "it)\"\n"
         "if ! aws secretsmanager describe-secret --secret-id \"$WRITER_SECRET\" >/dev/null 2>&1; "
         "then\n"
         "  secret_file=$(mktemp)\n"
         "  chmod 600 \"$secret_file\"\n"
         "  password=$(aws secretsmanager get-random-password --exclude-punctuation "
         "--password-length 40 \\\n"
         "    --query RandomPassword --output text)\n"
         "  printf '{\"username\":\"%s\",\"password\":\"%s\"}' \"$DB_USER\" \"$password\" "
         ">\"$secret_file\"\n"
         "  unset password\n"
         "  aws secretsmanager create-secret --name \"$WRITER_SECRET\" --description \\\n"
         "    \"The password $PROXY logs in to the database with as $DB_USER\" \\\n"
         "    --secret-string \"file://$secret_file\" >/dev/null\n"
         "  rm -f \"$secret_file\"\n"
         "fi\n"
         "WRITER_SECRET_ARN=$(aws secretsmanager describe-secret --secret-id \"$WRITER_SECRET\" "
         "--query ARN --output text)\n";
  }
  s << "\nstep \"IAM role $PROXY_ROLE\"\n"
       "PROXY_ROLE_ARN=$(ensure_role \"$PROXY_ROLE\" "
    << q(spec.iam.proxy_role + "-trust.json") << " \"RDS Proxy $PROXY\")\n";
  if (iam_backend) {
    s << "put_role_policy \"$PROXY_ROLE\" rds-proxy-backend-connect-policy "
      << q(spec.iam.proxy_role + "-rds-proxy-backend-connect-policy.json") << "\n";
  } else {
    s << "put_role_policy \"$PROXY_ROLE\" rds-proxy-secrets-policy "
      << q(spec.iam.proxy_role + "-rds-proxy-secrets-policy.json") << "\n";
  }

  // 4. The proxy.
  nlohmann::ordered_json pool_config = {
      {"MaxConnectionsPercent", proxy.pool.max_connections_percent},
      {"MaxIdleConnectionsPercent", proxy.pool.max_idle_connections_percent},
      {"ConnectionBorrowTimeout", proxy.pool.connection_borrow_timeout_seconds}};
  if (!proxy.pool.session_pinning_filters.empty()) {
    pool_config["SessionPinningFilters"] = proxy.pool.session_pinning_filters;
  }
  if (!proxy.pool.init_query.empty()) pool_config["InitQuery"] = proxy.pool.init_query;
  s << "\nstep \"RDS Proxy $PROXY (TLS required, IAM authentication required)\"\n"
       "ensure_log_group \"/aws/rds/proxy/$PROXY\"\n"
       "if ! aws rds describe-db-proxies --db-proxy-name \"$PROXY\" >/dev/null 2>&1; then\n";
  if (iam_backend) {
    s << "  # End-to-end IAM: clients need an IAM token; the proxy logs in with its role's.\n"
         "  auth=(--default-auth-scheme IAM_AUTH)\n";
  } else {
    s << "  auth=(--auth "
         "\"[{\\\"AuthScheme\\\":\\\"SECRETS\\\",\\\"SecretArn\\\":\\\"$WRITER_SECRET_ARN\\\","
         "\\\"IAMAuth\\\":\\\"REQUIRED\\\",\\\"ClientPasswordAuthType\\\":\\\"POSTGRES_SCRAM_SHA_"
         "256\\\"}]\")\n";
  }
  s << "  # IAM changes take a few seconds to reach RDS: retry the role for a minute.\n"
       "  for attempt in 1 2 3 4 5 6; do\n"
       "    if aws rds create-db-proxy --db-proxy-name \"$PROXY\" --engine-family POSTGRESQL \\\n"
       "      \"${auth[@]}\" --role-arn \"$PROXY_ROLE_ARN\" --vpc-subnet-ids \"${SUBNETS[@]}\" \\\n"
       "      --vpc-security-group-ids \""
    << proxy_sg
    << "\" --require-tls --no-debug-logging \\\n"
       "      --idle-client-timeout \"$IDLE_CLIENT_TIMEOUT\" >/dev/null; then\n"
       "      break\n"
       "    fi\n"
       "    [ \"$attempt\" -lt 6 ] || die \"create-db-proxy failed\"\n"
       "    sleep 10\n"
       "  done\n"
       "fi\n"
       "wait_for \"proxy $PROXY\" 1800 aws rds describe-db-proxies --db-proxy-name \"$PROXY\" \\\n"
       "  --query 'DBProxies[0].Status' --output text\n"
       "# The pool settings as JSON: the CLI's shorthand cannot carry an InitQuery's spaces and\n"
       "# quotes.\n"
       "aws rds modify-db-proxy-target-group --db-proxy-name \"$PROXY\" --target-group-name "
       "default \\\n"
       "  --connection-pool-config "
    << shell_quote(pool_config.dump()) << " >/dev/null\n";
  s << "if [ \"$(aws rds describe-db-proxy-targets --db-proxy-name \"$PROXY\" \\\n"
       "  --query 'length(Targets)' --output text)\" = \"0\" ]; then\n"
       "  aws rds register-db-proxy-targets --db-proxy-name \"$PROXY\" --db-cluster-identifiers "
       "\"$CLUSTER\" >/dev/null\n"
       "fi\n"
       "# The proxy's resource id is the last field of its ARN: prx- and 17 hex digits (the\n"
       "# document's misspelt prefix would make the policy match nothing).\n"
       "PROXY_ARN=$(aws rds describe-db-proxies --db-proxy-name \"$PROXY\" --query "
       "'DBProxies[0].DBProxyArn' --output text)\n"
       "PROXY_RESOURCE_ID=${PROXY_ARN##*:}\n"
       "[[ $PROXY_RESOURCE_ID =~ ^prx-[0-9a-f]{17}$ ]] || die \"unexpected proxy ARN $PROXY_ARN\"\n"
       "PROXY_ENDPOINT=$(aws rds describe-db-proxies --db-proxy-name \"$PROXY\" --query "
       "'DBProxies[0].Endpoint' --output text)\n";

  // 1. The function's role and the function.
  s << "\nstep \"IAM role $LAMBDA_ROLE (rds-db:connect as $DB_USER to $PROXY_RESOURCE_ID "
       "only)\"\n"
       "LAMBDA_ROLE_ARN=$(ensure_role \"$LAMBDA_ROLE\" "
    << q(spec.iam.lambda_role + "-trust.json") << " \"The writer function $FUNCTION\")\n"
    << "put_role_policy \"$LAMBDA_ROLE\" lambda-rds-connect-policy "
    << q(spec.iam.lambda_role + "-lambda-rds-connect-policy.json") << "\n"
    << "put_role_policy \"$LAMBDA_ROLE\" lambda-basic-execution-policy "
    << q(spec.iam.lambda_role + "-lambda-basic-execution-policy.json") << "\n"
    << "put_role_policy \"$LAMBDA_ROLE\" lambda-vpc-access-policy "
    << q(spec.iam.lambda_role + "-lambda-vpc-access-policy.json") << "\n";
  s << "\nstep \"function $FUNCTION (verify-full against the CA bundle in the zip)\"\n"
       "ensure_log_group \"/aws/lambda/$FUNCTION\"\n"
       "env_file=$(mktemp)\n"
       "printf '{\"Variables\":{\"PROXY_ENDPOINT\":\"%s\",\"DB_PORT\":\"%s\",\"DB_NAME\":\"%s\","
       "\"DB_REGION\":\"%s\",\"ALLOWED_SCHEMAS\":\"%s\",\"DB_CA_BUNDLE\":"
       "\"/var/task/rds-ca-bundle.pem\",\"PGSSLMODE\":\"verify-full\"}}' \\\n"
       "  \"$PROXY_ENDPOINT\" \"5432\" \"$DB_NAME\" \"$REGION\" \"$ALLOWED_SCHEMAS\" "
       ">\"$env_file\"\n"
       "if ! aws lambda get-function --function-name \"$FUNCTION\" >/dev/null 2>&1; then\n"
       "  # A new role takes a few seconds before Lambda may assume it: retry for a minute.\n"
       "  for attempt in 1 2 3 4 5 6; do\n"
       "    if aws lambda create-function --function-name \"$FUNCTION\" --runtime \"$RUNTIME\" \\\n"
       "      --handler bootstrap --architectures \"$ARCHITECTURE\" --role \"$LAMBDA_ROLE_ARN\" "
       "\\\n"
       "      --zip-file \"fileb://$CODE_ZIP\" --timeout \"$TIMEOUT\" --memory-size \"$MEMORY\" "
       "\\\n"
       "      --vpc-config \"SubnetIds=$SUBNET_IDS,SecurityGroupIds="
    << lambda_sg
    << "\" \\\n"
       "      --environment \"file://$env_file\" \\\n"
       "      --logging-config \"LogGroup=/aws/lambda/$FUNCTION,LogFormat=JSON\" >/dev/null; then\n"
       "      break\n"
       "    fi\n"
       "    [ \"$attempt\" -lt 6 ] || die \"create-function failed\"\n"
       "    sleep 10\n"
       "  done\n"
       "else\n"
       "  aws lambda update-function-code --function-name \"$FUNCTION\" --zip-file "
       "\"fileb://$CODE_ZIP\" >/dev/null\n"
       "  aws lambda wait function-updated --function-name \"$FUNCTION\"\n"
       "  aws lambda update-function-configuration --function-name \"$FUNCTION\" \\\n"
       "    --environment \"file://$env_file\" --timeout \"$TIMEOUT\" --memory-size \"$MEMORY\" "
       ">/dev/null\n"
       "fi\n"
       "rm -f \"$env_file\"\n"
       "if [ \"$RESERVED_CONCURRENCY\" -gt 0 ]; then\n"
       "  aws lambda put-function-concurrency --function-name \"$FUNCTION\" \\\n"
       "    --reserved-concurrent-executions \"$RESERVED_CONCURRENCY\" >/dev/null\n"
       "fi\n"
       "aws lambda wait function-active-v2 --function-name \"$FUNCTION\"\n";

  // The database: provision.sql, from inside the VPC.
  s << "\nstep \"the database: sql/provision.sql as $MASTER_USER\"\n"
       "if [ \"$RUN_SQL\" = \"yes\" ]; then\n"
       "  master_secret=$(aws rds describe-db-clusters --db-cluster-identifier \"$CLUSTER\" \\\n"
       "    --query 'DBClusters[0].MasterUserSecret.SecretArn' --output text)\n"
       "  [ \"$master_secret\" != \"None\" ] || die \"the cluster's master password is not managed "
       "by "
       "Secrets Manager: run sql/provision.sql yourself\"\n"
       "  command -v jq >/dev/null || die \"RUN_SQL=yes needs jq (to read the secrets)\"\n"
       "  PGPASSWORD=$(aws secretsmanager get-secret-value --secret-id \"$master_secret\" \\\n"
       "    --query SecretString --output text | jq -r .password)\n"
       "  export PGPASSWORD\n"
       "  [ -f \"${PGSSLROOTCERT:-}\" ] || die \"set PGSSLROOTCERT to the RDS CA bundle "
       "(global-bundle.pem) "
       "to verify the cluster\"\n";
  if (iam_backend) {
    s << "  psql \"host=$CLUSTER_ENDPOINT port=$DB_PORT dbname=$DB_NAME user=$MASTER_USER "
         "sslmode=verify-full\" \\\n"
         "    -v ON_ERROR_STOP=1 -f \"$SQL_DIR/provision.sql\"\n";
  } else {
    s << "  command -v python3 >/dev/null || die \"RUN_SQL=yes needs python3 (for the SCRAM "
         "verifier)\"\n"
         "  # The writer's password reaches the database only as a SCRAM-SHA-256 verifier made\n"
         "  # here (as psql's \\password does), so no server log or pg_stat_activity holds it; it\n"
         "  # goes through standard input, never a command line.\n"
         "  verifier=$(aws secretsmanager get-secret-value --secret-id \"$WRITER_SECRET\" \\\n"
         "    --query SecretString --output text | jq -r .password | python3 -c "
         "\"$SCRAM_VERIFIER\")\n"
         "  { printf '\\\\set writer_password %s\\n' \"'$verifier'\"; cat "
         "\"$SQL_DIR/provision.sql\"; } |\n"
         "    psql \"host=$CLUSTER_ENDPOINT port=$DB_PORT dbname=$DB_NAME user=$MASTER_USER "
         "sslmode=verify-full\" \\\n"
         "      -v ON_ERROR_STOP=1 -f -\n"
         "  unset verifier\n";
  }
  s << "  unset PGPASSWORD\n"
       "else\n"
       "  echo \"From a host in the VPC that aurora-sg admits, as $MASTER_USER (password in the "
       "secret\"\n"
       "  echo \"the cluster's MasterUserSecret names):\"\n"
       "  echo \"  psql 'host=$CLUSTER_ENDPOINT port=$DB_PORT dbname=$DB_NAME user=$MASTER_USER "
       "sslmode=verify-full' -v ON_ERROR_STOP=1 -f sql/provision.sql\"\n"
       "fi\n\n"
       "echo\n"
       "echo \"deployed: $FUNCTION -> $PROXY_ENDPOINT ($PROXY_RESOURCE_ID) -> $CLUSTER "
       "($CLUSTER_RESOURCE_ID)\"\n";
  return s.str();
}

}  // namespace writegate::deploy
