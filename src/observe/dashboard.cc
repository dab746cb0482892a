#include "observe/dashboard.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace writegate::observe {

namespace {

using nlohmann::json;

awslocal::Response asset(std::string content_type, std::string body) {
  awslocal::Response r;
  r.status = 200;
  r.headers.push_back({"Content-Type", std::move(content_type)});
  r.headers.push_back({"Content-Security-Policy", "default-src 'self'"});
  r.headers.push_back({"X-Content-Type-Options", "nosniff"});
  r.headers.push_back({"Cache-Control", "no-store"});
  r.body = std::move(body);
  return r;
}

constexpr const char* kPage = R"(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>writegate: the stack's metrics</title>
<link rel="stylesheet" href="/dashboard/app.css">
<script src="/dashboard/app.js" defer></script>
</head>
<body>
<header><h1>writegate</h1><span id="status">loading...</span></header>
<main id="charts"></main>
<section><h2>Last refused logins (proxy log group)</h2><table id="refused"><thead><tr><th>time (UTC)</th><th>message</th></tr></thead><tbody></tbody></table></section>
</body>
</html>
)";

constexpr const char* kStyle =
    R"(body { font-family: sans-serif; margin: 0; background: #f6f7f9; color: #1d2530; }
header { display: flex; gap: 1em; align-items: baseline; padding: 0.5em 1em; background: #232f3e; color: #fff; }
header h1 { font-size: 1.2em; margin: 0; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px; padding: 12px; }
.chart { background: #fff; border: 1px solid #d5dbe1; border-radius: 4px; padding: 8px; }
.chart h2, section h2 { font-size: 0.95em; margin: 0 0 4px 0; }
.legend { font-size: 0.8em; display: flex; gap: 1em; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; opacity: 0.5; }
section { padding: 0 12px 12px 12px; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 0.8em; }
td, th { border: 1px solid #d5dbe1; padding: 2px 6px; text-align: left; }
)";

constexpr const char* kScript = R"('use strict';
// Draws the charts of /dashboard/data as SVG, every 5 seconds. No external asset.
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e'];
const NS = 'http://www.w3.org/2000/svg';
const W = 400, H = 160, PAD = 36;

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

function chart(spec, now, windowMs, bucketMs) {
  const box = document.createElement('div');
  box.className = 'chart';
  const title = document.createElement('h2');
  title.textContent = spec.title + (spec.unit ? ' (' + spec.unit + ')' : '');
  box.appendChild(title);
  const svg = el('svg', {width: '100%', height: H, viewBox: '0 0 ' + W + ' ' + H,
                        preserveAspectRatio: 'none', role: 'img'}, box);
  el('rect', {x: 0, y: 0, width: W, height: H, fill: '#ffffff'}, svg);
  let max = 0, first = now;
  for (const s of spec.series) {
    for (const p of s.points) {
      max = Math.max(max, p[1]);
      first = Math.min(first, p[0]);
    }
  }
  if (max <= 0) max = 1;
  // The window, or less when the data is younger (a fresh stack fills the chart): 1 min at least.
  const span = Math.max(60000, Math.min(windowMs, now - first + bucketMs));
  const x = t => PAD + (W - PAD - 6) * (t - (now - span)) / span;
  const y = v => H - 18 - (H - 28) * v / max;
  el('line', {x1: PAD, y1: y(0), x2: W - 6, y2: y(0), stroke: '#888'}, svg);
  el('line', {x1: PAD, y1: y(0), x2: PAD, y2: y(max), stroke: '#888'}, svg);
  const top = el('text', {x: 2, y: y(max) + 4, 'font-size': 10, fill: '#333'}, svg);
  top.textContent = Number(max.toPrecision(3)).toString();
  const zero = el('text', {x: 2, y: y(0) + 4, 'font-size': 10, fill: '#333'}, svg);
  zero.textContent = '0';
  const legend = document.createElement('div');
  legend.className = 'legend';
  spec.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    if (s.points.length > 0) {
      const d = s.points.map((p, j) => (j ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1)).join(' ');
      el('path', {d: d, fill: 'none', stroke: color, 'stroke-width': 2}, svg);
      for (const p of s.points) el('circle', {cx: x(p[0]), cy: y(p[1]), r: 2.5, fill: color}, svg);
    }
    const item = document.createElement('span');
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = color;
    item.appendChild(sw);
    const last = s.points.length ? s.points[s.points.length - 1][1] : null;
    item.appendChild(document.createTextNode(s.label + (last === null ? ': no data' : ': ' + Number(last.toPrecision(4)))));
    legend.appendChild(item);
  });
  box.appendChild(legend);
  return box;
}

async function refresh() {
  const status = document.getElementById('status');
  try {
    const answer = await fetch('/dashboard/data', {cache: 'no-store'});
    const data = await answer.json();
    const charts = document.getElementById('charts');
    charts.replaceChildren(...data.charts.map(c => chart(c, data.now, data.window_ms, data.bucket_ms)));
    const body = document.querySelector('#refused tbody');
    body.replaceChildren(...data.refused.map(r => {
      const tr = document.createElement('tr');
      for (const text of [new Date(r.time).toISOString().replace('T', ' ').replace('Z', ''), r.message]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.appendChild(td);
      }
      return tr;
    }));
    status.textContent = 'updated ' + new Date(data.now).toISOString();
    document.body.dataset.loaded = 'true';
  } catch (e) {
    status.textContent = 'cannot load /dashboard/data: ' + e;
  }
}

