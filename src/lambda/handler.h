// The writer handler: event -> validated plan -> one transaction through RDS Proxy -> answer.
//
//   auto config = WriterConfig::from_environment();   // PROXY_ENDPOINT, DB_REGION, DB_NAME, ...
//   WriterHandler handler(*config, Logger::from_environment());
//   HandlerResult r = handler.handle(invocation);
//   r.function_error ? client.fail(id, *r.function_error) : client.respond(id, r.body);
//
// Bad events (400), permission denied (403) and duplicates (409) are normal answers; retryable
// failures (503: connection lost, serialization failure, deadlock, database unreachable) become
// function errors so that asynchronous invocations are retried. No answer holds SQL, a
// connection string or a token.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "lambda/db_writer.h"
#include "lambda/event.h"
#include "lambda/runtime.h"
#include "lambda/telemetry.h"

#ifndef WRITEGATE_LAMBDA_DB_USER
#define WRITEGATE_LAMBDA_DB_USER "lambda_writer"
#endif

namespace writegate::lambda {

// The database user, fixed at build time (-DWRITEGATE_LAMBDA_DB_USER=...), never from an event.
inline constexpr std::string_view kDbUser = WRITEGATE_LAMBDA_DB_USER;

struct WriterConfig {
  DbConfig db;
  std::vector<std::string> allowed_schemas = {"foo", "bar"};
  EventLimits limits;
  std::string function_name;

  // PROXY_ENDPOINT, DB_REGION (else AWS_REGION), DB_NAME, DB_PORT (5432), ALLOWED_SCHEMAS
  // (foo,bar), DB_CA_BUNDLE (else rds-ca-bundle.pem next to the executable), DB_HOSTADDR
  // (optional), AWS_LAMBDA_FUNCTION_NAME. `exe_dir` is the folder of the running binary.
  static Result<WriterConfig> from_environment(const std::string& exe_dir);
};

struct HandlerResult {
  std::string body;                             // the answer (when no function error)
  std::optional<FunctionError> function_error;  // a retryable failure
  int status_code = 200;
};

class WriterHandler {
 public:
  WriterHandler(WriterConfig config, Logger logger, CredentialsSource credentials = {},
                WallClock clock = {});
  HandlerResult handle(const Invocation& invocation);
  const DbWriter& writer() const { return writer_; }

 private:
  WriterConfig config_;
  Logger logger_;
  WallClock clock_;
  DbWriter writer_;
};

}  // namespace writegate::lambda
