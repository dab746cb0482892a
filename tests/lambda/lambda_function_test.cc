// The function for real: PostgreSQL (Aurora) with the writer provisioned, writegate-proxy (RDS
// Proxy) with IAM auth over TLS, the local AWS endpoint over HTTPS serving Lambda Invoke with
// `bootstrap` execution environments, invoked by the real aws CLI, `writegate invoke` and a
// SigV4 client. Expected outcomes are the issue's: Test 1 -> 200 and the row is there,
// injection / public / unknown column -> 400 and nothing written, 403, 409, payload limits,
// 50 concurrent invocations, function errors and timeouts with X-Amz-Function-Error, a proxy
// restart between invocations, and a fresh token for a connection opened after the first
// token expired.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "awslocal/client.h"
#include "awslocal/endpoint.h"
#include "common/process.h"
#include "iam/arn.h"
#include "lambda/db_writer.h"
#include "lambda/emulator.h"
#include "lambda/plan.h"
#include "pgclient/pgclient.h"
#include "proxy/proxy_stack.h"
#include "sigv4/rds_token.h"
#include "support/files.h"

namespace writegate::lambda {
namespace {

using nlohmann::json;
using writegate::testing::ProxyStack;

constexpr const char* kAws = "/usr/bin/aws";
constexpr const char* kFunction = "aurora-writer-lambda";

using writegate::testing::bin_dir;
using writegate::testing::read_file;

struct Served {
  std::unique_ptr<awslocal::Endpoint> endpoint;
  std::shared_ptr<LambdaService> service;
};

class FunctionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* name :
         {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
          "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE",
          "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA"}) {
      unsetenv(name);
    }
    stack_ = ProxyStack::start().release();
    ASSERT_NE(stack_, nullptr);
    auto admin = pgclient::Connection::open(stack_->pg().admin_dsn("mydb"));
    ASSERT_TRUE(admin.ok()) << admin.error().message();
    // A table the writer may not write: permission denied must come back as 403.
    ASSERT_TRUE(admin
                    ->exec("CREATE TABLE foo.locked (id bigint PRIMARY KEY, v text);"
                           "REVOKE ALL ON foo.locked FROM lambda_writer;"
                           "CREATE TABLE bar.docs (id bigint PRIMARY KEY, body jsonb, n numeric,"
                           " flag boolean);"
                           "GRANT INSERT ON bar.docs TO lambda_writer;")
                    .ok());
    // The caller: a user allowed lambda:InvokeFunction on the function only.
    auto& store = stack_->store();
    const iam::StoreSettings settings = store.settings();
    function_arn_ =
        "arn:aws:lambda:" + settings.region + ":" + settings.account_id + ":function:" + kFunction;
    ASSERT_TRUE(store.create_user("invoker").ok());
    ASSERT_TRUE(store
                    .put_user_policy("invoker", "invoke",
                                     R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",)"
                                     R"("Action":"lambda:InvokeFunction","Resource":")" +
                                         function_arn_ + R"("}]})")
                    .ok());
    auto key = store.create_access_key("invoker", std::chrono::system_clock::now());
    ASSERT_TRUE(key.ok());
    invoker_ = {key->access_key_id, key->secret_access_key, ""};
    ASSERT_TRUE(store.create_user("stranger").ok());
    auto stranger_key = store.create_access_key("stranger", std::chrono::system_clock::now());
    ASSERT_TRUE(stranger_key.ok());
    stranger_ = {stranger_key->access_key_id, stranger_key->secret_access_key, ""};

    home_ = stack_->dir() + "/home";
    std::filesystem::create_directories(home_);
    function_log_ = stack_->dir() + "/function.log";
    main_ = new Served(serve(function_config(stack_->port(), function_log_, 50)));
  }

  static void TearDownTestSuite() {
    delete main_;
    main_ = nullptr;
    delete stack_;
    stack_ = nullptr;
  }

  static FunctionConfig function_config(int db_port, const std::string& log_file,
                                        std::size_t concurrency) {
    FunctionConfig config;
    config.name = kFunction;
    config.bootstrap = bin_dir() + "/bootstrap";
    config.role_name = stack_->spec().iam.lambda_role;
    config.timeout = std::chrono::seconds(30);
    config.max_concurrency = concurrency;
    config.log_file = log_file;
    config.environment = {
        {"PROXY_ENDPOINT", "localhost"},      {"DB_HOSTADDR", "127.0.0.1"},
        {"DB_PORT", std::to_string(db_port)}, {"DB_NAME", "mydb"},
        {"DB_REGION", stack_->spec().region}, {"DB_CA_BUNDLE", stack_->proxy_ca_file()}};
    return config;
  }

  static Served serve(FunctionConfig config) {
    Served out;
    auto router = awslocal::make_default_router(stack_->state_dir());
    EXPECT_TRUE(router.ok());
    if (!router.ok()) return out;
    out.service = std::make_shared<LambdaService>(std::move(config));
    (*router)->add(out.service);
    awslocal::EndpointOptions options;
    options.state_dir = stack_->state_dir();
    options.tls_cert_file = stack_->dir() + "/endpoint.crt";
    options.tls_key_file = stack_->dir() + "/endpoint.key";
    options.threads = static_cast<int>(out.service->pool().config().max_concurrency) + 2;
    auto endpoint = awslocal::Endpoint::start(options, std::move(*router));
    EXPECT_TRUE(endpoint.ok()) << (endpoint.ok() ? "" : endpoint.error().message());
    if (endpoint.ok()) out.endpoint = std::move(*endpoint);
    return out;
  }

  // Lambda Invoke signed with SigV4 (in-process client).
  static awslocal::Response invoke(const std::string& payload, const Served& served = *main_,
                                   const sigv4::Credentials& who = invoker_,
                                   const std::string& function = kFunction) {
    awslocal::ClientOptions options{.endpoint_url = served.endpoint->url(),
                                    .region = "us-east-1",
                                    .ca_file = stack_->proxy_ca_file(),
                                    .timeout = std::chrono::seconds(60)};
    sigv4::HttpRequest request;
    request.method = "POST";
    request.path = "/2015-03-31/functions/" + function + "/invocations";
    request.body = payload;
    auto response = awslocal::send_signed(options, std::move(request), "lambda", who);
    EXPECT_TRUE(response.ok()) << (response.ok() ? "" : response.error().message());
    return response.ok() ? *response : awslocal::Response{};
  }

  static json body_of(const awslocal::Response& r) {
    json doc = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << r.body;
    return doc;
  }

  static std::vector<std::string> cli_env(const sigv4::Credentials& who) {
    return {"AWS_ACCESS_KEY_ID=" + who.access_key_id,
            "AWS_SECRET_ACCESS_KEY=" + std::string(who.secret_access_key.reveal()),
            "HOME=" + home_,
            "AWS_CONFIG_FILE=" + home_ + "/none",
            "AWS_SHARED_CREDENTIALS_FILE=" + home_ + "/none",
            "AWS_DEFAULT_REGION=us-east-1",
            "AWS_PAGER="};
  }

  static ProcessOutput run(const std::vector<std::string>& argv,
                           const sigv4::Credentials& who = invoker_) {
    ProcessOptions options;
    options.extra_env = cli_env(who);
    options.timeout = std::chrono::seconds(120);
    auto out = run_process(argv, options);
    EXPECT_TRUE(out.ok()) << (out.ok() ? "" : out.error().message());
    return out.ok() ? *out : ProcessOutput{};
  }

  // `aws lambda invoke ... OUT`; returns the CLI's output, the answer in `answer`.
  static ProcessOutput aws_invoke(const std::string& payload_arg, std::string& answer,
                                  const Served& served = *main_) {
    const std::string out_file = stack_->dir() + "/aws-out-" + std::to_string(++counter_) + ".json";
    ProcessOutput out =
        run({kAws, "lambda", "invoke", "--endpoint-url", served.endpoint->url(), "--ca-bundle",
             stack_->proxy_ca_file(), "--region", "us-east-1", "--function-name", kFunction,
             "--cli-binary-format", "raw-in-base64-out", "--payload", payload_arg, out_file});
    answer = read_file(out_file);
    return out;
  }

  static long long count(const std::string& sql) {
    auto admin = pgclient::Connection::open(stack_->pg().admin_dsn("mydb"));
    EXPECT_TRUE(admin.ok());
    if (!admin.ok()) return -1;
    auto rows = admin->exec(sql);
    EXPECT_TRUE(rows.ok()) << (rows.ok() ? "" : rows.error().message());
    if (!rows.ok() || rows->rows.empty() || !rows->rows[0][0]) return -1;
    return std::stoll(*rows->rows[0][0]);
  }

  static std::string unique(const std::string& prefix) {
    return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter_);
  }

  static ProxyStack* stack_;
  static Served* main_;
  static std::string function_arn_;
  static std::string home_;
  static std::string function_log_;
  static sigv4::Credentials invoker_;
  static sigv4::Credentials stranger_;
  static std::atomic<int> counter_;
};

