// `writegate logs groups | tail | query`: the running stack's logs as CloudWatch Logs groups
// (observe/logs.h), read straight from the state folder's files, for people without the aws CLI.
// The same groups are served by the local AWS endpoint (`aws logs ...`, observe/logs_service.h).
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "command.h"
#include "observe/filter_pattern.h"
#include "observe/insights.h"
#include "observe/logs.h"
#include "stack/stack.h"
#include "stack/state.h"

namespace writegate::cli {

observe::StackLogLayout stack_log_layout(const std::string& state_dir, const spec::Spec& spec) {
  observe::StackLogLayout layout;
  layout.function_name = spec.function.name;
  layout.proxy_name = spec.proxy.name;
  layout.cluster_name = spec.database.cluster;
  layout.function_log_dir = state_dir + "/logs/function";
  layout.proxy_log = state_dir + "/logs/proxy.log";
  std::string aurora_dir = state_dir + "/aurora";
  if (auto state = stack::StackState::load(state_dir); state) {
    if (!state->aurora_dir.empty()) aurora_dir = state->aurora_dir;
    layout.proxy_stream = state->proxy_resource_id;
  }
  layout.postgres_log_dir = stack::postgres_log_dir(aurora_dir);  // PostgreSQL's own rotation
  return layout;
}

}  // namespace writegate::cli

namespace {

using writegate::Error;
using writegate::Result;
using writegate::cli::fail;
using writegate::cli::finish;
using writegate::cli::Globals;
namespace observe = writegate::observe;

std::vector<observe::LogGroupSource> groups_of(const Globals& globals) {
  auto spec = writegate::cli::effective_spec(globals);
  if (!spec) fail(spec.error());
  return observe::stack_log_groups(writegate::cli::stack_log_layout(globals.state_dir, *spec));
}

// A group by its full name, or by a word only one group's name contains ("proxy", "lambda",
// "postgresql").
const observe::LogGroupSource& pick_group(const std::vector<observe::LogGroupSource>& groups,
                                          const std::string& name) {
  if (const auto* exact = observe::find_group(groups, name)) return *exact;
  const observe::LogGroupSource* found = nullptr;
  std::string names;
  for (const auto& g : groups) {
    names += "\n  " + g.name;
    if (g.name.find(name) == std::string::npos) continue;
    if (found != nullptr)
      fail(Error::invalid_argument("'" + name + "' names more than one group:" + names));
    found = &g;
  }
  if (found == nullptr)
    fail(Error::not_found("no log group '" + name + "'; the groups are:" + names));
  return *found;
}

// "10m", "1h", "30s", "2d", "1w" -> milliseconds.
Result<observe::EpochMillis> parse_since(const std::string& text) {
  std::size_t i = 0;
  long long n = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && n < 100000000)
    n = n * 10 + (text[i++] - '0');
  const std::string unit = text.substr(i);
  long long scale = 0;
  if (unit == "s") scale = 1000;
  if (unit == "m") scale = 60000;
  if (unit == "h") scale = 3600000;
  if (unit == "d") scale = 86400000;
  if (unit == "w") scale = 604800000;
  if (i == 0 || scale == 0) {
    return Error::invalid_argument("--since '" + text + "' is not a number with s, m, h, d or w");
  }
  return n * scale;
}

observe::EpochMillis now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int run_groups(const Globals& globals, bool as_json) {
  const auto groups = groups_of(globals);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& g : groups) {
    // The group once, then each of its streams with its file.
    if (!as_json) std::cout << g.name << "\n";
    for (const auto& s : g.streams) {
      const auto facts = observe::stream_facts(s);
      if (as_json) {
        out.push_back({{"logGroupName", g.name},
                       {"logStreamName", s.name},
                       {"file", s.path},
                       {"storedBytes", facts.size}});
      } else {
        std::cout << "  stream " << s.name << "\n    file " << s.path << " ("
                  << (facts.exists ? std::to_string(facts.size) + " bytes" : "missing") << ")\n";
      }
    }
  }
  if (as_json) std::cout << out.dump(2) << "\n";
  return 0;
}

struct TailArgs {
  std::string group;
  std::string since = "10m";
  std::string filter;
  bool follow = false;
};

