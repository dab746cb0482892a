// observe metrics: the store's statistics and caps, its Prometheus text, the parser of the
// proxy's scrape, and CloudWatch's request validation (exact AWS error codes and messages).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <thread>

#include "observe/cloudwatch_service.h"
#include "observe/metric_store.h"
#include "observe/metrics_sampler.h"
#include "observe/prometheus_text.h"
#include "sigv4/sigv4.h"

namespace writegate::observe {
namespace {

using ::testing::HasSubstr;

constexpr EpochMs kT0 = 1796072400000;  // 2026-11-30T21:00:00Z
const MetricId kProxyConnections{
    "AWS/RDS", "DatabaseConnections", {{"ProxyName", "aurora-write-proxy"}}};

// ---- the store ----

TEST(MetricStore, StatisticsPerPeriodAlignedToStart) {
  MetricStore store;
  // Two samples in the first minute, one in the third, none in the second.
  store.record(kProxyConnections, kT0 + 5'000, 2, "Count");
  store.record(kProxyConnections, kT0 + 30'000, 6, "Count");
  store.record(kProxyConnections, kT0 + 125'000, 1, "Count");
  store.record(kProxyConnections, kT0 + 180'000, 9, "Count");  // at end: left out
  auto points = store.statistics(kProxyConnections, kT0, kT0 + 180'000, 60'000);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].start, kT0);
  EXPECT_EQ(points[0].sample_count, 2u);
  EXPECT_EQ(points[0].sum, 8);
  EXPECT_EQ(points[0].minimum, 2);
  EXPECT_EQ(points[0].maximum, 6);
  EXPECT_EQ(points[0].average(), 4);
  EXPECT_EQ(points[1].start, kT0 + 120'000);
  EXPECT_EQ(points[1].sample_count, 1u);
  EXPECT_EQ(statistic_value(points[1], "Sum"), 1);
  // One period over all of it.
  auto all = store.statistics(kProxyConnections, kT0, kT0 + 3'600'000, 3'600'000);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].sample_count, 4u);
  EXPECT_EQ(all[0].maximum, 9);
  EXPECT_EQ(store.unit(kProxyConnections), "Count");
}

TEST(MetricStore, DimensionsMatchAsASetInAnyOrder) {
  MetricStore store;
  const MetricId a{"AWS/RDS",
                   "DatabaseConnections",
                   {{"DbUser", "lambda_writer"}, {"DBClusterIdentifier", "c"}}};
  const MetricId b{"AWS/RDS",
                   "DatabaseConnections",
                   {{"DBClusterIdentifier", "c"}, {"DbUser", "lambda_writer"}}};
  const MetricId cluster_only{"AWS/RDS", "DatabaseConnections", {{"DBClusterIdentifier", "c"}}};
  store.record(a, kT0, 3);
  EXPECT_EQ(store.samples(b).size(), 1u);
  EXPECT_TRUE(store.samples(cluster_only).empty());  // a subset is another metric
}

TEST(MetricStore, OutOfOrderSamplesAreKeptInOrder) {
  MetricStore store;
  store.record(kProxyConnections, kT0 + 20, 2);
  store.record(kProxyConnections, kT0 + 10, 1);
  store.record(kProxyConnections, kT0 + 30, 3);
  auto s = store.samples(kProxyConnections);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].value, 1);
  EXPECT_EQ(s[1].value, 2);
  EXPECT_EQ(s[2].value, 3);
}

TEST(MetricStore, HistoryCapDropsTheOldestSamples) {
  MetricStore store({.max_series = 10, .max_samples_per_series = 100});
  for (int i = 0; i < 1000; ++i)
    store.record(kProxyConnections, kT0 + i, i);
  auto s = store.samples(kProxyConnections);
  ASSERT_EQ(s.size(), 100u);
  EXPECT_EQ(s.front().value, 900);
  EXPECT_EQ(s.back().value, 999);
}

TEST(MetricStore, SeriesCapRefusesNewSeriesAndCountsThem) {
  MetricStore store({.max_series = 3, .max_samples_per_series = 10});
  for (int i = 0; i < 5; ++i) {
    store.record({"AWS/RDS", "DatabaseConnections", {{"DbUser", "u" + std::to_string(i)}}}, kT0, 1);
  }
  EXPECT_EQ(store.series().size(), 3u);
  EXPECT_EQ(store.dropped_series(), 2u);
  // An existing series still takes samples.
  store.record({"AWS/RDS", "DatabaseConnections", {{"DbUser", "u0"}}}, kT0 + 1, 2);
  EXPECT_EQ(store.samples({"AWS/RDS", "DatabaseConnections", {{"DbUser", "u0"}}}).size(), 2u);
}

TEST(MetricStore, NonFiniteValuesAreNotStored) {
  MetricStore store;
  store.record(kProxyConnections, kT0, std::nan(""));
  store.record(kProxyConnections, kT0, HUGE_VAL);
  EXPECT_TRUE(store.samples(kProxyConnections).empty());
}

TEST(MetricStore, PrometheusTextHasTheNewestSampleOfEachSeries) {
  MetricStore store;
  store.record(kProxyConnections, kT0, 2, "Count");
  store.record(kProxyConnections, kT0 + 1000, 5, "Count");
  store.record({"AWS/Lambda", "Invocations", {{"FunctionName", "f\"x"}}}, kT0, 1, "Count");
  const std::string text = store.render_prometheus();
  EXPECT_THAT(text, HasSubstr("# TYPE aws_rds_DatabaseConnections gauge\n"));
  EXPECT_THAT(text, HasSubstr("aws_rds_DatabaseConnections{ProxyName=\"aurora-write-proxy\"} 5 " +
                              std::to_string(kT0 + 1000) + "\n"));
  EXPECT_THAT(text, HasSubstr("aws_lambda_Invocations{FunctionName=\"f\\\"x\"} 1 "));
  // What it renders parses back.
  auto parsed = parse_prometheus_text(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->size(), 2u);
}

TEST(MetricsSampler, TicksOnItsTimerAndStops) {
  auto store = std::make_shared<MetricStore>();
  int calls = 0;
  MetricsSampler sampler(store, std::chrono::milliseconds(100), {[&](EpochMs now, MetricStore& s) {
                           ++calls;
                           s.record(kProxyConnections, now, calls);
                         }});
  sampler.start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (sampler.ticks() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  sampler.stop();
  const auto ticks = sampler.ticks();
  EXPECT_GE(ticks, 3u);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  EXPECT_EQ(sampler.ticks(), ticks);  // stopped means stopped
  EXPECT_EQ(store->samples(kProxyConnections).size(), ticks);
}

// ---- the proxy's scrape ----

TEST(PrometheusText, ParsesTheProxysExposition) {
  auto samples = parse_prometheus_text(
      "# HELP ClientConnections Client connections open now.\n"
      "# TYPE ClientConnections gauge\n"
      "ClientConnections{ProxyName=\"aurora-write-proxy\"} 3\n"
      "QueryDatabaseResponseLatency_bucket{ProxyName=\"p\",le=\"+Inf\"} 7\n"
      "QueryDatabaseResponseLatency_sum{ProxyName=\"p\"} 12.5\n"
      "up 1 1700000000000\n"
      "esc{a=\"x\\\"y\\\\z\\n\"} -2e3\r\n");
  ASSERT_TRUE(samples.ok()) << samples.error().message();
  ASSERT_EQ(samples->size(), 5u);
  EXPECT_EQ((*samples)[0].name, "ClientConnections");
  EXPECT_EQ((*samples)[0].label("ProxyName"), "aurora-write-proxy");
  EXPECT_EQ((*samples)[0].value, 3);
  EXPECT_EQ((*samples)[1].label("le"), "+Inf");
  EXPECT_EQ((*samples)[2].value, 12.5);
  EXPECT_EQ((*samples)[3].value, 1);
  EXPECT_EQ((*samples)[4].label("a"), "x\"y\\z\n");
  EXPECT_EQ((*samples)[4].value, -2000);
}

TEST(PrometheusText, RefusesBadLinesNamingThem) {
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"ok 1\n{a=\"b\"} 3\n", "line 2 of the metrics: no metric name"},
      {"m{a=\"b} 1\n", "line 1 of the metrics: an unterminated label value"},
      {"m{a} 1\n", "line 1 of the metrics: label a has no =\"value\""},
      {"m{=\"x\"} 1\n", "line 1 of the metrics: a label has no name"},
      {"m 1x\n", "line 1 of the metrics: the value is not a number"},
      {"m\n", "line 1 of the metrics: the value is not a number"},
  };
  for (const auto& c : cases) {
    auto r = parse_prometheus_text(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().message(), c.error) << c.text;
  }
  EXPECT_FALSE(parse_prometheus_text(std::string(2 * 1024 * 1024, '#')).ok());
  std::string many;
  for (int i = 0; i < 10; ++i)
    many += "m 1\n";
  EXPECT_FALSE(parse_prometheus_text(many, {.max_samples = 5}).ok());
}

