// The function's pure core, table-driven: event parsing and validation, SQL planning, the
// SQLSTATE -> answer mapping, Runtime API parsing, logs and EMF metrics.
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "awslocal/http_codec.h"
#include "lambda/emulator.h"
#include "lambda/event.h"
#include "lambda/plan.h"
#include "lambda/runtime.h"
#include "lambda/telemetry.h"

namespace writegate::lambda {
namespace {

using nlohmann::json;
const std::vector<std::string> kSchemas = {"foo", "bar"};

// ---- events -------------------------------------------------------------------------------

struct BadEventCase {
  const char* name;
  std::string payload;
  ErrorCode code;
  const char* message_part;
};

class BadEvent : public ::testing::TestWithParam<BadEventCase> {};

TEST_P(BadEvent, IsRefusedWithAReason) {
  const auto& c = GetParam();
  auto event = parse_write_event(c.payload, kSchemas);
  ASSERT_FALSE(event.ok()) << c.payload;
  EXPECT_EQ(event.error().code(), c.code) << event.error().message();
  EXPECT_NE(event.error().message().find(c.message_part), std::string::npos)
      << event.error().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadEvent,
    ::testing::Values(
        BadEventCase{"not_json", "{", ErrorCode::kInvalidArgument, "not valid JSON"},
        BadEventCase{"array", "[]", ErrorCode::kInvalidArgument, "must be a JSON object"},
        BadEventCase{"schema_public", R"({"schema":"public","table":"t","data":{"a":1}})",
                     ErrorCode::kInvalidArgument, "schema \"public\" is not allowed"},
        BadEventCase{"schema_missing", R"({"table":"t","data":{"a":1}})",
                     ErrorCode::kInvalidArgument, "no \"schema\""},
        BadEventCase{"schema_injection",
                     R"({"schema":"foo; DROP TABLE x","table":"t","data":{"a":1}})",
                     ErrorCode::kInvalidArgument, "not a valid identifier"},
        BadEventCase{"schema_quote", R"({"schema":"foo\"","table":"t","data":{"a":1}})",
                     ErrorCode::kInvalidArgument, "not a valid identifier"},
        BadEventCase{"table_injection",
                     R"({"schema":"foo","table":"t (a) VALUES (1); --","data":{"a":1}})",
                     ErrorCode::kInvalidArgument, "table name"},
        BadEventCase{"table_dotted", R"({"schema":"foo","table":"public.t","data":{"a":1}})",
                     ErrorCode::kInvalidArgument, "not a valid identifier"},
        BadEventCase{"table_number", R"({"schema":"foo","table":7,"data":{"a":1}})",
                     ErrorCode::kInvalidArgument, "must be a string"},
        BadEventCase{"column_injection",
                     R"({"schema":"foo","table":"t","data":{"a\") VALUES (1); --":1}})",
                     ErrorCode::kInvalidArgument, "column name"},
        BadEventCase{"column_too_long",
                     R"({"schema":"foo","table":"t","data":{")" + std::string(64, 'a') + R"(":1}})",
                     ErrorCode::kInvalidArgument, "column name"},
        BadEventCase{"column_digit_first", R"({"schema":"foo","table":"t","data":{"1a":1}})",
                     ErrorCode::kInvalidArgument, "column name"},
        BadEventCase{"data_empty", R"({"schema":"foo","table":"t","data":{}})",
                     ErrorCode::kInvalidArgument, "at least one column"},
        BadEventCase{"data_not_object", R"({"schema":"foo","table":"t","data":[1]})",
                     ErrorCode::kInvalidArgument, "must be a JSON object"},
        BadEventCase{"no_data", R"({"schema":"foo","table":"t"})", ErrorCode::kInvalidArgument,
                     "needs \"data\""},
        BadEventCase{"unknown_member", R"({"schema":"foo","table":"t","data":{"a":1},"sql":"x"})",
                     ErrorCode::kInvalidArgument, "unknown member"},
        BadEventCase{"bad_op", R"({"op":"select","schema":"foo","table":"t","data":{"a":1}})",
                     ErrorCode::kInvalidArgument, "insert, update or delete"},
        BadEventCase{"update_without_key",
                     R"({"op":"update","schema":"foo","table":"t","data":{"a":1}})",
                     ErrorCode::kInvalidArgument, "needs \"key\""},
        BadEventCase{"delete_without_key", R"({"op":"delete","schema":"foo","table":"t"})",
                     ErrorCode::kInvalidArgument, "needs \"key\""},
        BadEventCase{"delete_with_data",
                     R"({"op":"delete","schema":"foo","table":"t","data":{"a":1},"key":{"id":1}})",
                     ErrorCode::kInvalidArgument, "key\" only"},
        BadEventCase{"insert_with_key",
                     R"({"schema":"foo","table":"t","data":{"a":1},"key":{"id":1}})",
                     ErrorCode::kInvalidArgument, "data\" only"},
        BadEventCase{"rows_and_data",
                     R"({"schema":"foo","table":"t","data":{"a":1},"rows":[{"a":1}]})",
                     ErrorCode::kInvalidArgument, "not both"},
        BadEventCase{"rows_empty", R"({"schema":"foo","table":"t","rows":[]})",
                     ErrorCode::kInvalidArgument, "empty"},
        BadEventCase{"rows_bad_item", R"({"schema":"foo","table":"t","rows":[{"a":1},{"b;":1}]})",
                     ErrorCode::kInvalidArgument, "rows[1]"},
        BadEventCase{"nul_in_value", R"({"schema":"foo","table":"t","data":{"a":"x\u0000y"}})",
                     ErrorCode::kInvalidArgument, "NUL"},
        BadEventCase{"too_deep",
                     R"({"schema":"foo","table":"t","data":{"a":)" + std::string(100, '[') +
                         std::string(100, ']') + "}}",
                     ErrorCode::kOutOfRange, "deeper than 64"}),
    [](const auto& test) { return std::string(test.param.name); });

