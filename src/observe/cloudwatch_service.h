// CloudWatch GetMetricStatistics and GetMetricData on the local AWS endpoint, over the stack's
// MetricStore (observe/metric_store.h).
//
// Protocols: all three CloudWatch's model declares, so old and current SDKs work alike:
//   - the query API (signing name `monitoring`, Action=...&Version=2010-08-01, XML answers in
//     http://monitoring.amazonaws.com/doc/2010-08-01/): Debian's aws CLI 2.9 (botocore 1.29);
//   - JSON 1.0 (X-Amz-Target: GraniteServiceVersion20100801.<Op>): botocore 1.43's choice;
//   - Smithy RPC v2 CBOR (POST /service/GraniteServiceVersion20100801/operation/<Op>): the Go,
//     Ruby, PHP and JavaScript SDKs' choice since 2025.
// The last two are answered with the same members as JSON/CBOR documents and the query API's
// error codes (awsQueryCompatible; awslocal/query_compat.h).
//
// Every request is SigV4-verified by the router, then decided by the caller's policies:
//   GetMetricStatistics   cloudwatch:GetMetricStatistics on "*" (CloudWatch has no resource
//   GetMetricData         cloudwatch:GetMetricData       on "*"  types for these two)
// Errors are AWS's: MissingParameter, InvalidParameterValue, InvalidParameterCombination,
// ValidationError (GetMetricData's Id pattern), InvalidNextToken, AccessDenied.
// GetMetricData pages as CloudWatch does: past MaxDatapoints the answer has a NextToken, and
// the queries it cut say PartialData; the same request with that token goes on from there.
//
//   auto store = std::make_shared<MetricStore>();
//   router.add(std::make_shared<CloudWatchService>(store));
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "awslocal/router.h"
#include "observe/metric_store.h"

namespace writegate::observe {

// CloudWatch's Smithy service name: JSON 1.0's X-Amz-Target prefix and RPC v2's path segment.
inline constexpr const char* kCloudWatchTarget = "GraniteServiceVersion20100801";
inline constexpr const char* kCloudWatchXmlNamespace =
    "http://monitoring.amazonaws.com/doc/2010-08-01/";

// The statistics CloudWatch computes from samples (percentiles are not kept here).
inline constexpr const char* kStatistics[] = {"SampleCount", "Average", "Sum", "Minimum",
                                              "Maximum"};

struct MetricStatisticsRequest {
  MetricId metric;
  EpochMs start = 0;
  EpochMs end = 0;
  std::int64_t period_seconds = 60;
  std::vector<std::string> statistics;
  std::optional<std::string> unit;
};

struct MetricDataQuery {
  std::string id;
  std::string label;  // empty: the metric's name
  bool return_data = true;
  MetricId metric;
  std::int64_t period_seconds = 60;
  std::string stat;
  std::optional<std::string> unit;
};

struct MetricDataRequest {
  std::vector<MetricDataQuery> queries;
  EpochMs start = 0;
  EpochMs end = 0;
  bool ascending = false;  // ScanBy TimestampAscending; the default is TimestampDescending
  std::size_t max_datapoints = 100800;
  std::optional<std::string> next_token;  // as sent (MetricDataTokens::open checks it)
};

// Where a GetMetricData page starts: the query (its index among all the request's queries) and
// in it the time of the last datapoint already given, in scan order (none: its first).
struct MetricDataPosition {
  std::size_t query = 0;
  std::optional<EpochMs> after;
  bool operator==(const MetricDataPosition&) const = default;
};

struct MetricDataResult {
  std::string id;
  std::string label;
  std::vector<EpochMs> timestamps;
  std::vector<double> values;
  bool partial = false;  // StatusCode PartialData: more comes with the NextToken
};

struct MetricDataPage {
  std::vector<MetricDataResult> results;   // one per query with ReturnData
  std::optional<MetricDataPosition> next;  // where the next page goes on; none: complete
};

// One page, as CloudWatch pages GetMetricData: the queries' datapoints from `from` on, in scan
// order, at most req.max_datapoints in all. Every query with ReturnData is listed: one done on
// an earlier page is Complete with no values; one with datapoints left, PartialData. Pure.
MetricDataPage metric_data_page(const MetricStore& store, const MetricDataRequest& req,
                                const MetricDataPosition& from);

// GetMetricData's NextToken: the position, bound to the request it continues (queries, times,
// scan order; not MaxDatapoints, which a pager may change) and sealed with this process's key
// (HMAC-SHA256). A token changed by hand, made for another request or handed out by an earlier
// run of the endpoint does not open: InvalidNextToken, as CloudWatch answers.
class MetricDataTokens {
 public:
  MetricDataTokens();  // a random key
  explicit MetricDataTokens(std::string key);
  std::string seal(const MetricDataRequest& req, const MetricDataPosition& at) const;
  std::optional<MetricDataPosition> open(const MetricDataRequest& req,
                                         std::string_view token) const;

 private:
  std::string mac(const MetricDataRequest& req, std::string_view position) const;
  std::string key_;
};

// The request's parameters as the query API sent them (decoded), validated as CloudWatch does.
// Pure: no store, no clock; the fuzz target feeds it any bytes.
std::variant<MetricStatisticsRequest, awslocal::ApiError> parse_metric_statistics_request(
    const std::vector<sigv4::QueryParam>& params);
std::variant<MetricDataRequest, awslocal::ApiError> parse_metric_data_request(
    const std::vector<sigv4::QueryParam>& params);

// A datapoint's value for one of kStatistics.
double statistic_value(const Datapoint& point, std::string_view statistic);

class CloudWatchService : public awslocal::Service {
 public:
  explicit CloudWatchService(std::shared_ptr<const MetricStore> store);
  const awslocal::ServiceRoute& route() const override { return route_; }
  awslocal::ApiResult handle(const awslocal::ServiceCall& call) override;

  // Datapoints one GetMetricStatistics answer may hold (CloudWatch's limit).
  static constexpr std::int64_t kMaxDatapoints = 1440;

 private:
  awslocal::ApiResult get_metric_statistics(const awslocal::ServiceCall& call);
  awslocal::ApiResult get_metric_data(const awslocal::ServiceCall& call);

  awslocal::ServiceRoute route_;
  std::shared_ptr<const MetricStore> store_;
  MetricDataTokens tokens_;
};

}  // namespace writegate::observe
