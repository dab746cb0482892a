// The operator's dashboard on the local AWS endpoint: one page with live charts of the stack's
// metrics (client vs database connections, pinned sessions, borrow latency, query latency,
// invocations and errors) and the last refused logins from the proxy's log group.
//
// Four unsigned GETs (awslocal::Router::add_public_get), no external asset:
//   /dashboard            the page (HTML)
//   /dashboard/app.js     its script: fetches /dashboard/data every 5 s and draws SVG charts
//   /dashboard/app.css    its style
//   /dashboard/data       JSON: the charts' series over the last 15 minutes (10 s buckets)
//                         and the refused logins
// Every answer carries Content-Security-Policy "default-src 'self'" (so the page can load
// nothing from elsewhere, and no inline script runs) and X-Content-Type-Options: nosniff.
//
//   DashboardNames names{.proxy = "aurora-write-proxy", .cluster = "my-aurora-cluster",
//                        .function = "aurora-writer-lambda"};
//   std::string json = dashboard_data(store, names, epoch_ms_now(), refused_logins(groups, 10));
#pragma once

#include <string>
#include <vector>

#include "awslocal/api.h"
#include "observe/logs.h"
#include "observe/metric_store.h"

namespace writegate::observe {

struct DashboardNames {
  std::string proxy;
  std::string cluster;
  std::string function;
};

struct RefusedLogin {
  EpochMs time = 0;
  std::string message;  // the proxy's words ("... refused: IAM authentication failed ...")
};

inline constexpr EpochMs kDashboardWindowMs = 15 * 60 * 1000;
inline constexpr EpochMs kDashboardBucketMs = 10 * 1000;

// The page's parts, with their headers (Content-Type, Content-Security-Policy, ...).
awslocal::Response dashboard_page();
awslocal::Response dashboard_script();
awslocal::Response dashboard_style();
// /dashboard/data's answer: `json` with the same headers.
awslocal::Response dashboard_json(std::string json);

// The charts' data at `now` as JSON: {"now":ms,"bucket_ms":10000,"charts":[{"title","unit",
// "series":[{"label","points":[[ms,value],...]}]}],"refused":[{"time":ms,"message"}]}.
std::string dashboard_data(const MetricStore& store, const DashboardNames& names, EpochMs now,
                           const std::vector<RefusedLogin>& refused);

// The last `count` refused logins in the proxy's log group (its newest 1 MiB), newest first.
std::vector<RefusedLogin> refused_logins(const LogGroupSource& proxy_group, std::size_t count);

}  // namespace writegate::observe