TEST(WriteEvent, TheDocumentsEventIsAnInsert) {
  auto event = parse_write_event(
      R"({"schema":"foo","table":"test_table","data":{"column1":"value1","column2":"value2"}})",
      kSchemas);
  ASSERT_TRUE(event.ok()) << event.error().message();
  EXPECT_EQ(event->op, WriteOp::kInsert);
  EXPECT_EQ(event->schema, "foo");
  EXPECT_EQ(event->table, "test_table");
  ASSERT_EQ(event->rows.size(), 1u);
  ASSERT_EQ(event->rows[0].data.size(), 2u);
  EXPECT_EQ(event->rows[0].data[0].first, "column1");
  EXPECT_EQ(event->rows[0].data[0].second, SqlValue("value1"));
}

TEST(WriteEvent, ValuesBecomeTextNullOrJsonText) {
  auto event = parse_write_event(
      R"({"schema":"bar","table":"t","data":{"s":"x","i":-42,"u":18446744073709551615,"f":1.5,
          "b":true,"n":null,"o":{"k":[1,"two"]},"a":[1,2]}})",
      kSchemas);
  ASSERT_TRUE(event.ok()) << event.error().message();
  std::map<std::string, SqlValue> got(event->rows[0].data.begin(), event->rows[0].data.end());
  EXPECT_EQ(got["s"], SqlValue("x"));
  EXPECT_EQ(got["i"], SqlValue("-42"));
  EXPECT_EQ(got["u"], SqlValue("18446744073709551615"));
  EXPECT_EQ(got["f"], SqlValue("1.5"));
  EXPECT_EQ(got["b"], SqlValue("true"));
  EXPECT_EQ(got["n"], std::nullopt);
  EXPECT_EQ(got["o"], SqlValue(R"({"k":[1,"two"]})"));
  EXPECT_EQ(got["a"], SqlValue("[1,2]"));
}

TEST(WriteEvent, LimitsOnPayloadAndBatch) {
  EventLimits limits;
  limits.max_payload_bytes = 100;
  limits.max_rows = 2;
  auto big = parse_write_event(std::string(101, ' '), kSchemas, limits);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), ErrorCode::kOutOfRange);
  EXPECT_NE(big.error().message().find("101 bytes; the limit is 100"), std::string::npos);
  auto many = parse_write_event(R"({"schema":"foo","table":"t","rows":[{"a":1},{"a":2},{"a":3}]})",
                                kSchemas, limits);
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.error().code(), ErrorCode::kOutOfRange);
  EXPECT_NE(many.error().message().find("3 rows; the limit is 2"), std::string::npos);
}

