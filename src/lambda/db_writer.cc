#include "lambda/db_writer.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "lambda/libpq_loader.h"
#include "sigv4/rds_token.h"

namespace writegate::lambda {
namespace {

struct ResultFree {
  const LibPq* pq = nullptr;
  void operator()(PGresult* r) const { pq->clear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultFree>;

std::string one_line(const char* text, std::size_t cap = 300) {
  std::string out = text ? text : "";
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  if (out.size() > cap) out = out.substr(0, cap) + "...";
  return out;
}

// How long a statement may run: the invocation's remaining time less a margin to answer.
long long statement_timeout_ms(std::chrono::milliseconds remaining) {
  return std::max<long long>(remaining.count() - 250, 50);
}

}  // namespace

struct DbWriter::Conn {
  const LibPq* pq = nullptr;
  PGconn* pg = nullptr;
  bool fresh = true;  // not used by a write yet
  ~Conn() {
    if (pg) pq->finish(pg);
  }
};

Result<sigv4::Credentials> credentials_from_environment() {
  const char* id = std::getenv("AWS_ACCESS_KEY_ID");
  const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
  const char* token = std::getenv("AWS_SESSION_TOKEN");
  if (!id || !*id || !secret || !*secret) {
    return Error::unauthenticated(
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them from the "
        "function's role)");
  }
  return sigv4::Credentials{id, secret, token ? token : ""};
}

DbWriter::DbWriter(DbConfig config, CredentialsSource credentials, WallClock clock)
    : config_(std::move(config)), credentials_(std::move(credentials)), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::chrono::system_clock::now(); };
}

DbWriter::~DbWriter() = default;

bool DbWriter::connected() const {
  return conn_ && conn_->pg && conn_->pq->status(conn_->pg) == CONNECTION_OK;
}

Status DbWriter::connect(std::chrono::milliseconds remaining) {
  conn_.reset();
  WG_ASSIGN_OR_RETURN(const LibPq* pq, libpq());
  WG_ASSIGN_OR_RETURN(sigv4::Credentials credentials, credentials_());
  const auto now = clock_();
  WG_ASSIGN_OR_RETURN(std::string token, sigv4::generate_rds_token({.hostname = config_.host,
                                                                    .port = config_.port,
                                                                    .username = config_.user,
                                                                    .region = config_.region},
                                                                   credentials, now));
  stats_.last_token_time = now;
  const long long budget_s = std::max<long long>(
      2, std::min<long long>(config_.connect_timeout.count(), (remaining.count() + 999) / 1000));
  const std::string port = std::to_string(config_.port);
  const std::string timeout = std::to_string(budget_s);
  std::vector<const char*> keys = {"host",
                                   "port",
                                   "dbname",
                                   "user",
                                   "password",
                                   "sslmode",
                                   "sslrootcert",
                                   "gssencmode",
                                   "connect_timeout",
                                   "application_name"};
  std::vector<const char*> values = {config_.host.c_str(),    port.c_str(),  config_.dbname.c_str(),
                                     config_.user.c_str(),    token.c_str(), "verify-full",
                                     config_.ca_file.c_str(), "disable",     timeout.c_str(),
                                     "writegate-lambda"};
  if (!config_.hostaddr.empty()) {
    keys.push_back("hostaddr");
    values.push_back(config_.hostaddr.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  auto conn = std::make_unique<Conn>();
  conn->pq = pq;
  conn->pg = pq->connectdb_params(keys.data(), values.data(), 0);
  ++stats_.connections_opened;
  if (conn->pg == nullptr) return Error::unavailable("libpq could not allocate a connection");
  if (pq->status(conn->pg) != CONNECTION_OK) {
    return Error::unavailable("cannot connect to " + config_.host + ":" + port + ": " +
                              one_line(pq->error_message(conn->pg)));
  }
  conn_ = std::move(conn);
  return {};
}

WriteResult DbWriter::execute(const WritePlan& plan, std::chrono::milliseconds remaining) {
  WriteResult out;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!connected()) {
      if (attempt > 0 || conn_) ++stats_.reconnects;
      if (auto status = connect(remaining); !status) {
        out.detail = status.error().message();
        return out;  // sqlstate "": unreachable, retryable
      }
    }
    PGconn* pg = conn_->pg;
    const LibPq& pq = *conn_->pq;
    const bool reused = !conn_->fresh;
    conn_->fresh = false;

    if (pq.enter_pipeline_mode(pg) != 1) {
      out.detail = "cannot enter pipeline mode: " + one_line(pq.error_message(pg));
      conn_.reset();
      return out;
    }
    const std::string set_timeout =
        "SET LOCAL statement_timeout = " + std::to_string(statement_timeout_ms(remaining));
    bool sent = pq.send_query_params(pg, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1 &&
                pq.send_query_params(pg, set_timeout.c_str(), 0, nullptr, nullptr, nullptr, nullptr,
                                     0) == 1;
    std::vector<const char*> values;
    for (const SqlStatement& s : plan.statements) {
      if (!sent) break;
      values.clear();
      for (const SqlValue& v : s.params)
        values.push_back(v ? v->c_str() : nullptr);
      sent = pq.send_query_params(pg, s.sql.c_str(), static_cast<int>(values.size()), nullptr,
                                  values.data(), nullptr, nullptr, 0) == 1;
    }
    sent = sent &&
           pq.send_query_params(pg, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1 &&
           pq.pipeline_sync(pg) == 1;

    // Results: BEGIN, SET, each statement, COMMIT, then the sync point.
    const std::size_t commands = plan.statements.size() + 3;
    bool begin_ok = false;
    bool commit_ok = false;
    long long rows = 0;
    std::string first_state;
    std::string first_detail;
    bool broken = !sent;
    if (sent) {
      for (std::size_t i = 0; i < commands && !broken; ++i) {
        ResultPtr result(pq.get_result(pg), ResultFree{&pq});
        if (!result) {
          broken = true;
          break;
        }
        const ExecStatusType status = pq.result_status(result.get());
        if (status == PGRES_COMMAND_OK) {
          if (i == 0) begin_ok = true;
          if (i == commands - 1) commit_ok = true;
          if (i >= 2 && i < commands - 1) {
            rows += std::atoll(pq.cmd_tuples(result.get()));
          }
        } else if (status == PGRES_FATAL_ERROR && first_detail.empty()) {
          const char* state = pq.result_error_field(result.get(), PG_DIAG_SQLSTATE);
          first_state = state ? state : "";
          first_detail = one_line(pq.result_error_field(result.get(), PG_DIAG_MESSAGE_PRIMARY)
                                      ? pq.result_error_field(result.get(), PG_DIAG_MESSAGE_PRIMARY)
                                      : pq.result_error_message(result.get()));
        }
        // The NULL that ends each command's results.
        ResultPtr end(pq.get_result(pg), ResultFree{&pq});
        if (end) {
          // A pipeline sync or an unexpected extra result: keep reading is not safe.
          if (pq.result_status(end.get()) != PGRES_PIPELINE_SYNC) broken = true;
        }
        if (pq.status(pg) == CONNECTION_BAD) broken = true;
      }
      if (!broken) {
        ResultPtr sync(pq.get_result(pg), ResultFree{&pq});
        if (!sync || pq.result_status(sync.get()) != PGRES_PIPELINE_SYNC) broken = true;
      }
    }
    if (!broken && pq.exit_pipeline_mode(pg) != 1) broken = true;
    if (pq.status(pg) == CONNECTION_BAD) broken = true;

    if (broken) {
      const std::string reason = one_line(pq.error_message(pg));
      conn_.reset();
      // Nothing of the transaction ran when BEGIN did not: a reused connection that was already
      // dead (the proxy restarted, an idle timeout) gets one new connection and token.
      if (!begin_ok && reused && attempt == 0) continue;
      out.sqlstate = first_state.substr(0, 2) == "08" || first_state.empty() ? "" : first_state;
      if (out.sqlstate.empty()) out.sqlstate = "08006";
      out.detail = "connection lost: " + reason;
      return out;
    }
    if (commit_ok && first_detail.empty()) {
      out.ok = true;
      out.row_count = rows;
      return out;
    }
    // A failed transaction stays open in the aborted state: end it before the next use.
    if (pq.transaction_status(pg) != PQTRANS_IDLE) {
      ResultPtr rollback(pq.exec(pg, "ROLLBACK"), ResultFree{&pq});
      if (!rollback || pq.result_status(rollback.get()) != PGRES_COMMAND_OK) conn_.reset();
    }
    out.sqlstate = first_state;
    out.detail = first_detail;
    return out;
  }
  out.sqlstate = "08006";
  out.detail = "connection lost twice";
  return out;
}

}  // namespace writegate::lambda
