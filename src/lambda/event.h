// The writer's events: parsed and validated without touching a database.
//
// Accepted shapes (one JSON object; unknown members are refused):
//   {"schema":"foo","table":"t","data":{"c1":"v1","c2":2}}                    the document's insert
//   {"op":"insert","schema":"foo","table":"t","rows":[{"c1":1},{"c1":2}]}      a batch, one
//   transaction
//   {"op":"update","schema":"foo","table":"t","data":{"c2":"x"},"key":{"id":7}}
//   {"op":"delete","schema":"foo","table":"t","key":{"id":7}}
//   {"op":"update"|"delete",...,"rows":[{"data":{...},"key":{...}}, ...]}      keyed batches
//
// Schemas come only from the allow-list; schema, table and column names must be identifiers
// ([A-Za-z_][A-Za-z0-9_$]*, at most 63 bytes). Values: strings as they are, numbers and
// booleans as their JSON text, null as SQL NULL, objects and arrays as JSON text.
//
//   EventLimits limits;                       // payload and batch caps
//   auto event = parse_write_event(payload, {"foo", "bar"}, limits);
//   if (!event) return respond(400, event.error().message());   // says what was wrong
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace writegate::lambda {

enum class WriteOp { kInsert, kUpdate, kDelete };
std::string_view write_op_name(WriteOp op);  // "insert", "update", "delete"

// A value bound as a text parameter; std::nullopt is SQL NULL.
using SqlValue = std::optional<std::string>;
using ColumnValues = std::vector<std::pair<std::string, SqlValue>>;  // in the event's order

struct RowChange {
  ColumnValues data;  // insert, update: the columns written
  ColumnValues key;   // update, delete: equality conditions (at least one column)
};

struct WriteEvent {
  WriteOp op = WriteOp::kInsert;
  std::string schema;
  std::string table;
  std::vector<RowChange> rows;  // at least one
};

struct EventLimits {
  std::size_t max_payload_bytes = 1024 * 1024;  // the whole event
  std::size_t max_rows = 1000;                  // rows of one batch
  std::size_t max_columns = 512;                // columns of one row (data or key)
  std::size_t max_depth = 64;                   // nesting of JSON values
};

// true when `name` may be used as a schema, table or column name.
bool is_valid_identifier(std::string_view name);

// The allow-list from ALLOWED_SCHEMAS ("foo,bar"; blanks around names are ignored). Every
// name must be an identifier; an empty list is an error.
Result<std::vector<std::string>> parse_allowed_schemas(std::string_view text);

// Parses and validates one event. Errors are kInvalidArgument (a bad event: 400) or
// kOutOfRange (a payload or batch beyond a limit: 400 as well, with the limit in the message).
Result<WriteEvent> parse_write_event(std::string_view payload,
                                     const std::vector<std::string>& allowed_schemas,
                                     const EventLimits& limits = {});

}  // namespace writegate::lambda