// ---- CloudWatch requests ----

std::vector<sigv4::QueryParam> form(const std::string& text) {
  auto params = sigv4::parse_query(text);
  EXPECT_TRUE(params.ok()) << text;
  return params.ok() ? *params : std::vector<sigv4::QueryParam>{};
}

const std::string kStats =
    "Namespace=AWS%2FRDS&MetricName=DatabaseConnections&Dimensions.member.1.Name=ProxyName&"
    "Dimensions.member.1.Value=aurora-write-proxy&StartTime=2026-11-30T21%3A00%3A00Z&"
    "EndTime=2026-11-30T22%3A00%3A00Z";

TEST(CloudWatchRequest, GetMetricStatisticsAsTheCliSendsIt) {
  auto parsed = parse_metric_statistics_request(
      form(kStats + "&Period=60&Statistics.member.1=Average&Statistics.member.2=Maximum"));
  ASSERT_TRUE(std::holds_alternative<MetricStatisticsRequest>(parsed))
      << std::get<awslocal::ApiError>(parsed).message;
  const auto& r = std::get<MetricStatisticsRequest>(parsed);
  EXPECT_EQ(r.metric, kProxyConnections);
  EXPECT_EQ(r.start, kT0);
  EXPECT_EQ(r.end, kT0 + 3'600'000);
  EXPECT_EQ(r.period_seconds, 60);
  EXPECT_EQ(r.statistics, (std::vector<std::string>{"Average", "Maximum"}));
}

