#include "lambda/telemetry.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include "common/time.h"

namespace writegate::lambda {
namespace {

using nlohmann::ordered_json;

std::string timestamp(std::chrono::system_clock::time_point now) {
  return format_iso8601_millis(now);
}

}  // namespace

LogLevel parse_log_level(std::string_view text) {
  std::string upper;
  for (char c : text)
    upper += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
  if (upper == "TRACE") return LogLevel::kTrace;
  if (upper == "DEBUG") return LogLevel::kDebug;
  if (upper == "WARN") return LogLevel::kWarn;
  if (upper == "ERROR") return LogLevel::kError;
  if (upper == "FATAL") return LogLevel::kFatal;
  return LogLevel::kInfo;
}

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return "TRACE";
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarn:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
    case LogLevel::kFatal:
      return "FATAL";
  }
  return "INFO";
}

Logger::Logger(bool json, LogLevel min_level, Sink sink)
    : json_(json), min_level_(min_level), sink_(std::move(sink)) {}

Logger Logger::from_environment() {
  const char* format = std::getenv("AWS_LAMBDA_LOG_FORMAT");
  const char* level = std::getenv("AWS_LAMBDA_LOG_LEVEL");
  const bool json = !(format != nullptr && std::string_view(format) == "Text");
  return Logger(json, level ? parse_log_level(level) : LogLevel::kInfo,
                [](const std::string& line) {
                  // One write per line so that lines of concurrent writers never interleave.
                  std::string out = line + "\n";
                  std::fwrite(out.data(), 1, out.size(), stdout);
                  std::fflush(stdout);
                });
}

void Logger::log(LogLevel level, std::string_view message, std::string_view request_id,
                 const ordered_json& fields) const {
  if (!enabled(level) || !sink_) return;
  const auto now = std::chrono::system_clock::now();
  if (json_) {
    ordered_json line;
    line["timestamp"] = timestamp(now);
    line["level"] = std::string(log_level_name(level));
    if (!request_id.empty()) line["requestId"] = std::string(request_id);
    line["message"] = std::string(message);
    if (fields.is_object()) {
      for (const auto& [k, v] : fields.items())
        line[k] = v;
    }
    sink_(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    std::string line = timestamp(now) + "\t" +
                       (request_id.empty() ? "undefined" : std::string(request_id)) + "\t" +
                       std::string(log_level_name(level)) + "\t" + std::string(message);
    if (fields.is_object() && !fields.empty()) {
      line += " " + fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    sink_(line);
  }
}

std::string emf_line(const InvocationMetrics& m, std::chrono::system_clock::time_point now) {
  ordered_json metrics = ordered_json::array();
  metrics.push_back({{"Name", "RowsWritten"}, {"Unit", "Count"}});
  metrics.push_back({{"Name", "WriteLatency"}, {"Unit", "Milliseconds"}});
  metrics.push_back({{"Name", "ConnectionsOpened"}, {"Unit", "Count"}});
  metrics.push_back({{"Name", "Errors"}, {"Unit", "Count"}});
  ordered_json doc;
  doc["_aws"] = {
      {"Timestamp",
       std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()},
      {"CloudWatchMetrics",
       ordered_json::array({{{"Namespace", "writegate"},
                             {"Dimensions", ordered_json::array({{"FunctionName", "StatusCode"}})},
                             {"Metrics", metrics}}})}};
  doc["FunctionName"] = m.function_name;
  doc["StatusCode"] = std::to_string(m.status_code);
  doc["RowsWritten"] = m.rows_written;
  doc["WriteLatency"] = m.write_latency_ms;
  doc["ConnectionsOpened"] = m.connections_opened;
  doc["Errors"] = m.status_code >= 400 ? 1 : 0;
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace writegate::lambda