int run_tail(const Globals& globals, const TailArgs& args) {
  const std::string group_name = pick_group(groups_of(globals), args.group).name;
  auto since = parse_since(args.since);
  if (!since) fail(since.error());
  auto pattern = observe::FilterPattern::parse(args.filter);
  if (!pattern) fail(pattern.error());
  const observe::EpochMillis from = now_ms() - *since;
  // By stream name: --follow lists the group again each second, so the stream of an execution
  // environment started since is followed too.
  std::map<std::string, observe::ReadPosition> positions;
  while (true) {
    const auto groups = groups_of(globals);
    const observe::LogGroupSource* group = observe::find_group(groups, group_name);
    for (const auto& s : group ? group->streams : std::vector<observe::LogStreamSource>{}) {
      observe::ReadPosition& position = positions[s.name];
      while (true) {
        auto chunk = observe::read_events(s, position);
        if (!chunk) fail(chunk.error());
        for (const auto& e : chunk->events) {
          if (e.timestamp < from || !pattern->matches(e.message)) continue;
          std::cout << observe::format_tail_time(e.timestamp) << " " << s.name << " " << e.message
                    << "\n";
        }
        position = chunk->next;
        if (chunk->end_of_file) break;
      }
    }
    std::cout << std::flush;
    if (!args.follow) return 0;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

struct QueryArgs {
  std::string query;
  std::vector<std::string> groups;
  std::string since = "1h";
  bool json = false;
  int limit = 1000;
};

int run_query(const Globals& globals, const QueryArgs& args) {
  const auto all = groups_of(globals);
  std::vector<const observe::LogGroupSource*> chosen;
  if (args.groups.empty()) {
    for (const auto& g : all)
      chosen.push_back(&g);
  }
  for (const auto& name : args.groups)
    chosen.push_back(&pick_group(all, name));
  auto since = parse_since(args.since);
  if (!since) fail(since.error());
  auto parsed = observe::InsightsQuery::parse(args.query);
  if (auto* e = std::get_if<observe::QueryParseError>(&parsed)) {
    fail(Error::invalid_argument("MalformedQueryException: " + e->message));
  }
  const auto& query = std::get<observe::InsightsQuery>(parsed);
  observe::QueryRun run(query);
  const observe::EpochMillis from = now_ms() - *since;
  const std::string account = [&] {
    auto state = writegate::stack::StackState::load(globals.state_dir);
    return state && !state->account_id.empty() ? state->account_id : std::string("000000000000");
  }();
  for (const auto* g : chosen) {
    const std::string log = account + ":" + g->name;
    for (const auto& s : g->streams) {
      observe::ReadPosition position;
      while (true) {
        auto chunk = observe::read_events(s, position);
        if (!chunk) fail(chunk.error());
        for (const auto& e : chunk->events)
          if (e.timestamp >= from) run.add({e.timestamp, e.message, s.name, log});
        position = chunk->next;
        if (chunk->end_of_file) break;
      }
    }
  }
  const observe::QueryOutput out = run.finish(static_cast<std::size_t>(std::max(1, args.limit)));
  if (args.json) {
    nlohmann::ordered_json results = nlohmann::ordered_json::array();
    for (const auto& row : out.rows) {
      nlohmann::ordered_json cells = nlohmann::ordered_json::array();
      for (const auto& [field, value] : row)
        cells.push_back({{"field", field}, {"value", value}});
      results.push_back(cells);
    }
    nlohmann::ordered_json doc{{"results", results},
                               {"statistics",
                                {{"recordsMatched", out.statistics.records_matched},
                                 {"recordsScanned", out.statistics.records_scanned},
                                 {"bytesScanned", out.statistics.bytes_scanned}}},
                               {"status", "Complete"}};
    std::cout << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  for (const auto& row : out.rows) {
    std::string line;
    for (const auto& [field, value] : row)
      line += (line.empty() ? "" : "  |  ") + field + "=" + value;
    std::cout << line << "\n";
  }
  std::cerr << out.rows.size() << " rows; " << out.statistics.records_matched
            << " records matched, " << out.statistics.records_scanned << " scanned ("
            << out.statistics.bytes_scanned << " bytes)\n";
  return 0;
}

const bool kRegistered = writegate::cli::register_command([](CLI::App& root, Globals& globals) {
  auto* logs = root.add_subcommand(
      "logs", "The running stack's logs as CloudWatch Logs groups: groups, tail, query");
  logs->require_subcommand(1);

  static bool groups_json = false;
  auto* groups = logs->add_subcommand("groups", "The log groups, their streams and files");
  groups->add_flag("--json", groups_json, "JSON output");
  groups->callback([&globals] { finish(run_groups(globals, groups_json)); });

  static TailArgs tail;
  auto* tail_cmd = logs->add_subcommand(
      "tail", "Print a group's events (as `aws logs tail`): time, stream, message");
  tail_cmd
      ->add_option("group", tail.group,
                   "Group name, or a word of one group's name (lambda, proxy, postgresql)")
      ->required();
  tail_cmd->add_flag("--follow,-f", tail.follow, "Keep printing new events (Ctrl-C ends)");
  tail_cmd->add_option("--since", tail.since, "From this long ago: 30s, 10m, 2h, 1d")
      ->default_str("10m");
  tail_cmd->add_option("--filter", tail.filter,
                       "A filter pattern: terms, \"phrases\", ?any, -exclude, %regex%");
  tail_cmd->callback([&globals] { finish(run_tail(globals, tail)); });

  static QueryArgs query;
  auto* query_cmd = logs->add_subcommand(
      "query", "Run a Logs Insights query (fields, filter, sort, limit, stats) over the groups");
  query_cmd->add_option("query", query.query, "The query, e.g. 'fields @message | limit 10'")
      ->required();
  query_cmd->add_option("--group", query.groups, "Group (repeatable; default: every group)");
  query_cmd->add_option("--since", query.since, "From this long ago: 30s, 10m, 2h, 1d")
      ->default_str("1h");
  query_cmd->add_option("--limit", query.limit, "At most this many rows")->default_str("1000");
  query_cmd->add_flag("--json", query.json, "GetQueryResults-shaped JSON");
  query_cmd->callback([&globals] { finish(run_query(globals, query)); });
});

}  // namespace
