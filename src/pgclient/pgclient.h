// A thin RAII wrapper over libpq for writegate's own client side: provision, audit, the test
// probes and (later) the function's writer. Errors carry the server's SQLSTATE as subcode().
//
//   auto conn = writegate::pgclient::Connection::open("host=... sslmode=verify-full ...");
//   if (!conn) return conn.error();
//   auto rows = conn->query("SELECT relname FROM pg_class WHERE relnamespace = $1::regnamespace",
//                           {"foo"});
//   if (!rows && rows.error().subcode() == "42501") { /* permission denied */ }
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

struct pg_conn;

namespace writegate::pgclient {

using Value = std::optional<std::string>;  // nullopt is SQL NULL
using Row = std::vector<Value>;

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<Row> rows;
  std::string command_status;  // e.g. "INSERT 0 1"

  // The value of `column` in row `row`, or "" for NULL / unknown column.
  std::string get(std::size_t row, std::string_view column) const;
};

class Connection {
 public:
  // conninfo is a libpq connection string or URI. Never logged (it may hold a password).
  static Result<Connection> open(const std::string& conninfo);

  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;
  ~Connection();

  // Runs one or more statements (simple query protocol); returns the last result.
  Result<QueryResult> exec(std::string_view sql);
  // Runs one statement with text parameters ($1, $2, ...) through the extended protocol.
  Result<QueryResult> query(const std::string& sql, const std::vector<Value>& params = {});

  // The server's session user, version, and whether the link is TLS.
  std::string parameter(const char* name) const;
  bool uses_tls() const;
  int server_version() const;

 private:
  struct Free {
    void operator()(pg_conn* conn) const;
  };
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  std::unique_ptr<pg_conn, Free> conn_;
};

// Quotes an identifier for SQL ("foo" -> "foo", weird"name -> "weird""name").
std::string quote_ident(std::string_view name);
// Quotes a string literal for SQL ('it''s').
std::string quote_literal(std::string_view text);
// Quotes a value for a libpq key=value connection string ('it\'s', 'a\\b').
std::string quote_conninfo_value(std::string_view value);
// The same connection (host, port, database, TLS settings, ...) for another user and password:
// conninfo parsed by libpq, user and password replaced. invalid_argument when it does not parse
// (the message never repeats the conninfo: it may hold a password).
Result<std::string> with_login(const std::string& conninfo, const std::string& user,
                               const std::string& password);
// A text[] literal for a query parameter: {"foo","bar"} (use as $1::text[]).
std::string text_array(const std::vector<std::string>& items);

}  // namespace writegate::pgclient