TEST(AllowedSchemas, ParsesTheList) {
  auto list = parse_allowed_schemas(" foo, bar ,");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(*list, (std::vector<std::string>{"foo", "bar"}));
  EXPECT_FALSE(parse_allowed_schemas("").ok());
  EXPECT_FALSE(parse_allowed_schemas("foo,b-ar").ok());
}

// ---- planning -----------------------------------------------------------------------------

struct PlanCase {
  const char* name;
  const char* event;
  std::vector<std::string> sql;
  std::vector<std::vector<SqlValue>> params;
};

class Planning : public ::testing::TestWithParam<PlanCase> {};

TEST_P(Planning, ProducesQuotedSqlAndBoundValues) {
  const auto& c = GetParam();
  auto event = parse_write_event(c.event, kSchemas);
  ASSERT_TRUE(event.ok()) << event.error().message();
  WritePlan plan = plan_write(*event);
  ASSERT_EQ(plan.statements.size(), c.sql.size());
  for (std::size_t i = 0; i < c.sql.size(); ++i) {
    EXPECT_EQ(plan.statements[i].sql, c.sql[i]);
    EXPECT_EQ(plan.statements[i].params, c.params[i]);
    // Never a read.
    EXPECT_EQ(plan.statements[i].sql.find("SELECT"), std::string::npos);
    EXPECT_EQ(plan.statements[i].sql.find("RETURNING"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Planning,
    ::testing::Values(
        PlanCase{
            "document_insert",
            R"({"schema":"foo","table":"test_table","data":{"column1":"value1","column2":"value2"}})",
            {R"(INSERT INTO "foo"."test_table" ("column1", "column2") VALUES ($1, $2))"},
            {{SqlValue("value1"), SqlValue("value2")}}},
        PlanCase{"value_with_sql_stays_a_parameter",
                 R"({"schema":"foo","table":"t","data":{"c":"'); DROP TABLE foo.t; --"}})",
                 {R"(INSERT INTO "foo"."t" ("c") VALUES ($1))"},
                 {{SqlValue("'); DROP TABLE foo.t; --")}}},
        PlanCase{"mixed_case_identifiers_are_quoted_as_given",
                 R"({"schema":"bar","table":"Orders","data":{"Total$":3}})",
                 {R"(INSERT INTO "bar"."Orders" ("Total$") VALUES ($1))"},
                 {{SqlValue("3")}}},
        PlanCase{"batch_insert",
                 R"({"op":"insert","schema":"foo","table":"t","rows":[{"a":1},{"a":2,"b":null}]})",
                 {R"(INSERT INTO "foo"."t" ("a") VALUES ($1))",
                  R"(INSERT INTO "foo"."t" ("a", "b") VALUES ($1, $2))"},
                 {{SqlValue("1")}, {SqlValue("2"), std::nullopt}}},
        PlanCase{
            "update_by_key",
            R"({"op":"update","schema":"foo","table":"t","data":{"a":"x","b":null},"key":{"id":7}})",
            {R"(UPDATE "foo"."t" SET "a" = $1, "b" = $2 WHERE "id" = $3)"},
            {{SqlValue("x"), std::nullopt, SqlValue("7")}}},
        PlanCase{
            "update_composite_key_with_null",
            R"({"op":"update","schema":"foo","table":"t","data":{"a":1},"key":{"k1":"x","k2":null}})",
            {R"(UPDATE "foo"."t" SET "a" = $1 WHERE "k1" = $2 AND "k2" IS NULL)"},
            {{SqlValue("1"), SqlValue("x")}}},
        PlanCase{"delete_by_key",
                 R"({"op":"delete","schema":"bar","table":"t","key":{"id":"9"}})",
                 {R"(DELETE FROM "bar"."t" WHERE "id" = $1)"},
                 {{SqlValue("9")}}},
        PlanCase{
            "keyed_batch",
            R"({"op":"delete","schema":"foo","table":"t","rows":[{"key":{"id":1}},{"key":{"id":2}}]})",
            {R"(DELETE FROM "foo"."t" WHERE "id" = $1)",
             R"(DELETE FROM "foo"."t" WHERE "id" = $1)"},
            {{SqlValue("1")}, {SqlValue("2")}}}),
    [](const auto& test) { return std::string(test.param.name); });

TEST(Planning, QuoteIdentifierDoublesQuotes) {
  EXPECT_EQ(quote_identifier("a"), "\"a\"");
  EXPECT_EQ(quote_identifier("we\"ird"), "\"we\"\"ird\"");
}

// ---- status mapping -----------------------------------------------------------------------

struct MappingCase {
  const char* sqlstate;
  int status;
  bool retryable;
};

class Mapping : public ::testing::TestWithParam<MappingCase> {};

TEST_P(Mapping, StatusAndRetry) {
  const auto& c = GetParam();
  WritePlan plan;
  plan.target = "foo.t";
  Outcome o = outcome_for_sqlstate(c.sqlstate, plan);
  EXPECT_EQ(o.status_code, c.status) << c.sqlstate;
  EXPECT_EQ(o.retryable, c.retryable) << c.sqlstate;
  EXPECT_FALSE(o.message.empty());
  EXPECT_EQ(o.message.find("INSERT"), std::string::npos);
}

TEST(MappingMessages, AKeyedWriteRefusedSaysWhatIsReallyMissing) {
  WritePlan plan;
  plan.target = "foo.test_table";
  plan.op = WriteOp::kDelete;
  EXPECT_EQ(outcome_for_sqlstate("42501", plan).message,
            "permission denied: the function may not delete in foo.test_table by key: a keyed "
            "delete needs SELECT on the key columns (database.write_mode: keyed) besides delete");
  plan.op = WriteOp::kInsert;
  EXPECT_EQ(outcome_for_sqlstate("42501", plan).message,
            "permission denied: the function may not insert in foo.test_table");
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Mapping,
    ::testing::Values(MappingCase{"23505", 409, false}, MappingCase{"23P01", 409, false},
                      MappingCase{"42501", 403, false}, MappingCase{"42P01", 400, false},
                      MappingCase{"3F000", 400, false}, MappingCase{"42703", 400, false},
                      MappingCase{"22P02", 400, false}, MappingCase{"22001", 400, false},
                      MappingCase{"42804", 400, false}, MappingCase{"23502", 400, false},
                      MappingCase{"23503", 400, false}, MappingCase{"23514", 400, false},
                      MappingCase{"0A000", 400, false}, MappingCase{"54000", 400, false},
                      MappingCase{"40001", 503, true}, MappingCase{"40P01", 503, true},
                      MappingCase{"08006", 503, true}, MappingCase{"08001", 503, true},
                      MappingCase{"57P01", 503, true}, MappingCase{"53300", 503, true},
                      MappingCase{"57014", 503, true}, MappingCase{"", 503, true},
                      MappingCase{"XX000", 500, false}, MappingCase{"42601", 500, false},
                      MappingCase{"28P01", 500, false}, MappingCase{"25P02", 500, false}));

TEST(Mapping, ResponseBodyHasTheDocumentsShape) {
  WritePlan plan;
  plan.op = WriteOp::kInsert;
  EXPECT_EQ(response_body(success_outcome(plan, 2), 2),
            R"({"statusCode":200,"message":"Data inserted successfully","rowCount":2})");
  EXPECT_EQ(response_body(Outcome{409, "dup", false}, 0), R"({"statusCode":409,"message":"dup"})");
}

// ---- Runtime API --------------------------------------------------------------------------

TEST(RuntimeApi, Paths) {
  EXPECT_EQ(next_path(), "/2018-06-01/runtime/invocation/next");
  EXPECT_EQ(response_path("abc"), "/2018-06-01/runtime/invocation/abc/response");
  EXPECT_EQ(error_path("abc"), "/2018-06-01/runtime/invocation/abc/error");
  EXPECT_EQ(init_error_path(), "/2018-06-01/runtime/init/error");
  EXPECT_EQ(json::parse(error_body("boom", "T")),
            json::parse(R"({"errorMessage":"boom","errorType":"T","stackTrace":[]})"));
}

TEST(RuntimeApi, InvocationFromHeaders) {
  auto inv = invocation_from_response(
      200,
      {{"lambda-runtime-aws-request-id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd"},
       {"Lambda-Runtime-Deadline-Ms", "1542409706888"},
       {"Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:1:function:f"},
       {"Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1"}},
      "{}");
  ASSERT_TRUE(inv.ok()) << inv.error().message();
  EXPECT_EQ(inv->request_id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
  EXPECT_EQ(inv->deadline_ms, 1542409706888);
  EXPECT_EQ(inv->function_arn, "arn:aws:lambda:us-east-1:1:function:f");
  EXPECT_EQ(inv->trace_id, "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1");
  EXPECT_EQ(inv->payload, "{}");
  const auto at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1542409706000));
  EXPECT_EQ(inv->remaining(at).count(), 888);
  EXPECT_EQ(inv->remaining(at + std::chrono::seconds(5)).count(), 0);
}

TEST(RuntimeApi, RefusesBadInvocations) {
  EXPECT_FALSE(invocation_from_response(200, {{"Lambda-Runtime-Deadline-Ms", "1"}}, "").ok());
  EXPECT_FALSE(
      invocation_from_response(
          200, {{"Lambda-Runtime-Aws-Request-Id", "a/../b"}, {"Lambda-Runtime-Deadline-Ms", "1"}},
          "")
          .ok());
  EXPECT_FALSE(
      invocation_from_response(
          200, {{"Lambda-Runtime-Aws-Request-Id", "abc"}, {"Lambda-Runtime-Deadline-Ms", "12x"}},
          "")
          .ok());
  auto gone = invocation_from_response(500, {}, "");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), ErrorCode::kUnavailable);
}