TEST(CloudWatchRequest, GetMetricStatisticsErrorsAreAwss) {
  struct Case {
    std::string params;
    const char* code;
    const char* message;
  } cases[] = {
      {"MetricName=X&StartTime=2026-11-30T21:00:00Z", "MissingParameter",
       "The parameter Namespace is required."},
      {kStats + "&Statistics.member.1=Sum", "MissingParameter",
       "The parameter Period is required."},
      {kStats + "&Period=61&Statistics.member.1=Sum", "InvalidParameterValue",
       "The parameter Period must be 1, 5, 10, 30, or a multiple of 60."},
      {kStats + "&Period=60&Statistics.member.1=p99", "InvalidParameterValue",
       "The parameter Statistics.member.1 must be a value in the set [ Maximum, Sum, SampleCount, "
       "Average, Minimum ]."},
      {kStats + "&Period=60", "InvalidParameterCombination",
       "Must specify either Statistics or ExtendedStatistics, but not both."},
      {kStats + "&Period=1&Statistics.member.1=Sum", "InvalidParameterCombination",
       "You have requested up to 3600 datapoints, which exceeds the limit of 1,440. You may "
       "reduce the datapoints requested by increasing Period, or decreasing the time range."},
      {"Namespace=A&MetricName=B&StartTime=2026-11-30T22:00:00Z&EndTime=2026-11-30T21:00:00Z&"
       "Period=60&Statistics.member.1=Sum",
       "InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime."},
      {"Namespace=A&MetricName=B&StartTime=yesterday&EndTime=2026-11-30T21:00:00Z",
       "InvalidParameterValue",
       "The parameter StartTime must be a timestamp (ISO 8601), not 'yesterday'."},
      {"Namespace=A&MetricName=B&Dimensions.member.1.Name=D&Dimensions.member.1.Value=1&"
       "Dimensions.member.2.Name=D&Dimensions.member.2.Value=2",
       "InvalidParameterCombination", "No metric may have more than one dimension named D."},
      {"Namespace=A&MetricName=B&Dimensions.member.1.Name=D", "MissingParameter",
       "The parameter Dimensions.member.1.Value is required."},
  };
  for (const auto& c : cases) {
    auto parsed = parse_metric_statistics_request(form(c.params));
    ASSERT_TRUE(std::holds_alternative<awslocal::ApiError>(parsed)) << c.params;
    const auto& e = std::get<awslocal::ApiError>(parsed);
    EXPECT_EQ(e.code, c.code) << c.params;
    EXPECT_EQ(e.message, c.message) << c.params;
    EXPECT_EQ(e.http_status, 400);
  }
}