ProxyStack* FunctionTest::stack_ = nullptr;
Served* FunctionTest::main_ = nullptr;
std::string FunctionTest::function_arn_;
std::string FunctionTest::home_;
std::string FunctionTest::function_log_;
sigv4::Credentials FunctionTest::invoker_;
sigv4::Credentials FunctionTest::stranger_;
std::atomic<int> FunctionTest::counter_{0};

TEST_F(FunctionTest, DocumentTest1ThroughTheAwsCli) {
  ASSERT_EQ(access(kAws, X_OK), 0)
      << kAws << " (Debian awscli) is needed: scripts/install-packages";
  const std::string marker = unique("value1");
  std::string answer;
  ProcessOutput out = aws_invoke(R"({"schema":"foo","table":"test_table","data":{"column1":")" +
                                     marker + R"(","column2":"value2"}})",
                                 answer);
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(
      json::parse(answer),
      json::parse(R"({"statusCode":200,"message":"Data inserted successfully","rowCount":1})"))
      << answer;
  json cli = json::parse(out.output, nullptr, false);
  ASSERT_FALSE(cli.is_discarded()) << out.output;
  EXPECT_EQ(cli["StatusCode"], 200);
  EXPECT_FALSE(cli.contains("FunctionError")) << out.output;
  EXPECT_EQ(count("SELECT count(*) FROM foo.test_table WHERE column1 = '" + marker +
                  "' AND column2 = 'value2'"),
            1);
}

