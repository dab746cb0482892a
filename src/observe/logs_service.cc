#include "observe/logs_service.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "common/log_files.h"
#include "observe/filter_pattern.h"

namespace writegate::observe {

namespace {

// An event's id: 56 digits as CloudWatch's, here the stream's index (36) and the line's offset
// in it (20), each zero-padded so that no two events of a group share one.
std::string event_id(std::size_t stream, std::uint64_t offset) {
  return fmt::format("{:036}{:020}", stream, offset);
}

using awslocal::ApiError;
using awslocal::ApiResult;
using awslocal::Response;
using awslocal::ServiceCall;
using nlohmann::json;
using nlohmann::ordered_json;

constexpr awslocal::Protocol kJson = awslocal::Protocol::kJson11;
constexpr std::size_t kMaxStoredQueries = 100;
constexpr auto kQueryRetention = std::chrono::hours(1);

Response json_response(const ordered_json& body, std::string_view request_id) {
  Response r;
  r.headers.push_back({"x-amzn-RequestId", std::string(request_id)});
  r.headers.push_back({"Content-Type", "application/x-amz-json-1.1"});
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

ApiError invalid_parameter(std::string message) {
  return awslocal::service_error(400, "InvalidParameterException", std::move(message));
}

ApiError group_not_found() {
  return awslocal::service_error(400, "ResourceNotFoundException",
                                 "The specified log group does not exist.");
}

// Typed members of the request body; the first wrong type becomes the error.
class Body {
 public:
  explicit Body(const std::string& text) {
    doc_ =
        json::parse(text.empty() ? std::string_view("{}") : std::string_view(text), nullptr, false);
    if (doc_.is_discarded() || !doc_.is_object()) {
      error_ = awslocal::service_error(400, "SerializationException",
                                       "the request body is not a JSON object");
      doc_ = json::object();
    }
  }
  std::optional<std::string> string(const char* name) {
    auto it = doc_.find(name);
    if (it == doc_.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) {
      wrong(name, "a string");
      return std::nullopt;
    }
    return it->get<std::string>();
  }
  std::optional<int64_t> integer(const char* name) {
    auto it = doc_.find(name);
    if (it == doc_.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_integer()) {
      wrong(name, "an integer");
      return std::nullopt;
    }
    return it->get<int64_t>();
  }
  std::vector<std::string> strings(const char* name) {
    std::vector<std::string> out;
    auto it = doc_.find(name);
    if (it == doc_.end() || it->is_null()) return out;
    if (!it->is_array() || it->size() > 100) {
      wrong(name, "a list of at most 100 strings");
      return out;
    }
    for (const auto& v : *it) {
      if (!v.is_string()) {
        wrong(name, "a list of strings");
        return {};
      }
      out.push_back(v.get<std::string>());
    }
    return out;
  }
  std::optional<bool> boolean(const char* name) {
    auto it = doc_.find(name);
    if (it == doc_.end() || it->is_null()) return std::nullopt;
    if (!it->is_boolean()) {
      wrong(name, "a boolean");
      return std::nullopt;
    }
    return it->get<bool>();
  }
  const std::optional<ApiError>& error() const { return error_; }

 private:
  void wrong(const char* name, const char* what) {
    if (!error_) error_ = invalid_parameter(std::string(name) + " must be " + what);
  }
  json doc_;
  std::optional<ApiError> error_;
};

std::string group_arn(const ServiceCall& call, std::string_view group) {
  const auto settings = call.store.settings();
  return "arn:aws:logs:" + settings.region + ":" + settings.account_id +
         ":log-group:" + std::string(group);
}

// A group named by logGroupName or logGroupIdentifier (a name or an ARN).
std::variant<const LogGroupSource*, ApiError> named_group(const ServiceCall& call, Body& body,
                                                          const std::vector<LogGroupSource>& all) {
  auto name = body.string("logGroupName");
  auto identifier = body.string("logGroupIdentifier");
  if (body.error()) return *body.error();
  if (name && identifier) {
    return invalid_parameter("LogGroup name and LogGroup ARN are mutually exclusive parameters.");
  }
  std::string wanted = name ? *name : identifier.value_or("");
  if (wanted.empty())
    return invalid_parameter("You must provide logGroupName or logGroupIdentifier.");
  const std::string prefix = group_arn(call, "");
  if (wanted.rfind(prefix, 0) == 0) {
    wanted = wanted.substr(prefix.size());
    if (wanted.size() >= 2 && wanted.ends_with(":*")) wanted.resize(wanted.size() - 2);
  }
  const LogGroupSource* group = find_group(all, wanted);
  // Authorise before saying whether the group exists, so names cannot be probed.
  if (auto denied = awslocal::authorize(call, kJson, "logs:" + std::string(call.operation),
                                        group_arn(call, wanted.substr(0, 512)) + ":*")) {
    return *denied;
  }
  if (group == nullptr) return group_not_found();
  return group;
}

uint64_t stored_bytes(const LogGroupSource& g) {
  uint64_t total = 0;
  for (const auto& s : g.streams)
    total += stream_facts(s).size;
  return total;
}

// FilterLogEvents' nextToken: "f1/<stream index>/<offset>/<time of the line before or ->".
std::string filter_token(std::size_t stream, const ReadPosition& at) {
  return "f1/" + std::to_string(stream) + "/" + std::to_string(at.offset) + "/" +
         (at.previous_time ? std::to_string(*at.previous_time) : "-");
}

bool parse_uint(std::string_view s, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

std::optional<std::pair<std::size_t, ReadPosition>> parse_filter_token(std::string_view token) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (parts.size() < 5) {
    const std::size_t slash = token.find('/', start);
    parts.push_back(token.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() != 4 || parts[0] != "f1") return std::nullopt;
  uint64_t stream = 0;
  ReadPosition at;
  if (!parse_uint(parts[1], stream) || stream > 1000 || !parse_uint(parts[2], at.offset)) {
    return std::nullopt;
  }
  if (parts[3] != "-") {
    uint64_t t = 0;
    if (!parse_uint(parts[3], t) || t > (uint64_t{1} << 52)) return std::nullopt;
    at.previous_time = static_cast<EpochMillis>(t);
  }
  return std::make_pair(static_cast<std::size_t>(stream), at);
}

}  // namespace

LogsService::LogsService(LogGroupProvider groups) : groups_(std::move(groups)) {
  route_.signing_name = "logs";
  route_.protocol = kJson;
  route_.target_prefix = "Logs_20140328";
}

ApiResult LogsService::handle(const ServiceCall& call) {
  const std::string op(call.operation);
  if (op == "StartQuery") return start_query(call, call.request.body);
  if (op == "GetQueryResults") return query_result(call, call.request.body, false);
  if (op == "StopQuery") return query_result(call, call.request.body, true);
  if (op != "DescribeLogGroups" && op != "DescribeLogStreams" && op != "FilterLogEvents") {
    return awslocal::service_error(
        400, "UnknownOperationException",
        "this endpoint's CloudWatch Logs serves DescribeLogGroups, DescribeLogStreams, "
        "FilterLogEvents, StartQuery, GetQueryResults and StopQuery, not " +
            op.substr(0, 64));
  }
  Body body(call.request.body);
  if (body.error()) return *body.error();
  const std::vector<LogGroupSource> all = groups_();

  if (op == "DescribeLogGroups") {
    auto prefix = body.string("logGroupNamePrefix");
    auto pattern = body.string("logGroupNamePattern");
    auto limit = body.integer("limit");
    auto token = body.string("nextToken");
    if (body.error()) return *body.error();
    if (limit && (*limit < 1 || *limit > 50)) {
      return invalid_parameter("limit must be between 1 and 50");
    }
    if (auto denied =
            awslocal::authorize(call, kJson, "logs:DescribeLogGroups", group_arn(call, "*"))) {
      return *denied;
    }
    uint64_t skip = 0;
    if (token && (token->rfind("g1/", 0) != 0 || !parse_uint(token->substr(3), skip))) {
      return invalid_parameter("The specified nextToken is invalid.");
    }
    ordered_json groups = ordered_json::array();
    std::optional<std::size_t> next;
    std::size_t seen = 0;
    for (const auto& g : all) {
      if (prefix && g.name.rfind(*prefix, 0) != 0) continue;
      if (pattern && g.name.find(*pattern) == std::string::npos) continue;
      if (seen++ < skip) continue;
      if (groups.size() >= static_cast<std::size_t>(limit.value_or(50))) {
        next = seen - 1;
        break;
      }
      EpochMillis created = 0;
      for (const auto& s : g.streams) {
        auto head = read_events(s, {}, 1);
        if (head && !head->events.empty()) created = head->events.front().timestamp;
      }
      groups.push_back(ordered_json{{"logGroupName", g.name},
                                    {"creationTime", created},
                                    {"metricFilterCount", 0},
                                    {"arn", group_arn(call, g.name) + ":*"},
                                    {"storedBytes", stored_bytes(g)},
                                    {"logGroupClass", "STANDARD"},
                                    {"logGroupArn", group_arn(call, g.name)}});
    }
    ordered_json out{{"logGroups", groups}};
    if (next) out["nextToken"] = "g1/" + std::to_string(*next);
    return json_response(out, call.request_id);
  }

  auto found = named_group(call, body, all);
  if (auto* e = std::get_if<ApiError>(&found)) return *e;
  const LogGroupSource& group = *std::get<const LogGroupSource*>(found);

  if (op == "DescribeLogStreams") {
    auto prefix = body.string("logStreamNamePrefix");
    auto descending = body.boolean("descending");
    if (body.error()) return *body.error();
    std::vector<const LogStreamSource*> streams;
    for (const auto& s : group.streams)
      if (!prefix || s.name.rfind(*prefix, 0) == 0) streams.push_back(&s);
    if (descending.value_or(false)) std::reverse(streams.begin(), streams.end());
    ordered_json list = ordered_json::array();
    for (const auto* s : streams) {
      const StreamFacts facts = stream_facts(*s);
      auto head = read_events(*s, {}, 1);
      const EpochMillis first =
          head && !head->events.empty() ? head->events.front().timestamp : facts.modified;
      ordered_json entry{{"logStreamName", s->name}, {"creationTime", first}};
      if (facts.size > 0) {
        entry["firstEventTimestamp"] = first;
        entry["lastEventTimestamp"] = facts.modified;
        entry["lastIngestionTime"] = facts.modified;
      }
      entry["arn"] = group_arn(call, group.name) + ":log-stream:" + s->name;
      entry["storedBytes"] = facts.size;
      list.push_back(std::move(entry));
    }
    return json_response(ordered_json{{"logStreams", list}}, call.request_id);
  }

  // FilterLogEvents
  auto stream_names = body.strings("logStreamNames");
  auto stream_prefix = body.string("logStreamNamePrefix");
  auto start_time = body.integer("startTime");
  auto end_time = body.integer("endTime");
  auto pattern_text = body.string("filterPattern");
  auto limit = body.integer("limit");
  auto token = body.string("nextToken");
  if (body.error()) return *body.error();
  if (!stream_names.empty() && stream_prefix) {
    return invalid_parameter("logStreamNames and logStreamNamePrefix are mutually exclusive");
  }
  if (limit && (*limit < 1 || *limit > 10000)) {
    return invalid_parameter("limit must be between 1 and 10000");
  }
  auto pattern = FilterPattern::parse(pattern_text.value_or(""));
  if (!pattern) return invalid_parameter("Invalid filter pattern: " + pattern.error().message());
  std::size_t stream_index = 0;
  ReadPosition at;
  if (token) {
    auto parsed = parse_filter_token(*token);
    if (!parsed) return invalid_parameter("The specified nextToken is invalid.");
    std::tie(stream_index, at) = *parsed;
  }
  auto selected = [&](const LogStreamSource& s) {
    if (!stream_names.empty()) {
      return std::find(stream_names.begin(), stream_names.end(), s.name) != stream_names.end();
    }
    return !stream_prefix || s.name.rfind(*stream_prefix, 0) == 0;
  };
  const std::size_t wanted = static_cast<std::size_t>(limit.value_or(10000));
  ordered_json events = ordered_json::array();
  ordered_json searched = ordered_json::array();
  std::size_t budget = kFilterReadBytes;
  std::optional<std::string> next_token;
  for (std::size_t i = stream_index; i < group.streams.size() && !next_token; ++i) {
    const LogStreamSource& s = group.streams[i];
    if (!selected(s)) continue;
    ReadPosition position = i == stream_index ? at : ReadPosition{};
    bool complete = false;
    while (!next_token) {
      auto chunk = read_events(s, position, std::min<std::size_t>(budget, 1024 * 1024));
      if (!chunk) {
        return awslocal::service_error(500, "ServiceUnavailableException",
                                       "the log stream " + s.name + " could not be read");
      }
      budget -= std::min<std::size_t>(budget, chunk->bytes_read);
      for (const LogEvent& e : chunk->events) {
        if (start_time && e.timestamp < *start_time) continue;
        if (end_time && e.timestamp > *end_time) continue;
        if (!pattern->matches(e.message)) continue;
        events.push_back(ordered_json{{"logStreamName", s.name},
                                      {"timestamp", e.timestamp},
                                      {"message", e.message},
                                      {"ingestionTime", e.timestamp},
                                      {"eventId", event_id(i, e.offset)}});
        if (events.size() >= wanted) {
          // Go on where the next line begins (the message may have lost a \r or a cut tail).
          ReadPosition after{e.end, e.timestamp};
          next_token = filter_token(i, after);
          break;
        }
      }
      if (next_token) break;
      position = chunk->next;
      if (chunk->end_of_file) {
        complete = true;
        break;
      }
      if (budget == 0) {
        next_token = filter_token(i, position);
        break;
      }
    }
    searched.push_back(ordered_json{{"logStreamName", s.name}, {"searchedCompletely", complete}});
  }
  ordered_json out{{"events", events}, {"searchedLogStreams", searched}};
  if (next_token) out["nextToken"] = *next_token;
  return json_response(out, call.request_id);
}

ApiResult LogsService::start_query(const ServiceCall& call, const std::string& text) {
  Body body(text);
  auto name = body.string("logGroupName");
  auto names = body.strings("logGroupNames");
  auto identifiers = body.strings("logGroupIdentifiers");
  auto start_time = body.integer("startTime");
  auto end_time = body.integer("endTime");
  auto query_string = body.string("queryString");
  auto limit = body.integer("limit");
  if (body.error()) return *body.error();
  const int given = (name ? 1 : 0) + (names.empty() ? 0 : 1) + (identifiers.empty() ? 0 : 1);
  if (name) names.insert(names.begin(), *name);
  if (given > 1) {
    return invalid_parameter(
        "logGroupName, logGroupNames and logGroupIdentifiers are mutually exclusive");
  }
  names.insert(names.end(), identifiers.begin(), identifiers.end());
  if (names.empty()) {
    return invalid_parameter(
        "You must provide logGroupName, logGroupNames or logGroupIdentifiers (this endpoint has "
        "no query source selection).");
  }
  if (!start_time || !end_time) return invalid_parameter("startTime and endTime are required");
  if (*end_time < *start_time) return invalid_parameter("endTime is before startTime");
  if (!query_string || query_string->empty()) return invalid_parameter("queryString is required");
  if (limit && (*limit < 1 || *limit > 10000)) {
    return invalid_parameter("limit must be between 1 and 10000");
  }
  const std::vector<LogGroupSource> all = groups_();
  const auto settings = call.store.settings();
  std::vector<const LogGroupSource*> groups;
  for (std::string wanted : names) {
    const std::string prefix = group_arn(call, "");
    if (wanted.rfind(prefix, 0) == 0) {
      wanted = wanted.substr(prefix.size());
      if (wanted.ends_with(":*")) wanted.resize(wanted.size() - 2);
    }
    if (auto denied = awslocal::authorize(call, kJson, "logs:StartQuery",
                                          group_arn(call, wanted.substr(0, 512)) + ":*")) {
      return *denied;
    }
    const LogGroupSource* g = find_group(all, wanted);
    if (g == nullptr) {
      return awslocal::service_error(400, "ResourceNotFoundException",
                                     "Log group '" + wanted.substr(0, 512) +
                                         "' does not exist for account ID '" + settings.account_id +
                                         "'");
    }
    groups.push_back(g);
  }
  auto parsed = InsightsQuery::parse(*query_string);
  if (auto* e = std::get_if<QueryParseError>(&parsed)) {
    ordered_json error{{"__type", "MalformedQueryException"},
                       {"message", e->message},
                       {"queryCompileError",
                        {{"location", {{"startCharOffset", e->start}, {"endCharOffset", e->end}}},
                         {"message", e->message}}}};
    Response r = json_response(error, call.request_id);
    r.status = 400;
    return r;
  }
  const InsightsQuery& query = std::get<InsightsQuery>(parsed);
  QueryRun run(query);
  const EpochMillis from = *start_time * 1000;
  const EpochMillis to = *end_time * 1000 + 999;  // the end second is included
  uint64_t budget = kQueryReadBytes;
  for (const LogGroupSource* g : groups) {
    const std::string log = settings.account_id + ":" + g->name;
    for (const LogStreamSource& s : g->streams) {
      ReadPosition position;
      while (budget > 0) {
        auto chunk =
            read_events(s, position, static_cast<std::size_t>(std::min<uint64_t>(budget, 4 << 20)));
        if (!chunk) {
          return awslocal::service_error(500, "ServiceUnavailableException",
                                         "the log stream " + s.name + " could not be read");
        }
        budget -= std::min<uint64_t>(budget, chunk->bytes_read);
        for (const LogEvent& e : chunk->events) {
          if (e.timestamp < from || e.timestamp > to) continue;
          run.add({e.timestamp, e.message, s.name, log});
        }
        position = chunk->next;
        if (chunk->end_of_file) break;
      }
    }
  }
  StoredQuery stored;
  stored.account = settings.account_id;
  stored.query_string = *query_string;
  stored.started = call.now;
  stored.output = run.finish(static_cast<std::size_t>(limit.value_or(1000)));
  const std::string id = awslocal::new_request_id();
  {
    std::lock_guard lock(mutex_);
    std::erase_if(queries_, [&](const auto& entry) {
      return call.now - entry.second.started > kQueryRetention;
    });
    while (queries_.size() >= kMaxStoredQueries) {
      auto oldest = std::min_element(queries_.begin(), queries_.end(), [](auto& a, auto& b) {
        return a.second.started < b.second.started;
      });
      queries_.erase(oldest);
    }
    queries_[id] = std::move(stored);
  }
  return json_response(ordered_json{{"queryId", id}}, call.request_id);
}

ApiResult LogsService::query_result(const ServiceCall& call, const std::string& text, bool stop) {
  Body body(text);
  auto id = body.string("queryId");
  if (body.error()) return *body.error();
  if (!id || id->empty()) return invalid_parameter("queryId is required");
  const std::string action = stop ? "logs:StopQuery" : "logs:GetQueryResults";
  if (auto denied = awslocal::authorize(call, kJson, action, "*")) return *denied;
  std::lock_guard lock(mutex_);
  auto it = queries_.find(*id);
  if (it == queries_.end() || it->second.account != call.store.settings().account_id) {
    return awslocal::service_error(400, "ResourceNotFoundException",
                                   "Query does not exist or has expired: " + id->substr(0, 64));
  }
  if (stop) {
    // It completed when it started: nothing is running to stop.
    return json_response(ordered_json{{"success", false}}, call.request_id);
  }
  const QueryOutput& output = it->second.output;
  ordered_json results = ordered_json::array();
  for (const ResultRow& row : output.rows) {
    ordered_json cells = ordered_json::array();
    for (const auto& [field, value] : row)
      cells.push_back(ordered_json{{"field", field}, {"value", value}});
    results.push_back(std::move(cells));
  }
  ordered_json statistics{
      {"recordsMatched", static_cast<double>(output.statistics.records_matched)},
      {"recordsScanned", static_cast<double>(output.statistics.records_scanned)},
      {"bytesScanned", static_cast<double>(output.statistics.bytes_scanned)}};
  return json_response(
      ordered_json{{"results", results}, {"statistics", statistics}, {"status", "Complete"}},
      call.request_id);
}

}  // namespace writegate::observe
