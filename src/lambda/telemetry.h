// The function's logs and metrics, written to stdout where Lambda collects them.
//
// Logs: one line each, JSON by default ({"timestamp","level","requestId","message",...}) as
// Lambda's advanced logging controls define it; AWS_LAMBDA_LOG_FORMAT=Text gives
// "TIMESTAMP\tREQUEST_ID\tLEVEL\tMESSAGE"; AWS_LAMBDA_LOG_LEVEL (TRACE..FATAL, default INFO)
// drops lower levels. Callers never pass secrets (tokens, keys, passwords) to a logger.
//
// Metrics: CloudWatch Embedded Metric Format, one object per invocation in namespace
// "writegate", dimensions FunctionName and StatusCode:
//   RowsWritten (Count), WriteLatency (Milliseconds), ConnectionsOpened (Count), Errors (Count).
//
//   Logger log = Logger::from_environment();
//   log.info("written", request_id, {{"rowCount", 3}});
//   std::cout << emf_line(metrics, clock_now) << "\n";
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace writegate::lambda {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kFatal };

class Logger {
 public:
  using Sink = std::function<void(const std::string& line)>;  // without the newline
  Logger(bool json, LogLevel min_level, Sink sink);
  // From AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL, writing to stdout.
  static Logger from_environment();

  void log(LogLevel level, std::string_view message, std::string_view request_id = {},
           const nlohmann::ordered_json& fields = nlohmann::ordered_json::object()) const;
  void info(std::string_view message, std::string_view request_id = {},
            const nlohmann::ordered_json& fields = nlohmann::ordered_json::object()) const {
    log(LogLevel::kInfo, message, request_id, fields);
  }
  void error(std::string_view message, std::string_view request_id = {},
             const nlohmann::ordered_json& fields = nlohmann::ordered_json::object()) const {
    log(LogLevel::kError, message, request_id, fields);
  }
  bool enabled(LogLevel level) const { return level >= min_level_; }
  // A line as it is (an EMF object), whatever the level.
  void raw(const std::string& line) const {
    if (sink_) sink_(line);
  }

 private:
  bool json_;
  LogLevel min_level_;
  Sink sink_;
};

// "INFO" -> kInfo; unknown text -> kInfo.
LogLevel parse_log_level(std::string_view text);
std::string_view log_level_name(LogLevel level);

struct InvocationMetrics {
  std::string function_name;
  int status_code = 200;
  std::int64_t rows_written = 0;
  double write_latency_ms = 0;
  std::int64_t connections_opened = 0;
};

// One EMF JSON object (a single line).
std::string emf_line(const InvocationMetrics& metrics, std::chrono::system_clock::time_point now);

}  // namespace writegate::lambda
