// The writer's pure core: an event becomes SQL statements with bound parameters, and a
// database outcome becomes the answer the caller sees. No database, no sockets.
//
//   auto plan = plan_write(*event);
//   // plan.statements[0].sql == R"(INSERT INTO "foo"."test_table" ("column1", "column2")
//   //                              VALUES ($1, $2))"
//   // plan.statements[0].params == {"value1", "value2"}
//
// Identifiers are always double-quoted (they were validated by parse_write_event as well);
// values are never part of the SQL text. Only INSERT, UPDATE ... WHERE and DELETE ... WHERE are
// produced: never SELECT, never RETURNING (the writer may read nothing). Every statement of a
// plan runs in one transaction.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "lambda/event.h"

namespace writegate::lambda {

struct SqlStatement {
  std::string sql;
  std::vector<SqlValue> params;  // $1, $2, ... as text (type inferred by the server)
};

struct WritePlan {
  WriteOp op = WriteOp::kInsert;
  std::string target;  // "foo.test_table", for messages and logs
  std::vector<SqlStatement> statements;
};

WritePlan plan_write(const WriteEvent& event);

// "weird""name" -> "\"weird\"\"name\"" (always quoted).
std::string quote_identifier(std::string_view name);

// What the caller is told, and whether the failure should be retried.
struct Outcome {
  int status_code = 200;
  std::string message;
  // A transient failure (connection lost, serialization failure, deadlock, database not
  // reachable): reported as a function error so that asynchronous invocations are retried.
  bool retryable = false;
};

// The answer for a database error with this SQLSTATE ("" when the failure was not the
// server's: no connection, TLS, a broken link). `plan` names the target in messages; no
// message holds SQL, a connection string or a token.
//   23505, 23P01                          409 conflict
//   42501                                 403 permission denied
//   42P01, 3F000, 42703, 22xxx, other 23,
//   0A000, 42804, 54xxx                   400 the event does not fit the table
//   40001, 40P01, 08xxx, 57P01-03, 53xxx,
//   57014, ""                             503 retryable
//   anything else                         500
Outcome outcome_for_sqlstate(std::string_view sqlstate, const WritePlan& plan);

// {"statusCode":200,"message":"Data inserted successfully","rowCount":N} and the like.
Outcome success_outcome(const WritePlan& plan, long long row_count);
std::string response_body(const Outcome& outcome, long long row_count);

}  // namespace writegate::lambda