// A Runtime API stand-in on loopback: /next hands out one event, the first POST of an answer
// fails with 500 (a transient error the client must retry), later ones are accepted.
TEST(RuntimeApi, ClientRetriesATransientErrorAndSendsTheErrorType) {
  namespace net = boost::asio;
  namespace http = boost::beast::http;
  using tcp = net::ip::tcp;
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
  const int port = acceptor.local_endpoint().port();
  std::vector<std::string> seen;  // "METHOD target body [error type]"
  std::thread server([&] {
    tcp::socket socket(ioc);
    acceptor.accept(socket);
    boost::beast::flat_buffer buffer;
    int posts = 0;
    for (int i = 0; i < 4; ++i) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) return;
      seen.push_back(std::string(req.method_string()) + " " + std::string(req.target()) + " " +
                     req.body() + " " + std::string(req["Lambda-Runtime-Function-Error-Type"]));
      http::response<http::string_body> res{http::status::accepted, 11};
      if (req.method() == http::verb::get) {
        res.result(http::status::ok);
        res.set("Lambda-Runtime-Aws-Request-Id", "req-1");
        res.set("Lambda-Runtime-Deadline-Ms", "4102444800000");
        res.set("Lambda-Runtime-Trace-Id", "Root=1-abc");
        res.body() = R"({"schema":"foo"})";
      } else if (++posts == 1) {
        res.result(http::status::internal_server_error);
      }
      res.keep_alive(true);
      res.prepare_payload();
      http::write(socket, res, ec);
    }
  });
  auto client = RuntimeClient::connect_to("127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(client.ok());
  auto invocation = (*client)->next();
  ASSERT_TRUE(invocation.ok()) << invocation.error().message();
  EXPECT_EQ(invocation->request_id, "req-1");
  EXPECT_EQ(invocation->trace_id, "Root=1-abc");
  EXPECT_EQ(invocation->payload, R"({"schema":"foo"})");
  EXPECT_TRUE((*client)->respond("req-1", "answer").ok());
  EXPECT_TRUE((*client)->fail("req-1", {"Writegate.Retryable", "503: retry"}).ok());
  server.join();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0], "GET /2018-06-01/runtime/invocation/next  ");
  EXPECT_EQ(seen[1], "POST /2018-06-01/runtime/invocation/req-1/response answer ");
  EXPECT_EQ(seen[2], seen[1]);  // retried after the 500
  EXPECT_NE(seen[3].find("POST /2018-06-01/runtime/invocation/req-1/error "), std::string::npos);
  EXPECT_NE(seen[3].find(R"("errorType":"Writegate.Retryable")"), std::string::npos) << seen[3];
  EXPECT_NE(seen[3].find(" Writegate.Retryable"), std::string::npos) << seen[3];
}

