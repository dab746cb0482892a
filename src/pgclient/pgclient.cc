#include "pgclient/pgclient.h"

#include <libpq-fe.h>

namespace writegate::pgclient {
namespace {

struct ResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultFree>;

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  return text;
}

Result<QueryResult> convert(PGconn* conn, ResultPtr result) {
  if (!result) return Error::unavailable("database: " + trim(PQerrorMessage(conn)));
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
    const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
    const char* primary = PQresultErrorField(result.get(), PG_DIAG_MESSAGE_PRIMARY);
    std::string message = primary ? primary : trim(PQresultErrorMessage(result.get()));
    const std::string code = state ? state : "";
    const ErrorCode generic = code == "42501"          ? ErrorCode::kPermissionDenied
                              : code.starts_with("28") ? ErrorCode::kUnauthenticated
                              : code.starts_with("08") ? ErrorCode::kUnavailable
                              : code.starts_with("42") ? ErrorCode::kInvalidArgument
                                                       : ErrorCode::kFailedPrecondition;
    return Error(generic, message + (code.empty() ? "" : " (SQLSTATE " + code + ")"))
        .with_subcode(code);
  }
  QueryResult out;
  out.command_status = PQcmdStatus(result.get());
  const int fields = PQnfields(result.get());
  for (int c = 0; c < fields; ++c)
    out.columns.emplace_back(PQfname(result.get(), c));
  const int tuples = PQntuples(result.get());
  out.rows.reserve(static_cast<std::size_t>(tuples));
  for (int r = 0; r < tuples; ++r) {
    Row row;
    row.reserve(static_cast<std::size_t>(fields));
    for (int c = 0; c < fields; ++c) {
      if (PQgetisnull(result.get(), r, c)) {
        row.emplace_back(std::nullopt);
      } else {
        row.emplace_back(std::string(PQgetvalue(result.get(), r, c),
                                     static_cast<std::size_t>(PQgetlength(result.get(), r, c))));
      }
    }
    out.rows.push_back(std::move(row));
  }
  return out;
}

}  // namespace

std::string QueryResult::get(std::size_t row, std::string_view column) const {
  if (row >= rows.size()) return "";
  for (std::size_t c = 0; c < columns.size(); ++c) {
    if (columns[c] == column) return rows[row][c].value_or("");
  }
  return "";
}

void Connection::Free::operator()(pg_conn* conn) const {
  PQfinish(conn);
}

Connection::~Connection() = default;

Result<Connection> Connection::open(const std::string& conninfo) {
  PGconn* raw = PQconnectdb(conninfo.c_str());
  Connection conn(raw);
  if (!raw) return Error::internal("libpq could not allocate a connection");
  // Server notices ("schema already exists, skipping") are not errors; keep them off stderr.
  PQsetNoticeProcessor(
      raw, [](void*, const char*) {}, nullptr);
  if (PQstatus(raw) != CONNECTION_OK) {
    // libpq's message names host and port but never the password.
    return Error::unavailable("cannot connect to the database: " + trim(PQerrorMessage(raw)));
  }
  return conn;
}

Result<QueryResult> Connection::exec(std::string_view sql) {
  const std::string text(sql);
  // PQexec returns only the last result; errors stop the batch, and we see them.
  return convert(conn_.get(), ResultPtr(PQexec(conn_.get(), text.c_str())));
}

Result<QueryResult> Connection::query(const std::string& sql, const std::vector<Value>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params)
    values.push_back(p ? p->c_str() : nullptr);
  return convert(conn_.get(),
                 ResultPtr(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(params.size()),
                                        nullptr, values.data(), nullptr, nullptr, 0)));
}

std::string Connection::parameter(const char* name) const {
  const char* value = PQparameterStatus(conn_.get(), name);
  return value ? value : "";
}

bool Connection::uses_tls() const {
  return PQsslInUse(conn_.get()) == 1;
}

int Connection::server_version() const {
  return PQserverVersion(conn_.get());
}

std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string quote_literal(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string quote_conninfo_value(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

Result<std::string> with_login(const std::string& conninfo, const std::string& user,
                               const std::string& password) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (!options) {
    if (error) PQfreemem(error);
    return Error::invalid_argument("the connection string does not parse");
  }
  // conninfo values: single-quoted, with \ and ' escaped.
  const auto quoted = [](std::string_view value) {
    std::string out = "'";
    for (char c : value) {
      if (c == '\\' || c == '\'') out += '\\';
      out += c;
    }
    return out + "'";
  };
  std::string out;
  for (PQconninfoOption* o = options; o->keyword; ++o) {
    const std::string_view keyword = o->keyword;
    if (keyword == "user" || keyword == "password" || !o->val) continue;
    out += std::string(keyword) + "=" + quoted(o->val) + " ";
  }
  PQconninfoFree(options);
  return out + "user=" + quoted(user) + " password=" + quoted(password);
}

std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    out += (i ? "," : "") + std::string("\"");
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += "\"";
  }
  return out + "}";
}

}  // namespace writegate::pgclient
