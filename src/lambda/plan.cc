#include "lambda/plan.h"

#include <nlohmann/json.hpp>

namespace writegate::lambda {
namespace {

void append_columns(std::string& sql, const ColumnValues& columns, std::string_view separator,
                    std::vector<SqlValue>& params) {
  bool first = true;
  for (const auto& [name, value] : columns) {
    if (!first) sql += separator;
    first = false;
    sql += quote_identifier(name);
    if (value.has_value()) {
      params.push_back(value);
      sql += " = $" + std::to_string(params.size());
    } else if (separator == " AND ") {
      // A key column given as null matches rows where it is NULL ("= NULL" matches nothing).
      sql += " IS NULL";
    } else {
      params.push_back(value);
      sql += " = $" + std::to_string(params.size());
    }
  }
}

}  // namespace

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

WritePlan plan_write(const WriteEvent& event) {
  WritePlan plan;
  plan.op = event.op;
  plan.target = event.schema + "." + event.table;
  const std::string table = quote_identifier(event.schema) + "." + quote_identifier(event.table);
  plan.statements.reserve(event.rows.size());
  for (const RowChange& row : event.rows) {
    SqlStatement s;
    switch (event.op) {
      case WriteOp::kInsert: {
        s.sql = "INSERT INTO " + table + " (";
        std::string values;
        for (std::size_t i = 0; i < row.data.size(); ++i) {
          if (i > 0) {
            s.sql += ", ";
            values += ", ";
          }
          s.sql += quote_identifier(row.data[i].first);
          s.params.push_back(row.data[i].second);
          values += "$" + std::to_string(i + 1);
        }
        s.sql += ") VALUES (" + values + ")";
        break;
      }
      case WriteOp::kUpdate:
        s.sql = "UPDATE " + table + " SET ";
        append_columns(s.sql, row.data, ", ", s.params);
        s.sql += " WHERE ";
        append_columns(s.sql, row.key, " AND ", s.params);
        break;
      case WriteOp::kDelete:
        s.sql = "DELETE FROM " + table + " WHERE ";
        append_columns(s.sql, row.key, " AND ", s.params);
        break;
    }
    plan.statements.push_back(std::move(s));
  }
  return plan;
}

Outcome outcome_for_sqlstate(std::string_view state, const WritePlan& plan) {
  auto cls = [&](std::string_view prefix) { return state.substr(0, 2) == prefix; };
  const std::string& t = plan.target;
  const std::string op(write_op_name(plan.op));
  if (state == "23505") {
    return {409, "duplicate key: a row with the same unique key already exists in " + t, false};
  }
  if (state == "23P01") return {409, "the row conflicts with an existing row of " + t, false};
  if (state == "42501") {
    if (plan.op == WriteOp::kInsert) {
      return {403, "permission denied: the function may not insert in " + t, false};
    }
    // PostgreSQL says the same when the writer lacks UPDATE/DELETE and when it lacks SELECT on
    // the key columns its WHERE reads (strict mode grants no SELECT at all): name both.
    return {403,
            "permission denied: the function may not " + op + " in " + t + " by key: a keyed " +
                op + " needs SELECT on the key columns (database.write_mode: keyed) besides " + op,
            false};
  }
  if (state == "42P01" || state == "3F000") {
    return {400, "table " + t + " does not exist", false};
  }
  if (state == "42703") return {400, "a column of the event does not exist in " + t, false};
  if (cls("22") || state == "42804") {
    return {400, "a value does not fit the type of its column in " + t, false};
  }
  if (state == "23502") return {400, "a required column of " + t + " is missing or null", false};
  if (state == "23503") return {400, "a value refers to a row that does not exist", false};
  if (cls("23")) return {400, "the row breaks a constraint of " + t, false};
  if (state == "0A000" || cls("54")) {
    return {400, "this " + op + " is not supported on " + t, false};
  }
  if (state.empty() || cls("08") || state == "40001" || state == "40P01" || state == "57P01" ||
      state == "57P02" || state == "57P03" || cls("53") || state == "57014") {
    std::string why = state == "40001"   ? "a serialization failure"
                      : state == "40P01" ? "a deadlock"
                      : state == "57014" ? "the statement timed out"
                                         : "the database is unreachable";
    return {503, "temporarily unable to write (" + why + "); retry", true};
  }
  return {500, "the write failed (SQLSTATE " + std::string(state.substr(0, 5)) + ")", false};
}

Outcome success_outcome(const WritePlan& plan, long long row_count) {
  (void)row_count;
  switch (plan.op) {
    case WriteOp::kInsert:
      return {200, "Data inserted successfully", false};
    case WriteOp::kUpdate:
      return {200, "Data updated successfully", false};
    case WriteOp::kDelete:
      return {200, "Data deleted successfully", false};
  }
  return {200, "", false};
}

std::string response_body(const Outcome& outcome, long long row_count) {
  nlohmann::ordered_json body;
  body["statusCode"] = outcome.status_code;
  body["message"] = outcome.message;
  if (outcome.status_code == 200) body["rowCount"] = row_count;
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace writegate::lambda
