// CloudWatch Logs on the local AWS endpoint (JSON 1.1, X-Amz-Target: Logs_20140328.<Operation>,
// signing name `logs`), over the stack's log files (observe/logs.h), so the aws CLI's
// `aws logs describe-log-groups | describe-log-streams | filter-log-events | start-query |
// get-query-results | stop-query` work with --endpoint-url.
//
// Every request is SigV4-verified by the router and then decided by the caller's policies:
//   DescribeLogGroups                 logs:DescribeLogGroups  arn:aws:logs:R:A:log-group:*
//   DescribeLogStreams                logs:DescribeLogStreams arn:aws:logs:R:A:log-group:NAME:*
//   FilterLogEvents                   logs:FilterLogEvents    arn:aws:logs:R:A:log-group:NAME:*
//   StartQuery (each group)           logs:StartQuery         arn:aws:logs:R:A:log-group:NAME:*
//   GetQueryResults, StopQuery        logs:GetQueryResults / logs:StopQuery on "*" (as on AWS,
//                                     these have no resource); only the query's own account
//
// StartQuery runs the query at once (it is Complete when GetQueryResults first asks); a query
// that does not compile is MalformedQueryException with AWS's queryCompileError. A query reads
// at most 1 GiB of log lines; the last 100 queries are kept for an hour.
//
//   router.add(std::make_shared<LogsService>([] { return stack_log_groups(layout); }));
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "awslocal/router.h"
#include "observe/insights.h"
#include "observe/logs.h"

namespace writegate::observe {

// The groups as they are now (called per request: the stack's files may come and go).
using LogGroupProvider = std::function<std::vector<LogGroupSource>()>;

class LogsService : public awslocal::Service {
 public:
  explicit LogsService(LogGroupProvider groups);
  const awslocal::ServiceRoute& route() const override { return route_; }
  awslocal::ApiResult handle(const awslocal::ServiceCall& call) override;

  // Bytes one FilterLogEvents request reads at most (then it answers with a nextToken).
  static constexpr std::size_t kFilterReadBytes = 8 * 1024 * 1024;
  static constexpr uint64_t kQueryReadBytes = 1024ull * 1024 * 1024;

 private:
  struct StoredQuery {
    std::string account;
    std::string query_string;
    std::chrono::system_clock::time_point started;
    QueryOutput output;
  };
  awslocal::ApiResult start_query(const awslocal::ServiceCall& call, const std::string& body);
  awslocal::ApiResult query_result(const awslocal::ServiceCall& call, const std::string& body,
                                   bool stop);

  awslocal::ServiceRoute route_;
  LogGroupProvider groups_;
  std::mutex mutex_;
  std::map<std::string, StoredQuery> queries_;  // by query id
};

}  // namespace writegate::observe
