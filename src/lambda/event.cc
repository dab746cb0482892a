#include "lambda/event.h"

#include <nlohmann/json.hpp>

namespace writegate::lambda {
namespace {

using nlohmann::json;

// The deepest nesting of objects and arrays in `text`, stopping early beyond `cap`. Runs
// before the JSON parser so that no input makes it recurse deeply.
std::size_t nesting_depth(std::string_view text, std::size_t cap) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > deepest) deepest = depth;
      if (deepest > cap) return deepest;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

Error bad(std::string message) {
  return Error::invalid_argument(std::move(message));
}

// A name for messages: the caller's text, shortened, only printable ASCII kept.
std::string shown(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 64)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (name.size() > 64) out += "...";
  return out;
}

Result<SqlValue> to_value(const json& v, std::string_view column) {
  switch (v.type()) {
    case json::value_t::null:
      return SqlValue();
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (s.find('\0') != std::string::npos) {
        return bad("the value of column \"" + shown(column) +
                   "\" contains a NUL character, which PostgreSQL text cannot hold");
      }
      return SqlValue(s);
    }
    case json::value_t::boolean:
      return SqlValue(v.get<bool>() ? "true" : "false");
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
    case json::value_t::object:
    case json::value_t::array:
      return SqlValue(v.dump(-1, ' ', false, json::error_handler_t::replace));
    default:
      return bad("the value of column \"" + shown(column) + "\" is not a JSON value");
  }
}

Result<ColumnValues> to_columns(const json& object, std::string_view what,
                                const EventLimits& limits) {
  if (!object.is_object()) return bad("\"" + std::string(what) + "\" must be a JSON object");
  if (object.empty()) {
    return bad("\"" + std::string(what) + "\" must name at least one column");
  }
  if (object.size() > limits.max_columns) {
    return Error::out_of_range("\"" + std::string(what) + "\" has " +
                               std::to_string(object.size()) + " columns; the limit is " +
                               std::to_string(limits.max_columns));
  }
  ColumnValues out;
  out.reserve(object.size());
  for (const auto& [name, value] : object.items()) {
    if (!is_valid_identifier(name)) {
      return bad("column name \"" + shown(name) + "\" in \"" + std::string(what) +
                 "\" is not a valid identifier (letters, digits, _ and $, starting with a letter "
                 "or _, at most 63 bytes)");
    }
    WG_ASSIGN_OR_RETURN(SqlValue sql, to_value(value, name));
    out.emplace_back(name, std::move(sql));
  }
  return out;
}

Result<std::string> identifier_member(const json& doc, const char* member) {
  auto it = doc.find(member);
  if (it == doc.end() || it->is_null()) {
    return bad(std::string("the event has no \"") + member + "\"");
  }
  if (!it->is_string()) return bad(std::string("\"") + member + "\" must be a string");
  const auto& name = it->get_ref<const std::string&>();
  if (!is_valid_identifier(name)) {
    return bad(std::string(member) + " name \"" + shown(name) +
               "\" is not a valid identifier (letters, digits, _ and $, starting with a letter "
               "or _, at most 63 bytes)");
  }
  return name;
}

}  // namespace

std::string_view write_op_name(WriteOp op) {
  switch (op) {
    case WriteOp::kInsert:
      return "insert";
    case WriteOp::kUpdate:
      return "update";
    case WriteOp::kDelete:
      return "delete";
  }
  return "unknown";
}

bool is_valid_identifier(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!letter(name.front())) return false;
  for (char c : name) {
    if (!letter(c) && !(c >= '0' && c <= '9') && c != '$') return false;
  }
  return true;
}

Result<std::vector<std::string>> parse_allowed_schemas(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    if (!item.empty()) {
      if (!is_valid_identifier(item)) {
        return Error::invalid_argument("ALLOWED_SCHEMAS: \"" + shown(item) +
                                       "\" is not a valid schema name");
      }
      out.emplace_back(item);
    }
    start = comma + 1;
  }
  if (out.empty()) {
    return Error::invalid_argument("ALLOWED_SCHEMAS names no schema (example: foo,bar)");
  }
  return out;
}

