// The local stack's log files seen as CloudWatch Logs sees them: log groups of streams of events,
// each event a timestamp (milliseconds since the epoch) and a message (the whole line).
//
//   /aws/lambda/<function>                  the function's output and START/END/REPORT lines
//   /aws/rds/proxy/<proxy>                  writegate-proxy's JSON lines (one per connection
//   attempt) /aws/rds/cluster/<cluster>/postgresql   PostgreSQL's log ("Aurora")
//
// Timestamps come from the line itself:
//   kJsonTime      the proxy's JSON "time" (ISO 8601)
//   kPostgres      log_line_prefix '%m ...': "2026-11-30 21:00:00.123 UTC" (UTC, GMT or ±hh[:mm])
//   kLambda        the function's JSON "timestamp", or a text line's leading ISO 8601 time
//   (and the embedded-metric lines' "_aws":{"Timestamp": ms})
// A line without a time of its own (REPORT/START/END, a statement's continuation line, a line
// that is not JSON) takes the time of the nearest line before it in the same file (REPORT and
// END come after the invocation's own lines, so they get its last time). Lines at the very
// start of a file, before any time, take the first time that follows in the same read, else
// the file's modification time.
//
// Files are read incrementally: read_events() reads from a byte offset at most max_bytes (at a
// line boundary) and says where to go on; a line longer than 256 KiB (CloudWatch's event limit)
// is cut there. A line still being written (no newline yet) is left for the next read, unless
// its file is finished (a later file of the stream has bytes): then it is the file's last line.
//
//   LogStreamSource s{"2026/11/30/[$LATEST]0a1b...", "STATE/logs/function.log",
//   LogFormat::kLambda}; auto chunk = read_events(s, {.offset = 0}); for (const LogEvent& e :
//   chunk->events) ...;          // then read on from chunk->next
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/log_files.h"
#include "common/result.h"

namespace writegate::observe {

enum class LogFormat { kJsonTime, kPostgres, kLambda };

// Milliseconds since the Unix epoch, as CloudWatch Logs counts them.
using EpochMillis = int64_t;

// How a stream's files rotate (common/log_files.h).
enum class LogFiles {
  kOffsetNamed,        // path is the file written; rotated ones are path.<20-digit offset>
  kPostgresCollector,  // path is PostgreSQL's log_directory: postgresql-YYYY-MM-DD_HHMMSS.log
};

struct LogStreamSource {
  std::string name;  // the stream's name in its group
  std::string path;  // the file (or PostgreSQL's log folder)
  LogFormat format = LogFormat::kJsonTime;
  LogFiles files = LogFiles::kOffsetNamed;
};

struct LogGroupSource {
  std::string name;  // "/aws/lambda/aurora-writer-lambda"
  std::vector<LogStreamSource> streams;
};

struct LogEvent {
  EpochMillis timestamp = 0;
  std::string message;  // the line, without its newline
  uint64_t offset = 0;  // of the line in its stream (an event id)
  uint64_t end = 0;     // where the next line begins: after its newline (and any \r or bytes
                        // past the 256 KiB cut, which the message leaves out)
};

// Where a read starts: the byte offset of a line, and the time the line before it had (for a
// line without a time of its own).
struct ReadPosition {
  uint64_t offset = 0;
  std::optional<EpochMillis> previous_time;
};

struct ReadChunk {
  std::vector<LogEvent> events;
  ReadPosition next;         // where the next read goes on
  bool end_of_file = false;  // nothing complete is left after `next`
  uint64_t bytes_read = 0;
};

inline constexpr std::size_t kMaxEventBytes = 256 * 1024;
inline constexpr std::size_t kDefaultReadBytes = 4 * 1024 * 1024;

// Reads the complete lines from `from` on, at most max_bytes of them (at least one line when
// one is there). A missing file reads as empty; a file shorter than `from` (truncated or
// replaced) reads from its start again.
Result<ReadChunk> read_events(const LogStreamSource& source, ReadPosition from,
                              std::size_t max_bytes = kDefaultReadBytes);

// The stream's files, oldest first, with their stream offsets (common/log_files.h).
std::vector<LogSegment> stream_segments(const LogStreamSource& source);

// The time of one line in `format`, if it has one.
std::optional<EpochMillis> line_timestamp(LogFormat format, std::string_view line);
// "2026-11-30 21:00:00.123 UTC" at the start of a PostgreSQL log line.
std::optional<EpochMillis> parse_postgres_timestamp(std::string_view line);
// The ISO 8601 string member `key` of a JSON object line.
std::optional<EpochMillis> parse_json_time(std::string_view line, std::string_view key);

// "2026-11-30 21:00:00.123" (Logs Insights' @timestamp and bin() values, UTC).
std::string format_insights_time(EpochMillis t);
// "2026-11-30T21:00:00.123000+00:00" (as `aws logs tail` prints times).
std::string format_tail_time(EpochMillis t);

// The file's size and modification time (0 and nullopt when it is missing).
struct FileFacts {
  bool exists = false;
  uint64_t size = 0;
  EpochMillis modified = 0;
};
FileFacts file_facts(const std::string& path);
// The same over a stream's files: their bytes together, the newest modification, and `end`, the
// stream offset just after its last byte (where the newest bytes are).
struct StreamFacts : FileFacts {
  uint64_t end = 0;
};
StreamFacts stream_facts(const LogStreamSource& source);

// The names and files of the local stack's groups.
struct StackLogLayout {
  std::string function_name = "aurora-writer-lambda";
  std::string proxy_name = "aurora-write-proxy";
  std::string cluster_name = "my-aurora-cluster";
  std::string function_log;      // one file for every environment (tests); or
  std::string function_log_dir;  // STATE/logs/function: a stream file per environment
  std::string proxy_log;         // STATE/logs/proxy.log
  std::string postgres_log;      // a file (tests); or
  std::string postgres_log_dir;  // StackState::aurora_dir + "/log": PostgreSQL's own rotation
  // Stream names: the proxy's by its resource id (prx-...), PostgreSQL's by the instance.
  std::string proxy_stream;  // empty: the proxy's name
};

// The three groups, in the order DescribeLogGroups lists them (by name). The function's
// streams are its execution environments' files in function_log_dir, each named as Lambda
// names them, "YYYY/MM/DD/[$LATEST]<32 hex>" (common/log_files.h), in name order. With
// function_log instead, the one file is one stream named that way from the date of its first
// line and a hash of the file's identity (stable while the file lives).
// Every stream reads across its rotated files (common/log_files.h): an event's offset is its
// stream offset, the same before and after a rotation.
std::vector<LogGroupSource> stack_log_groups(const StackLogLayout& layout);

// The group of this name, or nullptr.
const LogGroupSource* find_group(const std::vector<LogGroupSource>& groups, std::string_view name);

}  // namespace writegate::observe
