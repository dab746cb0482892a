#include "lambda/handler.h"

#include <charconv>
#include <cstdlib>
#include <filesystem>

#include "lambda/plan.h"

namespace writegate::lambda {
namespace {

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : std::move(fallback);
}

}  // namespace

Result<WriterConfig> WriterConfig::from_environment(const std::string& exe_dir) {
  WriterConfig c;
  c.db.host = env_or("PROXY_ENDPOINT", "");
  if (c.db.host.empty()) {
    return Error::failed_precondition("PROXY_ENDPOINT is not set (the RDS Proxy endpoint name)");
  }
  c.db.region = env_or("DB_REGION", env_or("AWS_REGION", ""));
  if (c.db.region.empty()) return Error::failed_precondition("DB_REGION is not set");
  c.db.dbname = env_or("DB_NAME", "");
  if (c.db.dbname.empty()) return Error::failed_precondition("DB_NAME is not set");
  const std::string port = env_or("DB_PORT", "5432");
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    return Error::failed_precondition("DB_PORT '" + port + "' is not a port number");
  }
  c.db.port = static_cast<std::uint16_t>(value);
  c.db.user = std::string(kDbUser);
  c.db.hostaddr = env_or("DB_HOSTADDR", "");
  c.db.ca_file = env_or("DB_CA_BUNDLE", exe_dir + "/rds-ca-bundle.pem");
  std::error_code exists_error;
  if (!std::filesystem::exists(c.db.ca_file, exists_error)) {
    return Error::failed_precondition("the CA bundle " + c.db.ca_file +
                                      " does not exist (ship it with the function or set "
                                      "DB_CA_BUNDLE)");
  }
  WG_ASSIGN_OR_RETURN(c.allowed_schemas,
                      parse_allowed_schemas(env_or("ALLOWED_SCHEMAS", "foo,bar")));
  c.function_name = env_or("AWS_LAMBDA_FUNCTION_NAME", "");
  return c;
}

WriterHandler::WriterHandler(WriterConfig config, Logger logger, CredentialsSource credentials,
                             WallClock clock)
    : config_(std::move(config)),
      logger_(std::move(logger)),
      clock_(clock ? clock : [] { return std::chrono::system_clock::now(); }),
      writer_(config_.db, credentials ? std::move(credentials) : credentials_from_environment,
              clock_) {}

HandlerResult WriterHandler::handle(const Invocation& invocation) {
  const auto started = std::chrono::steady_clock::now();
  const std::int64_t connections_before = writer_.stats().connections_opened;
  HandlerResult out;
  InvocationMetrics metrics;
  metrics.function_name = config_.function_name;
  auto finish = [&](const Outcome& outcome, long long rows) {
    out.status_code = outcome.status_code;
    if (outcome.retryable) {
      out.function_error = FunctionError{
          "Writegate.Retryable", std::to_string(outcome.status_code) + ": " + outcome.message};
    } else {
      out.body = response_body(outcome, rows);
    }
    metrics.status_code = outcome.status_code;
    metrics.rows_written = rows;
    metrics.connections_opened = writer_.stats().connections_opened - connections_before;
    metrics.write_latency_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    logger_.info(
        outcome.status_code == 200 ? "write done" : "write refused", invocation.request_id,
        {{"statusCode", outcome.status_code}, {"rowCount", rows}, {"message", outcome.message}});
    // The EMF object goes out as its own line: CloudWatch extracts the metrics from it.
    logger_.raw(emf_line(metrics, clock_()));
    return out;
  };

  auto event = parse_write_event(invocation.payload, config_.allowed_schemas, config_.limits);
  if (!event) {
    return finish(Outcome{400, event.error().message(), false}, 0);
  }
  WritePlan plan = plan_write(*event);
  WriteResult result = writer_.execute(plan, invocation.remaining(clock_()));
  if (result.ok) return finish(success_outcome(plan, result.row_count), result.row_count);
  Outcome outcome = outcome_for_sqlstate(result.sqlstate, plan);
  logger_.log(LogLevel::kWarn, "database error", invocation.request_id,
              {{"sqlstate", result.sqlstate}, {"detail", result.detail}, {"target", plan.target}});
  return finish(outcome, 0);
}

}  // namespace writegate::lambda