TEST_F(FunctionTest, WritegateInvokeAndTheEmulatorsPath) {
  const std::string marker = unique("wg");
  ProcessOutput out =
      run({bin_dir() + "/writegate", "invoke", "--endpoint-url", main_->endpoint->url(),
           "--ca-bundle", stack_->proxy_ca_file(), "--payload",
           R"({"schema":"bar","table":"test_table","data":{"column1":")" + marker + R"("}})"});
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_NE(out.output.find(R"("statusCode":200)"), std::string::npos) << out.output;
  // The Runtime Interface Emulator's path names the one function "function".
  auto rie =
      invoke(R"({"schema":"bar","table":"test_table","data":{"column1":")" + marker + R"("}})",
             *main_, invoker_, "function");
  EXPECT_EQ(rie.status, 200);
  EXPECT_EQ(body_of(rie)["statusCode"], 200) << rie.body;
  EXPECT_EQ(count("SELECT count(*) FROM bar.test_table WHERE column1 = '" + marker + "'"), 2);
  // JSON values: an object as JSON text, numbers and booleans as their text.
  auto typed = invoke(
      R"({"schema":"bar","table":"docs","data":{"id":1,"body":{"k":[1,"x"]},"n":12.5,"flag":true}})");
  EXPECT_EQ(body_of(typed)["statusCode"], 200) << typed.body;
  EXPECT_EQ(count("SELECT count(*) FROM bar.docs WHERE id = 1 AND body = '{\"k\":[1,\"x\"]}'::jsonb"
                  " AND n = 12.5 AND flag"),
            1);
}

TEST_F(FunctionTest, CallersNeedInvokeFunction) {
  auto denied =
      invoke(R"({"schema":"foo","table":"test_table","data":{"column1":"x"}})", *main_, stranger_);
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_EQ(denied.header("x-amzn-ErrorType"), "AccessDeniedException");
  EXPECT_NE(denied.body.find("lambda:InvokeFunction"), std::string::npos) << denied.body;
  auto unknown = invoke("{}", *main_, invoker_, "other-function");
  EXPECT_EQ(unknown.status, 403) << unknown.body;  // not allowed on it: no probing for names
}

