#include "observe/cloudwatch_service.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "awslocal/query_compat.h"
#include "common/time.h"

namespace writegate::observe {

namespace {

using awslocal::ApiError;
using awslocal::ApiResult;
using awslocal::make_error;
using awslocal::Protocol;
using awslocal::Response;
using awslocal::ServiceCall;
using awslocal::xml_escape;
using awslocal::xml_response;
using awslocal::xml_response_metadata;

constexpr std::size_t kMaxDimensions = 30;
constexpr std::size_t kMaxQueries = 500;
constexpr std::size_t kMaxStatistics = 5;
constexpr std::size_t kMaxNameLength = 255;

ApiError missing(std::string_view name) {
  return make_error(400, "MissingParameter",
                    "The parameter " + std::string(name) + " is required.");
}
ApiError invalid(std::string message) {
  return make_error(400, "InvalidParameterValue", std::move(message));
}
ApiError combination(std::string message) {
  return make_error(400, "InvalidParameterCombination", std::move(message));
}

// The shown part of a value in an error message (bounded).
std::string shown(std::string_view value) {
  return std::string(value.substr(0, 128));
}

class Params {
 public:
  explicit Params(const std::vector<sigv4::QueryParam>& params) : params_(params) {}
  std::optional<std::string_view> get(std::string_view name) const {
    for (const auto& p : params_)
      if (p.name == name) return std::string_view(p.value);
    return std::nullopt;
  }
  // Whether any parameter starts with `prefix` (a list with members, maybe past a gap).
  bool any_with_prefix(std::string_view prefix) const {
    return std::any_of(params_.begin(), params_.end(),
                       [&](const auto& p) { return p.name.starts_with(prefix); });
  }