Result<WriteEvent> parse_write_event(std::string_view payload,
                                     const std::vector<std::string>& allowed_schemas,
                                     const EventLimits& limits) {
  if (payload.size() > limits.max_payload_bytes) {
    return Error::out_of_range("the event is " + std::to_string(payload.size()) +
                               " bytes; the limit is " + std::to_string(limits.max_payload_bytes) +
                               " bytes (split the batch)");
  }
  if (nesting_depth(payload, limits.max_depth) > limits.max_depth) {
    return Error::out_of_range("the event nests JSON deeper than " +
                               std::to_string(limits.max_depth) + " levels");
  }
  json doc = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return bad("the event is not valid JSON");
  if (!doc.is_object()) return bad("the event must be a JSON object");
  for (const auto& [member, value] : doc.items()) {
    (void)value;
    if (member != "op" && member != "schema" && member != "table" && member != "data" &&
        member != "key" && member != "rows") {
      return bad("unknown member \"" + shown(member) +
                 "\" (an event has op, schema, table, and data/key or rows)");
    }
  }

  WriteEvent event;
  if (auto op = doc.find("op"); op != doc.end() && !op->is_null()) {
    if (!op->is_string()) return bad("\"op\" must be a string: insert, update or delete");
    const auto& text = op->get_ref<const std::string&>();
    if (text == "insert") {
      event.op = WriteOp::kInsert;
    } else if (text == "update") {
      event.op = WriteOp::kUpdate;
    } else if (text == "delete") {
      event.op = WriteOp::kDelete;
    } else {
      return bad("\"op\" must be insert, update or delete, not \"" + shown(text) + "\"");
    }
  }
  WG_ASSIGN_OR_RETURN(event.schema, identifier_member(doc, "schema"));
  bool allowed = false;
  for (const auto& s : allowed_schemas)
    allowed = allowed || s == event.schema;
  if (!allowed) {
    std::string list;
    for (const auto& s : allowed_schemas)
      list += (list.empty() ? "" : ", ") + s;
    return bad("schema \"" + event.schema + "\" is not allowed; allowed schemas: " + list);
  }
  WG_ASSIGN_OR_RETURN(event.table, identifier_member(doc, "table"));

  const bool has_rows = doc.contains("rows");
  const bool has_single = doc.contains("data") || doc.contains("key");
  if (has_rows && has_single) {
    return bad("give either \"rows\" or \"data\"/\"key\", not both");
  }
  auto row_from = [&](const json* data, const json* key) -> Result<RowChange> {
    RowChange row;
    if (event.op == WriteOp::kDelete) {
      if (data != nullptr) return bad("a delete takes \"key\" only, not \"data\"");
    } else {
      if (data == nullptr) {
        return bad(std::string("an ") + std::string(write_op_name(event.op)) +
                   " needs \"data\" (an object of column values)");
      }
      WG_ASSIGN_OR_RETURN(row.data, to_columns(*data, "data", limits));
    }
    if (event.op == WriteOp::kInsert) {
      if (key != nullptr) return bad("an insert takes \"data\" only, not \"key\"");
    } else {
      if (key == nullptr) {
        return bad(std::string("an ") + std::string(write_op_name(event.op)) +
                   " needs \"key\" (the columns that pick the rows); unconditional " +
                   std::string(write_op_name(event.op)) + "s are not offered");
      }
      WG_ASSIGN_OR_RETURN(row.key, to_columns(*key, "key", limits));
    }
    return row;
  };

  if (has_rows) {
    const json& rows = doc["rows"];
    if (!rows.is_array()) return bad("\"rows\" must be an array");
    if (rows.empty()) return bad("\"rows\" is empty");
    if (rows.size() > limits.max_rows) {
      return Error::out_of_range("\"rows\" has " + std::to_string(rows.size()) +
                                 " rows; the limit is " + std::to_string(limits.max_rows) +
                                 " per event");
    }
    event.rows.reserve(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const json& item = rows[i];
      Result<RowChange> row = Error::internal("unset");
      if (event.op == WriteOp::kInsert) {
        row = row_from(&item, nullptr);
      } else {
        if (!item.is_object()) {
          return bad("rows[" + std::to_string(i) + "] must be an object with \"key\"" +
                     (event.op == WriteOp::kUpdate ? " and \"data\"" : ""));
        }
        for (const auto& [member, value] : item.items()) {
          (void)value;
          if (member != "data" && member != "key") {
            return bad("rows[" + std::to_string(i) + "]: unknown member \"" + shown(member) + "\"");
          }
        }
        auto data = item.find("data");
        auto key = item.find("key");
        row = row_from(data == item.end() ? nullptr : &*data, key == item.end() ? nullptr : &*key);
      }
      if (!row) return std::move(row).error().with_context("rows[" + std::to_string(i) + "]");
      event.rows.push_back(std::move(*row));
    }
  } else {
    auto data = doc.find("data");
    auto key = doc.find("key");
    WG_ASSIGN_OR_RETURN(auto row, row_from(data == doc.end() ? nullptr : &*data,
                                           key == doc.end() ? nullptr : &*key));
    event.rows.push_back(std::move(row));
  }
  return event;
}

}  // namespace writegate::lambda