TEST_F(FunctionTest, BadEventsAre400AndWriteNothing) {
  const long long before_foo = count("SELECT count(*) FROM foo.test_table");
  const long long before_bar = count("SELECT count(*) FROM bar.test_table");
  struct Case {
    std::string payload;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {R"({"schema":"foo; DROP TABLE foo.test_table; --","table":"test_table","data":{"column1":"x"}})",
       "not a valid identifier"},
      {R"({"schema":"foo","table":"test_table\"; DROP TABLE foo.test_table; --","data":{"column1":"x"}})",
       "not a valid identifier"},
      {R"({"schema":"foo","table":"test_table (column1) VALUES ('x'); --","data":{"column1":"x"}})",
       "not a valid identifier"},
      {R"({"schema":"foo","table":"test_table","data":{"column1\") VALUES ('x'); DELETE FROM foo.test_table; --":"x"}})",
       "not a valid identifier"},
      {R"({"schema":"public","table":"test_table","data":{"column1":"x"}})",
       "schema \"public\" is not allowed"},
      {R"({"schema":"pg_catalog","table":"pg_class","data":{"relname":"x"}})", "not allowed"},
      {R"({"schema":"foo","table":"test_table","data":{"no_such_column":"x"}})",
       "a column of the event does not exist in foo.test_table"},
      {R"({"schema":"foo","table":"no_such_table","data":{"column1":"x"}})",
       "table foo.no_such_table does not exist"},
      {R"({"schema":"foo","table":"test_table","data":{"id":"not a number"}})",
       "does not fit the type"},
      {R"(not json)", "not valid JSON"},
  };
  for (const auto& c : cases) {
    auto r = invoke(c.payload);
    ASSERT_EQ(r.status, 200) << c.payload;
    EXPECT_TRUE(r.header("X-Amz-Function-Error").empty()) << c.payload;
    json body = body_of(r);
    EXPECT_EQ(body["statusCode"], 400) << c.payload << " -> " << r.body;
    EXPECT_NE(body["message"].get<std::string>().find(c.message_part), std::string::npos) << r.body;
    EXPECT_EQ(body["message"].get<std::string>().find("INSERT"), std::string::npos) << r.body;
  }
  EXPECT_EQ(count("SELECT count(*) FROM foo.test_table"), before_foo);
  EXPECT_EQ(count("SELECT count(*) FROM bar.test_table"), before_bar);
  EXPECT_EQ(count("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), 0);
}

TEST_F(FunctionTest, PermissionDeniedIs403) {
  auto r = invoke(R"({"schema":"foo","table":"locked","data":{"id":1,"v":"x"}})");
  json body = body_of(r);
  EXPECT_EQ(body["statusCode"], 403) << r.body;
  EXPECT_EQ(body["message"], "permission denied: the function may not insert in foo.locked");
  // Strict write mode: a keyed UPDATE reads its key column, which the writer may not.
  auto update = invoke(
      R"({"op":"update","schema":"foo","table":"test_table","data":{"column2":"y"},"key":{"id":1}})");
  EXPECT_EQ(body_of(update)["statusCode"], 403) << update.body;
  EXPECT_EQ(count("SELECT count(*) FROM foo.locked"), 0);
}

TEST_F(FunctionTest, DuplicateKeyIs409AndABatchIsOneTransaction) {
  const std::string insert = R"({"schema":"foo","table":"test_table","data":{"id":900001}})";
  EXPECT_EQ(body_of(invoke(insert))["statusCode"], 200);
  auto again = invoke(insert);
  json body = body_of(again);
  EXPECT_EQ(body["statusCode"], 409) << again.body;
  EXPECT_NE(body["message"].get<std::string>().find("duplicate key"), std::string::npos);
  // The second row of a batch is a duplicate: the first is rolled back with it.
  auto batch = invoke(
      R"({"op":"insert","schema":"foo","table":"test_table","rows":[{"id":900002},{"id":900001}]})");
  EXPECT_EQ(body_of(batch)["statusCode"], 409) << batch.body;
  EXPECT_EQ(count("SELECT count(*) FROM foo.test_table WHERE id = 900002"), 0);
  auto good = invoke(
      R"({"op":"insert","schema":"foo","table":"test_table","rows":[{"id":900003},{"id":900004,"column1":null}]})");
  json good_body = body_of(good);
  EXPECT_EQ(good_body["statusCode"], 200) << good.body;
  EXPECT_EQ(good_body["rowCount"], 2);
}

TEST_F(FunctionTest, PayloadLimits) {
  ASSERT_EQ(access(kAws, X_OK), 0) << kAws << " (Debian awscli) is needed";
  // Over the function's 1 MiB event cap, under Lambda's 6 MB: the function says why.
  const std::string filler(2 * 1024 * 1024, 'x');
  auto big =
      invoke(R"({"schema":"foo","table":"test_table","data":{"column1":")" + filler + R"("}})");
  json body = body_of(big);
  EXPECT_EQ(body["statusCode"], 400);
  EXPECT_NE(body["message"].get<std::string>().find("the limit is 1048576 bytes"),
            std::string::npos)
      << body["message"];
  // Over Lambda's 6 MB: refused by the Invoke API before any function runs.
  const std::string huge_file = stack_->dir() + "/huge.json";
  {
    std::ofstream out(huge_file, std::ios::binary);
    out << R"({"schema":"foo","table":"test_table","data":{"column1":")"
        << std::string(7 * 1024 * 1024, 'y') << R"("}})";
  }
  std::string answer;
  ProcessOutput out = aws_invoke("fileb://" + huge_file, answer);
  EXPECT_NE(out.exit_code, 0);
  EXPECT_NE(out.output.find("RequestEntityTooLargeException"), std::string::npos) << out.output;
  EXPECT_NE(out.output.find("6291456 bytes"), std::string::npos) << out.output;
}