 private:
  const std::vector<sigv4::QueryParam>& params_;
};

std::optional<ApiError> required_name(const Params& p, const std::string& name, std::string& out) {
  auto v = p.get(name);
  if (!v || v->empty()) return missing(name);
  if (v->size() > kMaxNameLength) {
    return invalid("The parameter " + name + " must be at most 255 characters long.");
  }
  out = std::string(*v);
  return std::nullopt;
}

std::optional<ApiError> parse_time(const Params& p, const std::string& name, EpochMs& out) {
  auto v = p.get(name);
  if (!v || v->empty()) return missing(name);
  auto t = parse_iso8601(v->substr(0, 64));
  if (!t || v->size() > 64) {
    return invalid("The parameter " + name + " must be a timestamp (ISO 8601), not '" + shown(*v) +
                   "'.");
  }
  out = std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count();
  return std::nullopt;
}

std::optional<ApiError> parse_period(const Params& p, const std::string& name, std::int64_t& out) {
  auto v = p.get(name);
  if (!v || v->empty()) return missing(name);
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size() || out < 1 || out > 31'536'000) {
    return invalid("The parameter " + name + " must be a positive integer, not '" + shown(*v) +
                   "'.");
  }
  // CloudWatch: 1, 5, 10, 30 (high resolution) or a multiple of 60.
  if (out % 60 != 0 && out != 1 && out != 5 && out != 10 && out != 30) {
    return invalid("The parameter " + name + " must be 1, 5, 10, 30, or a multiple of 60.");
  }
  return std::nullopt;
}

std::optional<ApiError> parse_metric(const Params& p, const std::string& prefix, MetricId& out) {
  if (auto e = required_name(p, prefix + "Namespace", out.ns)) return e;
  if (auto e = required_name(p, prefix + "MetricName", out.name)) return e;
  for (std::size_t i = 1;; ++i) {
    const std::string member = prefix + "Dimensions.member." + std::to_string(i) + ".";
    if (!p.any_with_prefix(member)) break;
    if (i > kMaxDimensions) {
      return invalid("The collection " + prefix + "Dimensions must not have more than 30 members.");
    }
    Dimension d;
    if (auto e = required_name(p, member + "Name", d.name)) return e;
    if (auto e = required_name(p, member + "Value", d.value)) return e;
    for (const auto& seen : out.dimensions) {
      if (seen.name == d.name) {
        return combination("No metric may have more than one dimension named " + shown(d.name) +
                           ".");
      }
    }
    out.dimensions.push_back(std::move(d));
  }
  return std::nullopt;
}

bool known_statistic(std::string_view s) {
  return std::find(std::begin(kStatistics), std::end(kStatistics), s) != std::end(kStatistics);
}

bool valid_query_id(std::string_view id) {
  if (id.empty() || id.size() > 255 || id[0] < 'a' || id[0] > 'z') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string format_time(EpochMs ms) {
  return format_iso8601(SystemTime(std::chrono::milliseconds(ms)));
}

// A timestamp of a JSON 1.0 or CBOR answer: epoch seconds (a whole number when it is one).
nlohmann::ordered_json epoch_seconds(EpochMs ms) {
  if (ms % 1000 == 0) return ms / 1000;
  return static_cast<double>(ms) / 1000.0;
}

// The answer members that are timestamps (Datapoint.Timestamp, MetricDataResult.Timestamps).
const std::vector<std::string_view> kTimestampMembers = {"Timestamp", "Timestamps"};

std::string format_value(double v) {
  return fmt::format("{}", v);
}

}  // namespace

double statistic_value(const Datapoint& point, std::string_view statistic) {
  if (statistic == "SampleCount") return static_cast<double>(point.sample_count);
  if (statistic == "Sum") return point.sum;
  if (statistic == "Minimum") return point.minimum;
  if (statistic == "Maximum") return point.maximum;
  return point.average();
}

std::variant<MetricStatisticsRequest, ApiError> parse_metric_statistics_request(
    const std::vector<sigv4::QueryParam>& params) {
  const Params p(params);
  MetricStatisticsRequest out;
  if (auto e = parse_metric(p, "", out.metric)) return *e;
  if (auto e = parse_time(p, "StartTime", out.start)) return *e;
  if (auto e = parse_time(p, "EndTime", out.end)) return *e;
  if (auto e = parse_period(p, "Period", out.period_seconds)) return *e;
  const bool extended = p.any_with_prefix("ExtendedStatistics.member.");
  for (std::size_t i = 1;; ++i) {
    const std::string name = "Statistics.member." + std::to_string(i);
    auto v = p.get(name);
    if (!v) {
      if (p.any_with_prefix(name)) return missing(name);
      break;
    }
    if (i > kMaxStatistics) {
      return invalid("The collection Statistics must not have more than 5 members.");
    }
    if (!known_statistic(*v)) {
      return invalid("The parameter " + name +
                     " must be a value in the set [ Maximum, Sum, SampleCount, Average, "
                     "Minimum ].");
    }
    out.statistics.emplace_back(*v);
  }
  if (out.statistics.empty() == !extended) {
    return combination("Must specify either Statistics or ExtendedStatistics, but not both.");
  }
  if (extended) {
    return invalid(
        "ExtendedStatistics (percentiles) are not kept by this local CloudWatch; ask for "
        "SampleCount, Average, Sum, Minimum or Maximum.");
  }
  if (auto unit = p.get("Unit")) out.unit = std::string(unit->substr(0, 64));
  if (out.start >= out.end) {
    return invalid("The parameter StartTime must be less than the parameter EndTime.");
  }
  const std::int64_t period_ms = out.period_seconds * 1000;
  const std::int64_t points = (out.end - out.start + period_ms - 1) / period_ms;
  if (points > CloudWatchService::kMaxDatapoints) {
    return combination(fmt::format(
        "You have requested up to {} datapoints, which exceeds the limit of 1,440. You may "
        "reduce the datapoints requested by increasing Period, or decreasing the time range.",
        points));
  }
  return out;
}

std::variant<MetricDataRequest, ApiError> parse_metric_data_request(
    const std::vector<sigv4::QueryParam>& params) {
  const Params p(params);
  MetricDataRequest out;
  if (!p.any_with_prefix("MetricDataQueries.member.")) return missing("MetricDataQueries");
  for (std::size_t i = 1;; ++i) {
    const std::string member = "MetricDataQueries.member." + std::to_string(i) + ".";
    if (!p.any_with_prefix(member)) break;
    if (i > kMaxQueries) {
      return invalid("The collection MetricDataQueries must not have more than 500 members.");
    }
    MetricDataQuery q;
    auto id = p.get(member + "Id");
    if (!id || id->empty()) return missing(member + "Id");
    if (!valid_query_id(*id)) {
      return make_error(400, "ValidationError",
                        "The value " + shown(*id) + " for parameter " + member +
                            "Id is not matching the expected pattern ^[a-z][a-zA-Z0-9_]*$.");
    }
    q.id = std::string(*id);
    for (const auto& seen : out.queries) {
      if (seen.id == q.id) {
        return make_error(400, "ValidationError",
                          "The value " + q.id + " for parameter MetricDataQueries.member." +
                              std::to_string(i) + ".Id is used more than once.");
      }
    }
    if (p.get(member + "Expression")) {
      return make_error(400, "ValidationError",
                        "this local CloudWatch answers MetricStat queries; " + member +
                            "Expression (metric math) is not evaluated here.");
    }
    if (!p.any_with_prefix(member + "MetricStat.")) {
      return make_error(400, "ValidationError",
                        "The parameter " + member + "MetricStat or Expression is required.");
    }
    const std::string stat = member + "MetricStat.";
    if (auto e = parse_metric(p, stat + "Metric.", q.metric)) return *e;
    if (auto e = parse_period(p, stat + "Period", q.period_seconds)) return *e;
    auto s = p.get(stat + "Stat");
    if (!s || s->empty()) return missing(stat + "Stat");
    if (!known_statistic(*s)) {
      return invalid("The parameter " + stat + "Stat must be one of SampleCount, Average, Sum, " +
                     "Minimum, Maximum here (percentiles are not kept), not '" + shown(*s) + "'.");
    }
    q.stat = std::string(*s);
    if (auto unit = p.get(stat + "Unit")) q.unit = std::string(unit->substr(0, 64));
    if (auto label = p.get(member + "Label")) q.label = std::string(label->substr(0, 1024));
    if (auto rd = p.get(member + "ReturnData")) {
      if (*rd != "true" && *rd != "false") {
        return invalid("The parameter " + member + "ReturnData must be true or false.");
      }
      q.return_data = *rd == "true";
    }
    out.queries.push_back(std::move(q));
  }
  if (auto e = parse_time(p, "StartTime", out.start)) return *e;
  if (auto e = parse_time(p, "EndTime", out.end)) return *e;
  if (out.start >= out.end) {
    return invalid("The parameter StartTime must be less than the parameter EndTime.");
  }
  if (auto scan = p.get("ScanBy")) {
    if (*scan != "TimestampAscending" && *scan != "TimestampDescending") {
      return invalid("The parameter ScanBy must be TimestampAscending or TimestampDescending.");
    }
    out.ascending = *scan == "TimestampAscending";
  }
  if (auto max = p.get("MaxDatapoints")) {
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(max->data(), max->data() + max->size(), n);
    if (ec != std::errc() || end != max->data() + max->size() || n < 1) {
      return invalid("The parameter MaxDatapoints must be a positive integer.");
    }
    out.max_datapoints = static_cast<std::size_t>(std::min<std::int64_t>(n, 100800));
  }
  if (auto token = p.get("NextToken")) out.next_token = std::string(token->substr(0, 1024));
  return out;
}

MetricDataPage metric_data_page(const MetricStore& store, const MetricDataRequest& req,
                                const MetricDataPosition& from) {
  MetricDataPage page;
  std::size_t budget = req.max_datapoints;
  for (std::size_t i = 0; i < req.queries.size(); ++i) {
    const MetricDataQuery& q = req.queries[i];
    if (!q.return_data) continue;
    MetricDataResult result;
    result.id = q.id;
    result.label = q.label.empty() ? q.metric.name : q.label;
    if (i < from.query) {  // done on an earlier page
      page.results.push_back(std::move(result));
      continue;
    }
    std::vector<Datapoint> points;
    const std::string unit = store.unit(q.metric).value_or("None");
    if (!q.unit || *q.unit == unit) {
      points = store.statistics(q.metric, req.start, req.end, q.period_seconds * 1000);
    }
    if (!req.ascending) std::reverse(points.begin(), points.end());
    if (i == from.query && from.after) {
      // On after the last one given (periods are aligned to StartTime: the times are stable).
      const EpochMs after = *from.after;
      std::erase_if(points, [&](const Datapoint& d) {
        return req.ascending ? d.start <= after : d.start >= after;
      });
    }
    const std::size_t given = std::min(points.size(), budget);
    for (std::size_t k = 0; k < given; ++k) {
      result.timestamps.push_back(points[k].start);
      result.values.push_back(statistic_value(points[k], q.stat));
    }
    budget -= given;
    if (given < points.size()) {
      result.partial = true;
      if (!page.next) {
        std::optional<EpochMs> after = i == from.query ? from.after : std::nullopt;
        if (given > 0) after = points[given - 1].start;
        page.next = MetricDataPosition{i, after};
      }
    }
    page.results.push_back(std::move(result));
  }
  return page;
}

MetricDataTokens::MetricDataTokens() : key_(32, '\0') {
  RAND_bytes(reinterpret_cast<unsigned char*>(key_.data()), static_cast<int>(key_.size()));
}

MetricDataTokens::MetricDataTokens(std::string key) : key_(std::move(key)) {}

std::string MetricDataTokens::mac(const MetricDataRequest& req, std::string_view position) const {
  // What the token continues: every field of the request but MaxDatapoints and the token.
  std::string text = fmt::format("gmd1|{}|{}|{}|{}", req.start, req.end, req.ascending, position);
  for (const auto& q : req.queries) {
    text += fmt::format("|{}|{}|{}|{}|{}|{}|{}|{}|{}", q.id.size(), q.id, q.metric.ns.size(),
                        q.metric.ns, q.metric.name.size(), q.metric.name, q.period_seconds, q.stat,
                        q.return_data);
    text += "|" + q.unit.value_or("-") + "|" + std::to_string(q.metric.dimensions.size());
    for (const auto& d : q.metric.dimensions)
      text += fmt::format("|{}|{}|{}|{}", d.name.size(), d.name, d.value.size(), d.value);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest, &length);
  std::string hex;
  for (unsigned int i = 0; i < 16 && i < length; ++i)
    hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

std::string MetricDataTokens::seal(const MetricDataRequest& req,
                                   const MetricDataPosition& at) const {
  const std::string position =
      std::to_string(at.query) + "." + (at.after ? std::to_string(*at.after) : "-");
  return position + "." + mac(req, position);
}

std::optional<MetricDataPosition> MetricDataTokens::open(const MetricDataRequest& req,
                                                         std::string_view token) const {
  const std::size_t last_dot = token.rfind('.');
  if (last_dot == std::string_view::npos) return std::nullopt;
  const std::string_view position = token.substr(0, last_dot);
  const std::string expected = mac(req, position);
  const std::string_view given = token.substr(last_dot + 1);
  if (given.size() != expected.size() ||
      CRYPTO_memcmp(given.data(), expected.data(), expected.size()) != 0) {
    return std::nullopt;
  }
  const std::size_t dot = position.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  MetricDataPosition at;
  const std::string_view query = position.substr(0, dot);
  const std::string_view after = position.substr(dot + 1);
  auto [qe, qerr] = std::from_chars(query.data(), query.data() + query.size(), at.query);
  if (qerr != std::errc() || qe != query.data() + query.size() || at.query >= req.queries.size()) {
    return std::nullopt;
  }
  if (after != "-") {
    EpochMs t = 0;
    auto [te, terr] = std::from_chars(after.data(), after.data() + after.size(), t);
    if (terr != std::errc() || te != after.data() + after.size()) return std::nullopt;
    at.after = t;
  }
  return at;
}

CloudWatchService::CloudWatchService(std::shared_ptr<const MetricStore> store)
    : store_(std::move(store)) {
  route_.signing_name = "monitoring";
  route_.protocol = Protocol::kQuery;
  route_.xml_namespace = kCloudWatchXmlNamespace;
  route_.query_compatible_target = kCloudWatchTarget;
  route_.timestamp_members = {"StartTime", "EndTime"};
}

ApiResult CloudWatchService::handle(const ServiceCall& call) {
  const std::string op(call.operation);
  if (op == "GetMetricStatistics") return get_metric_statistics(call);
  if (op == "GetMetricData") return get_metric_data(call);
  return make_error(400, "InvalidAction",
                    "The action " + shown(op) +
                        " is not valid for this web service (this local CloudWatch serves "
                        "GetMetricStatistics and GetMetricData).");
}

ApiResult CloudWatchService::get_metric_statistics(const ServiceCall& call) {
  if (auto denied =
          awslocal::authorize(call, call.protocol, "cloudwatch:GetMetricStatistics", "*")) {
    return *denied;
  }
  auto parsed = parse_metric_statistics_request(call.params);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const auto& req = std::get<MetricStatisticsRequest>(parsed);
  const std::string unit = store_->unit(req.metric).value_or("None");
  std::vector<Datapoint> points;
  if (!req.unit || *req.unit == unit) {
    points = store_->statistics(req.metric, req.start, req.end, req.period_seconds * 1000);
  }
  if (call.protocol != Protocol::kQuery) {
    nlohmann::ordered_json datapoints = nlohmann::ordered_json::array();
    for (const auto& point : points) {
      nlohmann::ordered_json d;
      d["Timestamp"] = epoch_seconds(point.start);
      for (const auto& s : req.statistics)
        d[s] = statistic_value(point, s);
      d["Unit"] = unit;
      datapoints.push_back(std::move(d));
    }
    const nlohmann::ordered_json answer{{"Label", req.metric.name}, {"Datapoints", datapoints}};
    return awslocal::document_response(call.protocol, answer, kTimestampMembers, call.request_id);
  }
  std::string body = "<GetMetricStatisticsResponse xmlns=\"" +
                     std::string(kCloudWatchXmlNamespace) +
                     "\">\n  <GetMetricStatisticsResult>\n    <Datapoints>\n";
  for (const auto& point : points) {
    body += "      <member>\n        <Timestamp>" + format_time(point.start) + "</Timestamp>\n";
    for (const auto& s : req.statistics) {
      body += "        <" + s + ">" + format_value(statistic_value(point, s)) + "</" + s + ">\n";
    }
    body += "        <Unit>" + xml_escape(unit) + "</Unit>\n      </member>\n";
  }
  body += "    </Datapoints>\n    <Label>" + xml_escape(req.metric.name) +
          "</Label>\n  </GetMetricStatisticsResult>\n" + xml_response_metadata(call.request_id) +
          "</GetMetricStatisticsResponse>\n";
  return xml_response(std::move(body), call.request_id);
}

ApiResult CloudWatchService::get_metric_data(const ServiceCall& call) {
  if (auto denied = awslocal::authorize(call, call.protocol, "cloudwatch:GetMetricData", "*")) {
    return *denied;
  }
  auto parsed = parse_metric_data_request(call.params);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const auto& req = std::get<MetricDataRequest>(parsed);
  MetricDataPosition from;
  if (req.next_token) {
    auto opened = tokens_.open(req, *req.next_token);
    if (!opened) return make_error(400, "InvalidNextToken", "The next token specified is invalid.");
    from = *opened;
  }
  const MetricDataPage page = metric_data_page(*store_, req, from);
  if (call.protocol != Protocol::kQuery) {
    nlohmann::ordered_json results = nlohmann::ordered_json::array();
    for (const MetricDataResult& r : page.results) {
      nlohmann::ordered_json timestamps = nlohmann::ordered_json::array();
      for (EpochMs t : r.timestamps)
        timestamps.push_back(epoch_seconds(t));
      results.push_back({{"Id", r.id},
                         {"Label", r.label},
                         {"Timestamps", std::move(timestamps)},
                         {"Values", r.values},
                         {"StatusCode", r.partial ? "PartialData" : "Complete"}});
    }
    nlohmann::ordered_json answer{{"MetricDataResults", std::move(results)}};
    if (page.next) answer["NextToken"] = tokens_.seal(req, *page.next);
    answer["Messages"] = nlohmann::ordered_json::array();
    return awslocal::document_response(call.protocol, answer, kTimestampMembers, call.request_id);
  }
  std::string body = "<GetMetricDataResponse xmlns=\"" + std::string(kCloudWatchXmlNamespace) +
                     "\">\n  <GetMetricDataResult>\n    <MetricDataResults>\n";
  for (const MetricDataResult& r : page.results) {
    std::string timestamps, values;
    for (std::size_t k = 0; k < r.timestamps.size(); ++k) {
      timestamps += "          <member>" + format_time(r.timestamps[k]) + "</member>\n";
      values += "          <member>" + format_value(r.values[k]) + "</member>\n";
    }
    body += "      <member>\n        <Id>" + xml_escape(r.id) + "</Id>\n        <Label>" +
            xml_escape(r.label) + "</Label>\n        <Timestamps>\n" + timestamps +
            "        </Timestamps>\n        <Values>\n" + values +
            "        </Values>\n        <StatusCode>" + (r.partial ? "PartialData" : "Complete") +
            "</StatusCode>\n      </member>\n";
  }
  body += "    </MetricDataResults>\n";
  if (page.next)
    body += "    <NextToken>" + xml_escape(tokens_.seal(req, *page.next)) + "</NextToken>\n";
  body += "    <Messages/>\n  </GetMetricDataResult>\n" + xml_response_metadata(call.request_id) +
          "</GetMetricDataResponse>\n";
  return xml_response(std::move(body), call.request_id);
}

}  // namespace writegate::observe