refresh();
setInterval(refresh, 5000);
)";

struct SeriesSpec {
  std::string label;
  MetricId id;
  std::string stat;  // "Sum" or "Average" or "Maximum" per bucket
};

struct ChartSpec {
  std::string title;
  std::string unit;
  std::vector<SeriesSpec> series;
};

}  // namespace

awslocal::Response dashboard_page() {
  return asset("text/html; charset=utf-8", kPage);
}
awslocal::Response dashboard_script() {
  return asset("text/javascript; charset=utf-8", kScript);
}
awslocal::Response dashboard_style() {
  return asset("text/css; charset=utf-8", kStyle);
}
awslocal::Response dashboard_json(std::string json) {
  return asset("application/json", std::move(json));
}

std::string dashboard_data(const MetricStore& store, const DashboardNames& names, EpochMs now,
                           const std::vector<RefusedLogin>& refused) {
  const std::vector<Dimension> proxy = {{"ProxyName", names.proxy}};
  const std::vector<Dimension> cluster = {{"DBClusterIdentifier", names.cluster}};
  const std::vector<Dimension> function = {{"FunctionName", names.function}};
  const std::vector<ChartSpec> charts = {
      {"Client vs database connections",
       "",
       {{"client", {"AWS/RDS", "ClientConnections", proxy}, "Maximum"},
        {"database (proxy)", {"AWS/RDS", "DatabaseConnections", proxy}, "Maximum"},
        {"database (cluster)", {"AWS/RDS", "DatabaseConnections", cluster}, "Maximum"}}},
      {"Pinned sessions",
       "",
       {{"pinned", {"AWS/RDS", "DatabaseConnectionsCurrentlySessionPinned", proxy}, "Maximum"}}},
      {"Borrow latency",
       "µs",
       {{"borrow", {"AWS/RDS", "DatabaseConnectionsBorrowLatency", proxy}, "Average"}}},
      {"Query latency",
       "µs",
       {{"query (proxy)", {"AWS/RDS", "QueryDatabaseResponseLatency", proxy}, "Average"}}},
      {"DML and commit latency",
       "ms",
       {{"DML", {"AWS/RDS", "DMLLatency", cluster}, "Average"},
        {"commit (WAL flush)", {"AWS/RDS", "CommitLatency", cluster}, "Average"}}},
      {"Invocations and errors",
       "per 10 s",
       {{"invocations", {"AWS/Lambda", "Invocations", function}, "Sum"},
        {"errors", {"AWS/Lambda", "Errors", function}, "Sum"}}},
  };
  // Buckets aligned to the clock, so a point stays where it is between refreshes.
  const EpochMs start = (now - kDashboardWindowMs) / kDashboardBucketMs * kDashboardBucketMs;
  json out = {{"now", now}, {"window_ms", kDashboardWindowMs}, {"bucket_ms", kDashboardBucketMs}};
  json chart_list = json::array();
  for (const auto& c : charts) {
    json series = json::array();
    for (const auto& s : c.series) {
      json points = json::array();
      for (const auto& d : store.statistics(s.id, start, now + 1, kDashboardBucketMs)) {
        const double v = s.stat == "Sum" ? d.sum : s.stat == "Maximum" ? d.maximum : d.average();
        points.push_back({d.start + kDashboardBucketMs / 2, v});
      }
      series.push_back({{"label", s.label}, {"points", points}});
    }
    chart_list.push_back({{"title", c.title}, {"unit", c.unit}, {"series", series}});
  }
  out["charts"] = chart_list;
  json refused_list = json::array();
  for (const auto& r : refused)
    refused_list.push_back({{"time", r.time}, {"message", r.message}});
  out["refused"] = refused_list;
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<RefusedLogin> refused_logins(const LogGroupSource& proxy_group, std::size_t count) {
  constexpr uint64_t kTail = 1024 * 1024;
  std::vector<RefusedLogin> out;
  for (const auto& stream : proxy_group.streams) {
    const StreamFacts facts = stream_facts(stream);
    if (!facts.exists) continue;
    // The stream's newest bytes (offsets count across its rotated files).
    const uint64_t from = facts.end > kTail ? facts.end - kTail : 0;
    // One read stops at the end of a file: the tail may begin in a rotated one.
    ReadPosition at{from, std::nullopt};
    bool first = true;
    for (int files = 0; files < 8; ++files) {
      auto chunk = read_events(stream, at, kTail + 64 * 1024);
      if (!chunk) break;
      for (const LogEvent& e : chunk->events) {
        const bool cut = first && from > 0;  // probably the end of a line cut by the offset
        first = false;
        if (cut || e.message.find("refused") == std::string::npos) continue;
        const json line = json::parse(e.message, nullptr, false);
        std::string message = e.message.substr(0, 512);
        if (line.is_object() && line.contains("message") && line["message"].is_string()) {
          message = line["message"].get<std::string>().substr(0, 512);
        }
        out.push_back({e.timestamp, std::move(message)});
      }
      if (chunk->end_of_file) break;
      at = chunk->next;
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const RefusedLogin& a, const RefusedLogin& b) { return a.time > b.time; });
  if (out.size() > count) out.resize(count);
  return out;
}

}  // namespace writegate::observe