TEST_F(FunctionTest, FiftyConcurrentInvocations) {
  const std::string marker = unique("concurrent");
  const std::size_t before = main_->service->pool().environments_started();
  std::vector<std::thread> threads;
  std::vector<int> status(50, 0);
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&, i] {
      auto r = invoke(R"({"schema":"foo","table":"test_table","data":{"column1":")" + marker +
                      R"(","column2":")" + std::to_string(i) + R"("}})");
      json b = json::parse(r.body, nullptr, false);
      status[static_cast<std::size_t>(i)] =
          r.status == 200 && !b.is_discarded() && b.contains("statusCode")
              ? b["statusCode"].get<int>()
              : -r.status;
    });
  }
  for (auto& t : threads)
    t.join();
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(status[static_cast<std::size_t>(i)], 200) << "invocation " << i;
  EXPECT_EQ(count("SELECT count(*) FROM foo.test_table WHERE column1 = '" + marker + "'"), 50);
  // They really ran side by side: more environments than the one a serial run needs.
  EXPECT_GT(main_->service->pool().environments_started(), before + 1);
  EXPECT_LE(main_->service->pool().environments_started(), 50u);
  // REPORT lines as on AWS.
  const std::string log = read_file(function_log_);
  EXPECT_NE(log.find("\tInit Duration: "), std::string::npos);
  EXPECT_NE(log.find("\tMax Memory Used: "), std::string::npos);
  EXPECT_NE(log.find("\"_aws\""), std::string::npos);  // EMF metrics
  EXPECT_EQ(log.find("X-Amz-Signature"), std::string::npos);
  EXPECT_EQ(log.find(invoker_.secret_access_key.reveal()), std::string::npos);
}

TEST_F(FunctionTest, FunctionErrorsReachTheCaller) {
  ASSERT_EQ(access(kAws, X_OK), 0) << kAws << " (Debian awscli) is needed";
  // Nothing listens on this port: the database is unreachable, a retryable failure.
  auto port = pick_free_port();
  ASSERT_TRUE(port.ok());
  Served broken = serve(function_config(*port, stack_->dir() + "/broken.log", 2));
  std::string answer;
  ProcessOutput out =
      aws_invoke(R"({"schema":"foo","table":"test_table","data":{"column1":"x"}})", answer, broken);
  ASSERT_EQ(out.exit_code, 0) << out.output;
  json cli = json::parse(out.output, nullptr, false);
  ASSERT_FALSE(cli.is_discarded()) << out.output;
  EXPECT_EQ(cli["FunctionError"], "Unhandled") << out.output;
  json error = json::parse(answer, nullptr, false);
  ASSERT_FALSE(error.is_discarded()) << answer;
  EXPECT_EQ(error["errorType"], "Writegate.Retryable") << answer;
  EXPECT_NE(error["errorMessage"].get<std::string>().find("503"), std::string::npos) << answer;
  // writegate invoke: the answer on stdout, exit code 1.
  ProcessOutput wg = run({bin_dir() + "/writegate", "invoke", "--endpoint-url",
                          broken.endpoint->url(), "--ca-bundle", stack_->proxy_ca_file(),
                          "--payload", R"({"schema":"foo","table":"test_table","data":{"a":1}})"});
  EXPECT_EQ(wg.exit_code, 1) << wg.output;
  EXPECT_NE(wg.output.find("X-Amz-Function-Error: Unhandled"), std::string::npos) << wg.output;
}

