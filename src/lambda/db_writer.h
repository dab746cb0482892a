// The writer's database side: one libpq connection to RDS Proxy per execution environment,
// opened lazily on the first write and reused by later invocations.
//
// Every new physical connection signs a fresh RDS IAM token (never one kept from init: a token
// is only good for 15 minutes of new logins) with the credentials of the function's role, and
// connects with sslmode=verify-full against the CA bundle shipped with the function. A plan
// runs as one transaction in a libpq pipeline (one round trip): BEGIN, SET LOCAL
// statement_timeout from the invocation's remaining time, the statements, COMMIT. A reused
// connection found broken before anything reached the server is reopened once, with a new
// token; a failure after that is reported as retryable.
//
//   DbWriter writer(config, [] { return credentials_from_environment(); });
//   WriteResult r = writer.execute(plan, invocation.remaining(now));
//   if (!r.ok) return outcome_for_sqlstate(r.sqlstate, plan);
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "lambda/plan.h"
#include "sigv4/sigv4.h"

namespace writegate::lambda {

struct DbConfig {
  std::string host;  // PROXY_ENDPOINT
  std::uint16_t port = 5432;
  std::string dbname;
  std::string user = "lambda_writer";
  std::string region;
  std::string ca_file;  // PEM bundle for verify-full
  // Optional: the address to connect to instead of resolving `host` (tests on loopback); the
  // certificate and the token still name `host`.
  std::string hostaddr;
  std::chrono::seconds connect_timeout{10};
};

using CredentialsSource = std::function<Result<sigv4::Credentials>()>;
using WallClock = std::function<std::chrono::system_clock::time_point()>;

// The Lambda environment's AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
Result<sigv4::Credentials> credentials_from_environment();

struct WriteResult {
  bool ok = false;
  long long row_count = 0;
  std::string sqlstate;  // on failure; "" when the failure was not the server's
  std::string detail;    // for the log only: libpq's reason (never SQL values or a token)
};

struct DbWriterStats {
  std::int64_t connections_opened = 0;
  std::int64_t reconnects = 0;
  std::chrono::system_clock::time_point last_token_time{};  // when the last token was signed
};

class DbWriter {
 public:
  DbWriter(DbConfig config, CredentialsSource credentials, WallClock clock = {});
  ~DbWriter();
  DbWriter(const DbWriter&) = delete;
  DbWriter& operator=(const DbWriter&) = delete;

  // Runs the plan in one transaction. `remaining` bounds the statement timeout (minus a
  // margin to answer in time) and the connection attempt.
  WriteResult execute(const WritePlan& plan, std::chrono::milliseconds remaining);

  const DbWriterStats& stats() const { return stats_; }
  bool connected() const;

 private:
  struct Conn;
  Status connect(std::chrono::milliseconds remaining);
  DbConfig config_;
  CredentialsSource credentials_;
  WallClock clock_;
  std::unique_ptr<Conn> conn_;
  DbWriterStats stats_;
};

}  // namespace writegate::lambda
