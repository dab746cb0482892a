#include "spec/spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace writegate::spec {
namespace {

TEST(SpecTest, EmptyFileIsTheArchitectureDocumentsDefaults) {
  auto spec = parse("", "writegate.yaml");
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_EQ(spec->region, "us-east-1");
  EXPECT_EQ(spec->account_id, "000000000000");
  EXPECT_EQ(spec->database.cluster, "my-aurora-cluster");
  EXPECT_EQ(spec->database.name, "mydb");
  EXPECT_EQ(spec->database.user, "lambda_writer");
  EXPECT_THAT(spec->database.schemas, ::testing::ElementsAre("foo", "bar"));
  EXPECT_EQ(spec->database.write_mode, WriteMode::kStrict);
  EXPECT_EQ(spec->proxy.name, "aurora-write-proxy");
  EXPECT_EQ(spec->proxy.pool.max_connections_percent, 100);
  EXPECT_EQ(spec->proxy.pool.max_idle_connections_percent, 50);
  EXPECT_EQ(spec->proxy.pool.connection_borrow_timeout_seconds, 120);
  EXPECT_EQ(spec->proxy.pool.idle_client_timeout_seconds, 1800);
  EXPECT_EQ(spec->function.name, "aurora-writer-lambda");
  EXPECT_EQ(spec->iam.lambda_role, "lambda-aurora-writer-role");
  EXPECT_EQ(spec->iam.proxy_role, "rds-proxy-role");
  ASSERT_EQ(spec->security_groups.size(), 3u);
  EXPECT_EQ(spec->security_groups[2].name, "aurora-sg");
  ASSERT_EQ(spec->security_groups[2].ingress.size(), 1u);
  EXPECT_EQ(spec->security_groups[2].ingress[0].peer, "rds-proxy-sg");
  EXPECT_TRUE(spec->security_groups[2].egress.empty());
  EXPECT_EQ(spec->function.security_group, "lambda-sg");
  EXPECT_EQ(spec->proxy.security_group, "rds-proxy-sg");
  EXPECT_EQ(spec->database.security_group, "aurora-sg");
}

TEST(SpecTest, ComponentsMayWearAnyGroupOfTheSpec) {
  auto spec = parse(
      "function:\n  security_group: rds-proxy-sg\n"
      "security_groups:\n  - name: rds-proxy-sg\n  - name: aurora-sg\n  - name: lambda-sg\n",
      "w.yaml");
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_EQ(spec->function.security_group, "rds-proxy-sg");
  auto reparsed = parse(to_yaml(*spec), "show");
  ASSERT_TRUE(reparsed.ok()) << reparsed.error().message();
  EXPECT_EQ(reparsed->function.security_group, "rds-proxy-sg");
  EXPECT_EQ(to_yaml(*reparsed), to_yaml(*spec));
}

TEST(SpecTest, InitTemplateParsesToTheDefaultsAndShowRoundTrips) {
  auto from_template = parse(default_yaml_with_comments(), "init");
  ASSERT_TRUE(from_template.ok()) << from_template.error().message();
  EXPECT_EQ(to_yaml(*from_template), to_yaml(Spec{}));
  Spec custom;
  custom.database.write_mode = WriteMode::kKeyed;
  custom.database.table_owners = {"migrator"};
  custom.proxy.resource_id = "prx-0123456789abcdef0";
  auto reparsed = parse(to_yaml(custom), "show");
  ASSERT_TRUE(reparsed.ok()) << reparsed.error().message();
  EXPECT_EQ(to_yaml(*reparsed), to_yaml(custom));
  EXPECT_EQ(reparsed->database.write_mode, WriteMode::kKeyed);
}

struct BadSpec {
  const char* yaml;
  const char* message;  // the whole error message
};

class BadSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadSpecTest, NamesFileLineColumnAndField) {
  auto spec = parse(GetParam().yaml, "w.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(spec.error().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Spec, BadSpecTest,
    ::testing::Values(
        BadSpec{"regoin: us-east-1\n",
                "w.yaml:1:1: regoin: unknown key; allowed keys: account_id, database, deploy, "
                "function, iam, proxy, region, security_groups"},
        BadSpec{"deploy:\n  cluster: maybe\n",
                "w.yaml:2:12: deploy.cluster: 'maybe' is not allowed; use create | existing"},
        BadSpec{"deploy:\n  log_retention_days: 31\n",
                "w.yaml:2:23: deploy.log_retention_days: CloudWatch Logs keeps 1, 3, 5, 7, 14, 30, "
                "60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or "
                "3653 days"},
        BadSpec{"deploy:\n  engine_version: latest\n",
                "w.yaml:2:19: deploy.engine_version: 'latest' is not an Aurora PostgreSQL version "
                "such as 15.10"},
        BadSpec{"deploy:\n  min_capacity: 0.3\n",
                "w.yaml:2:17: deploy.min_capacity: expected 0 to 256 in steps of 0.5"},
        BadSpec{"deploy:\n  min_capacity: 8\n",
                "w.yaml:2:17: deploy.min_capacity: is above deploy.max_capacity"},
        BadSpec{"function:\n  reserved_concurrency: -1\n",
                "w.yaml:2:25: function.reserved_concurrency: must be between 0 and 100000"},
        BadSpec{"database:\n  write_mode: loose\n",
                "w.yaml:2:15: database.write_mode: 'loose' is not allowed; use strict | keyed"},
        BadSpec{"database:\n  port: many\n",
                "w.yaml:2:9: database.port: expected a whole number, got 'many'"},
        BadSpec{"database:\n  port: 70000\n",
                "w.yaml:2:9: database.port: must be between 1 and 65535"},
        BadSpec{"database:\n  schemas: [foo, public]\n",
                "w.yaml:2:18: database.schemas[1]: 'public' is a system or shared schema; use a "
                "schema of its own"},
        BadSpec{"database:\n  schemas: [foo, foo]\n",
                "w.yaml:2:18: database.schemas[1]: 'foo' is listed twice"},
        BadSpec{"database:\n  user: Robert'); DROP TABLE students;--\n",
                "w.yaml:2:9: database.user: 'Robert'); DROP TABLE students;--' is not a plain "
                "PostgreSQL name (lower-case letters, digits, '_', at most 63 characters, not "
                "starting with a digit)"},
        BadSpec{"database:\n  user: postgres\n",
                "w.yaml:2:9: database.user: the writer must not be the master user"},
        BadSpec{"account_id: 12345\n",
                "w.yaml:1:13: account_id: expected 12 digits (quote it: account_id: "
                "\"000000000000\")"},
        BadSpec{"proxy:\n  require_tls: false\n",
                "w.yaml:2:16: proxy.require_tls: writegate requires TLS to the proxy; only true "
                "is allowed"},
        BadSpec{"proxy:\n  iam_auth: DISABLED\n",
                "w.yaml:2:13: proxy.iam_auth: 'DISABLED' is not allowed; use REQUIRED"},
        BadSpec{"proxy:\n  resource_id: prxy-abc123xyz\n",
                "w.yaml:2:16: proxy.resource_id: 'prxy-abc123xyz' is not a proxy resource id: "
                "expected prx- and 17 lower-case hex digits (the architecture document's 'prxy-' "
                "is a typo: RDS Proxy ids start with 'prx-')"},
        BadSpec{"proxy:\n  pool:\n    max_connections_percent: 0\n",
                "w.yaml:3:30: proxy.pool.max_connections_percent: must be between 1 and 100"},
        BadSpec{"security_groups:\n  - name: a\n    egress: [{port: 5432, peer: b}]\n",
                "w.yaml:3:33: security_groups[0].egress[0].peer: 'b' is not a security group of "
                "this spec"},
        BadSpec{"security_groups:\n  - name: a\n  - name: a\n",
                "w.yaml:3:11: security_groups[1].name: 'a' is defined twice"},
        BadSpec{"function:\n  security_group: web-sg\n",
                "w.yaml:2:19: function.security_group: 'web-sg' is not a security group of this "
                "spec; use one of: lambda-sg, rds-proxy-sg, aurora-sg"},
        BadSpec{"proxy:\n  security_group: lambda\n",
                "w.yaml:2:19: proxy.security_group: 'lambda' is not a security group of this "
                "spec; use one of: lambda-sg, rds-proxy-sg, aurora-sg"},
        BadSpec{"database:\n  security_group: ''\n",
                "w.yaml:2:19: database.security_group: must not be empty"},
        BadSpec{"security_groups:\n  - name: lambda-sg\n  - name: rds-proxy-sg\n",
                "w.yaml:1:1: database.security_group: 'aurora-sg' (the default) is not a "
                "security group of this spec; use one of: lambda-sg, rds-proxy-sg"},
        BadSpec{"function:\n  timeout: 901\n",
                "w.yaml:2:12: function.timeout: must be between 1 and 900"},
        BadSpec{"database: [\n", "w.yaml:2:1: not valid YAML: end of sequence flow not found"},
        BadSpec{"database: 3\n", "w.yaml:1:11: database: expected a mapping of keys"}));

TEST(SpecTest, MissingFileSaysWhich) {
  auto spec = load_file("/nonexistent/writegate.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.error().code(), ErrorCode::kNotFound);
  EXPECT_THAT(spec.error().message(), ::testing::HasSubstr("/nonexistent/writegate.yaml"));
}

}  // namespace
}  // namespace writegate::spec