TEST_F(FunctionTest, AFailedInitIsAFunctionError) {
  // No PROXY_ENDPOINT: bootstrap reports /init/error and exits, as on AWS.
  FunctionConfig config = function_config(stack_->port(), stack_->dir() + "/init.log", 1);
  config.environment.erase(config.environment.begin());
  ASSERT_EQ(config.environment.front().first, "DB_HOSTADDR");
  Served unconfigured = serve(config);
  auto r = invoke("{}", unconfigured);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("X-Amz-Function-Error"), "Unhandled");
  json body = body_of(r);
  EXPECT_EQ(body["errorType"], "Runtime.InitError") << r.body;
  EXPECT_NE(r.body.find("PROXY_ENDPOINT is not set"), std::string::npos) << r.body;
  // No executable at all.
  config.bootstrap = stack_->dir() + "/no-such-bootstrap";
  Served missing = serve(config);
  auto gone = invoke("{}", missing);
  EXPECT_EQ(gone.header("X-Amz-Function-Error"), "Unhandled");
  EXPECT_NE(gone.body.find("No such file or directory"), std::string::npos) << gone.body;
}

TEST_F(FunctionTest, TheFunctionTimeoutIsEnforced) {
  // A runtime that takes its event and never answers.
  const std::string script = stack_->dir() + "/slow-bootstrap";
  {
    std::ofstream out(script);
    out << "#!/bin/bash\n"
           "exec 3<>/dev/tcp/${AWS_LAMBDA_RUNTIME_API%:*}/${AWS_LAMBDA_RUNTIME_API#*:}\n"
           "printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' "
           ">&3\n"
           "sleep 60\n";
  }
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  FunctionConfig config = function_config(stack_->port(), stack_->dir() + "/slow.log", 1);
  config.bootstrap = script;
  config.timeout = std::chrono::seconds(1);
  Served slow = serve(config);
  const auto started = std::chrono::steady_clock::now();
  auto r = invoke("{}", slow);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("X-Amz-Function-Error"), "Unhandled");
  EXPECT_NE(r.body.find("Task timed out after 1.00 seconds"), std::string::npos) << r.body;
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_NE(read_file(stack_->dir() + "/slow.log").find("REPORT RequestId: "), std::string::npos);
}

TEST_F(FunctionTest, AProxyRestartBetweenInvocationsReconnectsWithAFreshToken) {
  const std::string payload =
      R"({"schema":"foo","table":"test_table","data":{"column1":"restart"}})";
  ASSERT_EQ(body_of(invoke(payload))["statusCode"], 200);
  const std::size_t envs = main_->service->pool().environments_started();
  const std::size_t connects = stack_->connect_log_count();
  ASSERT_TRUE(stack_->restart_proxy());
  auto r = invoke(payload);
  EXPECT_EQ(body_of(r)["statusCode"], 200) << r.body;
  // The same (warm) environment logged in once more: a new connection with a new token.
  EXPECT_EQ(main_->service->pool().environments_started(), envs);
  const std::string line = stack_->wait_connect_log(connects);
  EXPECT_NE(line.find("\"outcome\":\"ok\""), std::string::npos) << line;
  EXPECT_EQ(stack_->connect_log_count(), connects + 1);
}