TEST(CloudWatchRequest, GetMetricDataQueriesAndErrors) {
  const std::string q =
      "MetricDataQueries.member.1.Id=m1&MetricDataQueries.member.1.MetricStat.Metric.Namespace="
      "AWS%2FLambda&MetricDataQueries.member.1.MetricStat.Metric.MetricName=Invocations&"
      "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name=FunctionName&"
      "MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value=f&"
      "MetricDataQueries.member.1.MetricStat.Period=300&MetricDataQueries.member.1.MetricStat.Stat="
      "Sum&StartTime=2026-11-30T21%3A00%3A00Z&EndTime=2026-11-30T22%3A00%3A00Z";
  auto parsed = parse_metric_data_request(form(q + "&ScanBy=TimestampAscending"));
  ASSERT_TRUE(std::holds_alternative<MetricDataRequest>(parsed))
      << std::get<awslocal::ApiError>(parsed).message;
  const auto& r = std::get<MetricDataRequest>(parsed);
  ASSERT_EQ(r.queries.size(), 1u);
  EXPECT_EQ(r.queries[0].id, "m1");
  EXPECT_EQ(r.queries[0].metric.ns, "AWS/Lambda");
  EXPECT_EQ(r.queries[0].metric.dimensions[0].value, "f");
  EXPECT_EQ(r.queries[0].period_seconds, 300);
  EXPECT_EQ(r.queries[0].stat, "Sum");
  EXPECT_TRUE(r.ascending);

  auto error_of = [](const std::string& params) {
    auto p = parse_metric_data_request(form(params));
    EXPECT_TRUE(std::holds_alternative<awslocal::ApiError>(p)) << params;
    return std::holds_alternative<awslocal::ApiError>(p) ? std::get<awslocal::ApiError>(p)
                                                         : awslocal::ApiError{};
  };
  auto bad_id = error_of(std::regex_replace(q, std::regex("Id=m1"), "Id=M-1"));
  EXPECT_EQ(bad_id.code, "ValidationError");
  EXPECT_EQ(bad_id.message,
            "The value M-1 for parameter MetricDataQueries.member.1.Id is not matching the "
            "expected pattern ^[a-z][a-zA-Z0-9_]*$.");
  EXPECT_EQ(error_of("StartTime=2026-11-30T21%3A00%3A00Z").code, "MissingParameter");
  auto p99 = error_of(std::regex_replace(q, std::regex("Stat=Sum"), "Stat=p99"));
  EXPECT_EQ(p99.code, "InvalidParameterValue");
  EXPECT_THAT(p99.message, HasSubstr("percentiles are not kept"));
  EXPECT_EQ(error_of(q + "&ScanBy=Sideways").code, "InvalidParameterValue");
  EXPECT_EQ(error_of("MetricDataQueries.member.1.Id=e1&MetricDataQueries.member.1.Expression=SUM"
                     "(METRICS())")
                .code,
            "ValidationError");
}

// ---- GetMetricData pages ----