// ---- logs and metrics ---------------------------------------------------------------------

TEST(Telemetry, JsonLogLineAndLevels) {
  std::vector<std::string> lines;
  Logger logger(true, LogLevel::kInfo, [&](const std::string& l) { lines.push_back(l); });
  logger.log(LogLevel::kDebug, "hidden");
  logger.info("written", "req-1", {{"rowCount", 3}});
  ASSERT_EQ(lines.size(), 1u);
  json line = json::parse(lines[0]);
  EXPECT_EQ(line["level"], "INFO");
  EXPECT_EQ(line["requestId"], "req-1");
  EXPECT_EQ(line["message"], "written");
  EXPECT_EQ(line["rowCount"], 3);
  EXPECT_TRUE(line.contains("timestamp"));
  Logger text(false, parse_log_level("warn"), [&](const std::string& l) { lines.push_back(l); });
  text.info("dropped");
  text.error("shown", "r2");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find("\tr2\tERROR\tshown"), std::string::npos) << lines[1];
}

TEST(Telemetry, EmbeddedMetricFormat) {
  InvocationMetrics m{"aurora-writer-lambda", 409, 0, 2.5, 1};
  json doc = json::parse(
      emf_line(m, std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123))));
  EXPECT_EQ(doc["_aws"]["Timestamp"], 1700000000123);
  const json& directive = doc["_aws"]["CloudWatchMetrics"][0];
  EXPECT_EQ(directive["Namespace"], "writegate");
  EXPECT_EQ(directive["Dimensions"], json::parse(R"([["FunctionName","StatusCode"]])"));
  std::vector<std::string> names;
  for (const auto& metric : directive["Metrics"])
    names.push_back(metric["Name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"RowsWritten", "WriteLatency", "ConnectionsOpened",
                                             "Errors"}));
  EXPECT_EQ(doc["StatusCode"], "409");
  EXPECT_EQ(doc["Errors"], 1);
  EXPECT_EQ(doc["ConnectionsOpened"], 1);
  EXPECT_EQ(doc["WriteLatency"], 2.5);
}

