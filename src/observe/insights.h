// The CloudWatch Logs Insights subset the architecture document's section 8 queries use, parsed
// and run over log events (no I/O here: the caller feeds the events of the query's groups and
// time range).
//
//   fields @timestamp, @message
//   | filter @message like /authentication failed/      (also like "text", not like, =~, =, !=,
//   | sort @timestamp desc                                and, or, not, parentheses)
//   | limit 100
//   stats count() by bin(5m)                            (count(), count(*), count(field);
//                                                        by bin(N ms|s|m|h|d|w) or a field; as)
//
// Fields: @timestamp, @message, @logStream, @log ("ACCOUNT:GROUP"); a query without `fields` or
// `stats` shows @timestamp and @message. Comments start with '#'. Commands run in the order
// written; rows without a field leave it out (as Insights does). stats rows are ordered by their
// group keys (bins ascending). A query Insights would refuse to compile is a QueryParseError
// (the endpoint answers MalformedQueryException); so is a command this subset does not serve.
//
//   auto query = InsightsQuery::parse("fields @message | filter @message like /denied/");
//   if (auto* e = std::get_if<QueryParseError>(&query)) ...;      // e->message, e->start, e->end
//   QueryRun run(std::get<InsightsQuery>(query));
//   run.add({t, line, "stream", "000000000000:/aws/rds/proxy/p"}); // every event in range
//   QueryOutput out = run.finish();                                 // rows of {field, value}
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "observe/logs.h"
#include "observe/regex.h"

namespace writegate::observe {

struct QueryParseError {
  std::string message;    // "unexpected symbol found ... at line 1 and position 9"
  std::size_t start = 0;  // character offsets of the offending text in the query
  std::size_t end = 0;
};

// One row of a result: {field, value} pairs in the order Insights returns them.
using ResultRow = std::vector<std::pair<std::string, std::string>>;

struct Expression;  // a filter expression (insights.cc)

class InsightsQuery {
 public:
  // Queries up to 10000 characters (Insights' limit).
  static std::variant<InsightsQuery, QueryParseError> parse(std::string_view text);

  InsightsQuery(InsightsQuery&&) noexcept;
  InsightsQuery& operator=(InsightsQuery&&) noexcept;
  ~InsightsQuery();

  struct SortKey {
    std::string field;
    bool descending = false;
  };
  struct Aggregate {
    std::string function;  // "count"
    std::string argument;  // "", "*" or a field
    std::string name;      // the column: alias or "count()"
  };
  struct GroupKey {
    std::string field;   // for a field group
    int64_t bin_ms = 0;  // > 0 for bin(...)
    std::string name;    // the column: alias or "bin(5m)"
  };
  struct Command {
    enum class Kind { kFields, kFilter, kSort, kLimit, kStats };
    Kind kind = Kind::kFields;
    std::vector<std::string> fields;
    std::shared_ptr<const Expression> filter;
    std::vector<SortKey> sort;
    std::size_t limit = 0;
    std::vector<Aggregate> aggregates;
    std::vector<GroupKey> groups;
  };
  const std::vector<Command>& commands() const { return commands_; }

 private:
  InsightsQuery() = default;
  friend class QueryParser;
  std::vector<Command> commands_;
};

struct QueryStatistics {
  uint64_t records_matched = 0;  // events that passed the filters before stats
  uint64_t records_scanned = 0;
  uint64_t bytes_scanned = 0;
};

struct QueryOutput {
  std::vector<ResultRow> rows;
  QueryStatistics statistics;
};

// One event as a query sees it.
struct EventView {
  EpochMillis timestamp = 0;
  std::string_view message;
  std::string_view log_stream;
  std::string_view log;  // "ACCOUNT:GROUP"
};

// Runs a query over events fed one by one (any order; `sort` orders them).
class QueryRun {
 public:
  explicit QueryRun(const InsightsQuery& query);
  QueryRun(const QueryRun&) = delete;
  QueryRun& operator=(const QueryRun&) = delete;
  ~QueryRun();

  void add(const EventView& event);
  // At most max_rows rows (Insights returns up to 10000; 1000 without a limit).
  QueryOutput finish(std::size_t max_rows = 10000);

 private:
  struct Record;
  void compact();
  const InsightsQuery& query_;
  std::size_t streaming_ = 0;  // leading filter/fields commands applied while adding
  std::vector<Record> records_;
  QueryStatistics statistics_;
};

}  // namespace writegate::observe