// Two queries of 7 and 5 datapoints read in pages of 3: every datapoint comes once, in scan
// order; a page that cut a query says PartialData and gives a token that goes on there.
TEST(GetMetricDataPages, EveryDatapointOnceAcrossPagesInEitherOrder) {
  MetricStore store;
  const MetricId lambda{"AWS/Lambda", "Invocations", {{"FunctionName", "f"}}};
  for (int i = 0; i < 7; ++i)
    store.record(kProxyConnections, kT0 + i * 60'000 + 5, i, "Count");
  for (int i = 0; i < 5; ++i)
    store.record(lambda, kT0 + i * 60'000 + 7, 10 + i, "Count");
  MetricDataRequest req;
  req.start = kT0;
  req.end = kT0 + 3'600'000;
  req.max_datapoints = 3;
  req.queries = {{"a", "", true, kProxyConnections, 60, "Maximum", std::nullopt},
                 {"hidden", "", false, lambda, 60, "Sum", std::nullopt},
                 {"b", "calls", true, lambda, 60, "Sum", std::nullopt}};
  const MetricDataTokens tokens("test key");
  for (const bool ascending : {false, true}) {
    req.ascending = ascending;
    std::map<std::string, std::vector<double>> values;
    std::map<std::string, std::vector<EpochMs>> times;
    MetricDataPosition at;
    int pages = 0;
    for (; pages < 20; ++pages) {
      const MetricDataPage page = metric_data_page(store, req, at);
      ASSERT_EQ(page.results.size(), 2u);  // ReturnData false is not listed
      std::size_t in_page = 0;
      for (const auto& r : page.results) {
        values[r.id].insert(values[r.id].end(), r.values.begin(), r.values.end());
        times[r.id].insert(times[r.id].end(), r.timestamps.begin(), r.timestamps.end());
        in_page += r.values.size();
        // "a" has datapoints left while the token points into it; "b", the last query, while
        // there is a token at all.
        const bool left = page.next && (r.id == "b" || page.next->query == 0);
        EXPECT_EQ(r.partial, left) << r.id << " page " << pages;
      }
      EXPECT_LE(in_page, 3u);
      EXPECT_EQ(page.results[1].label, "calls");
      if (!page.next) break;
      // The token carries the position, and only for this request.
      const std::string token = tokens.seal(req, *page.next);
      auto opened = tokens.open(req, token);
      ASSERT_TRUE(opened.has_value()) << token;
      EXPECT_EQ(*opened, *page.next);
      at = *opened;
    }
    // 3 of "a", 3 of "a", 1 of "a" and 2 of "b", 3 of "b": the fourth page has no token.
    EXPECT_EQ(pages + 1, 4);
    std::vector<double> a = {0, 1, 2, 3, 4, 5, 6};
    std::vector<double> b = {10, 11, 12, 13, 14};
    if (!ascending) {
      std::reverse(a.begin(), a.end());
      std::reverse(b.begin(), b.end());
    }
    EXPECT_EQ(values["a"], a) << (ascending ? "ascending" : "descending");
    EXPECT_EQ(values["b"], b) << (ascending ? "ascending" : "descending");
    EXPECT_EQ(times["a"].size(), 7u);
    EXPECT_TRUE(std::is_sorted(times["a"].begin(), times["a"].end(),
                               [&](EpochMs x, EpochMs y) { return ascending ? x < y : x > y; }));
  }
  // All in one page: Complete, no token.
  req.max_datapoints = 100;
  const MetricDataPage whole = metric_data_page(store, req, {});
  EXPECT_FALSE(whole.next.has_value());
  EXPECT_FALSE(whole.results[0].partial);
  EXPECT_EQ(whole.results[0].values.size(), 7u);
}

TEST(GetMetricDataPages, ForgedOrStaleTokensDoNotOpen) {
  MetricDataRequest req;
  req.start = kT0;
  req.end = kT0 + 3'600'000;
  req.queries = {{"a", "", true, kProxyConnections, 60, "Maximum", std::nullopt},
                 {"b", "", true, kProxyConnections, 60, "Sum", std::nullopt}};
  const MetricDataTokens tokens("test key");
  const std::string token = tokens.seal(req, {1, kT0 + 120'000});
  ASSERT_TRUE(tokens.open(req, token).has_value());
  // Changed by hand: another position with the old seal.
  std::string forged = token;
  forged[0] = '0';
  EXPECT_FALSE(tokens.open(req, forged).has_value());
  EXPECT_FALSE(tokens.open(req, "0.-.00000000000000000000000000000000").has_value());
  EXPECT_FALSE(tokens.open(req, "").has_value());
  EXPECT_FALSE(tokens.open(req, "garbage").has_value());
  // Another request (another period, another end), or another run of the endpoint (its key).
  MetricDataRequest other = req;
  other.queries[1].period_seconds = 300;
  EXPECT_FALSE(tokens.open(other, token).has_value());
  other = req;
  other.end += 1000;
  EXPECT_FALSE(tokens.open(other, token).has_value());
  EXPECT_FALSE(MetricDataTokens("another key").open(req, token).has_value());
  EXPECT_FALSE(MetricDataTokens().open(req, token).has_value());
  // MaxDatapoints is the pager's to change.
  other = req;
  other.max_datapoints = 7;
  EXPECT_TRUE(tokens.open(other, token).has_value());
  // The request parser keeps the token for the service to open.
  const std::string q =
      "MetricDataQueries.member.1.Id=m1&MetricDataQueries.member.1.MetricStat.Metric.Namespace=N&"
      "MetricDataQueries.member.1.MetricStat.Metric.MetricName=M&"
      "MetricDataQueries.member.1.MetricStat.Period=60&MetricDataQueries.member.1.MetricStat.Stat="
      "Sum&StartTime=2026-11-30T21%3A00%3A00Z&EndTime=2026-11-30T22%3A00%3A00Z&NextToken=abc";
  auto parsed = parse_metric_data_request(form(q));
  ASSERT_TRUE(std::holds_alternative<MetricDataRequest>(parsed));
  EXPECT_EQ(std::get<MetricDataRequest>(parsed).next_token, "abc");
}

}  // namespace
}  // namespace writegate::observe