// ---- the local Lambda's pure parts --------------------------------------------------------

TEST(LocalLambda, InvokePaths) {
  EXPECT_EQ(invoke_path_function("/2015-03-31/functions/aurora-writer-lambda/invocations"),
            "aurora-writer-lambda");
  EXPECT_EQ(invoke_path_function("/2015-03-31/functions/function/invocations"), "function");
  EXPECT_EQ(invoke_path_function(
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af/"
                "invocations"),
            "arn:aws:lambda:us-east-1:1:function:f");
  EXPECT_EQ(invoke_path_function("/2015-03-31/functions/a/b/invocations"), "");
  EXPECT_EQ(invoke_path_function("/2015-03-31/functions//invocations"), "");
  EXPECT_EQ(invoke_path_function("/2015-03-31/functions/f"), "");
}

TEST(LocalLambda, ReportLine) {
  InvokeResult r;
  r.duration_ms = 1.234;
  r.max_memory_used_mb = 12;
  EXPECT_EQ(report_line("id", r, 256),
            "REPORT RequestId: id\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 256 "
            "MB\tMax Memory Used: 12 MB");
  r.init_duration_ms = 4.5;
  EXPECT_NE(report_line("id", r, 256).find("\tInit Duration: 4.50 ms"), std::string::npos);
}

TEST(LocalLambda, TheInvokeRouteTakesSixMegabytes) {
  using awslocal::ApiError;
  using awslocal::Request;
  const std::string body(2 * 1024 * 1024, 'x');
  auto request = [&](const std::string& target, std::size_t length) {
    return "POST " + target + " HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(length) +
           "\r\n\r\n" + body.substr(0, std::min(length, body.size()));
  };
  auto invoke =
      awslocal::parse_http_request(request("/2015-03-31/functions/f/invocations", body.size()));
  ASSERT_TRUE(std::holds_alternative<Request>(invoke));
  EXPECT_EQ(std::get<Request>(invoke).body.size(), body.size());
  auto other = awslocal::parse_http_request(request("/", body.size()));
  ASSERT_TRUE(std::holds_alternative<ApiError>(other));
  EXPECT_EQ(std::get<ApiError>(other).http_status, 413);
  auto huge =
      awslocal::parse_http_request(request("/2015-03-31/functions/f/invocations", 7 * 1024 * 1024));
  ASSERT_TRUE(std::holds_alternative<ApiError>(huge));
  EXPECT_EQ(std::get<ApiError>(huge).http_status, 413);
  awslocal::Response answer =
      awslocal::body_too_large("/2015-03-31/functions/f/invocations", {}, "id");
  EXPECT_EQ(answer.status, 413);
  EXPECT_EQ(answer.header("x-amzn-ErrorType"), "RequestEntityTooLargeException");
  EXPECT_NE(answer.body.find("6291456 bytes"), std::string::npos) << answer.body;
}

}  // namespace
}  // namespace writegate::lambda