TEST_F(FunctionTest, ATokenIsSignedForEveryNewConnection) {
  // The writer's clock runs 14 min 45 s behind: its first token expires 15 s from now (slack
  // for slow logins under load), as a token made at init would. A connection opened after that
  // needs a fresh token.
  const auto skew = std::chrono::minutes(14) + std::chrono::seconds(45);
  auto credentials = stack_->role_credentials();
  DbConfig config{.host = "localhost",
                  .port = static_cast<std::uint16_t>(stack_->port()),
                  .dbname = "mydb",
                  .user = "lambda_writer",
                  .region = stack_->spec().region,
                  .ca_file = stack_->proxy_ca_file(),
                  .hostaddr = "127.0.0.1"};
  DbWriter writer(
      config, [&]() -> Result<sigv4::Credentials> { return credentials; },
      [&] { return std::chrono::system_clock::now() - skew; });
  WritePlan plan;
  plan.target = "foo.test_table";
  plan.statements.push_back(
      {R"(INSERT INTO "foo"."test_table" ("column1") VALUES ($1))", {SqlValue("token-1")}});
  WriteResult first = writer.execute(plan, std::chrono::seconds(20));
  ASSERT_TRUE(first.ok) << first.sqlstate << " " << first.detail;
  const auto first_token_time = writer.stats().last_token_time;
  std::this_thread::sleep_for(std::chrono::seconds(16));
  // The first token is now expired: a login with it is refused.
  auto old_token = stack_->token(credentials, "", first_token_time);
  auto refused = pgclient::Connection::open(stack_->dsn(old_token));
  EXPECT_FALSE(refused.ok());
  ASSERT_TRUE(stack_->restart_proxy());
  plan.statements[0].params[0] = SqlValue("token-2");
  WriteResult second = writer.execute(plan, std::chrono::seconds(20));
  EXPECT_TRUE(second.ok) << second.sqlstate << " " << second.detail;
  EXPECT_EQ(writer.stats().connections_opened, 2);
  EXPECT_GE(writer.stats().last_token_time - first_token_time, std::chrono::seconds(16));
  EXPECT_EQ(count("SELECT count(*) FROM foo.test_table WHERE column1 IN ('token-1','token-2')"), 2);
}

TEST_F(FunctionTest, EndpointServeRunsTheFunction) {
  // The same through the CLI: `writegate endpoint serve --function-bootstrap ...`.
  auto port = pick_free_port();
  ASSERT_TRUE(port.ok());
  const std::string listen = "127.0.0.1:" + std::to_string(*port);
  const std::string log = stack_->dir() + "/serve-function.log";
  auto server = ChildProcess::start({bin_dir() + "/writegate",
                                     "endpoint",
                                     "serve",
                                     "--state",
                                     stack_->state_dir(),
                                     "--listen",
                                     listen,
                                     "--quiet",
                                     "--function-bootstrap",
                                     bin_dir() + "/bootstrap",
                                     "--function-env",
                                     "PROXY_ENDPOINT=localhost",
                                     "--function-env",
                                     "DB_HOSTADDR=127.0.0.1",
                                     "--function-env",
                                     "DB_PORT=" + std::to_string(stack_->port()),
                                     "--function-env",
                                     "DB_NAME=mydb",
                                     "--function-env",
                                     "DB_REGION=" + stack_->spec().region,
                                     "--function-env",
                                     "DB_CA_BUNDLE=" + stack_->proxy_ca_file(),
                                     "--function-concurrency",
                                     "2",
                                     "--function-log",
                                     log});
  ASSERT_TRUE(server.ok()) << server.error().message();
  auto line = (*server)->read_line(std::chrono::seconds(20));
  ASSERT_TRUE(line.ok()) << (*server)->output_so_far();
  EXPECT_NE(line->find("function aurora-writer-lambda"), std::string::npos) << *line;
  const std::string marker = unique("serve");
  ProcessOutput out =
      run({bin_dir() + "/writegate", "invoke", "--endpoint-url", "http://" + listen, "--payload",
           R"({"schema":"foo","table":"test_table","data":{"column1":")" + marker + R"("}})"});
  EXPECT_EQ(out.exit_code, 0) << out.output;
  EXPECT_NE(out.output.find(R"("statusCode":200)"), std::string::npos) << out.output;
  EXPECT_EQ(count("SELECT count(*) FROM foo.test_table WHERE column1 = '" + marker + "'"), 1);
  EXPECT_EQ((*server)->stop(), 0) << (*server)->output_so_far();
  EXPECT_NE(read_file(log).find("REPORT RequestId: "), std::string::npos);
}

}  // namespace
}  // namespace writegate::lambda
