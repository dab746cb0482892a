#include "observe/logs.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/log_files.h"
#include "common/time.h"

namespace writegate::observe {

namespace {

constexpr std::size_t kBlock = 64 * 1024;

EpochMillis to_millis(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// An fd closed on every path.
class FileHandle {
 public:
  explicit FileHandle(int fd) : fd_(fd) {}
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  ~FileHandle() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

bool digits(std::string_view s, std::size_t pos, std::size_t count) {
  if (pos + count > s.size()) return false;
  for (std::size_t i = pos; i < pos + count; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

}  // namespace

std::optional<EpochMillis> parse_postgres_timestamp(std::string_view line) {
  // "YYYY-MM-DD HH:MM:SS[.fff] ZONE"
  if (!digits(line, 0, 4) || line.size() < 19 || line[4] != '-' || line[10] != ' ' ||
      !digits(line, 11, 2) || line[13] != ':') {
    return std::nullopt;
  }
  std::size_t end = 19;
  if (end < line.size() && line[end] == '.') {
    ++end;
    while (end < line.size() && end < 30 && line[end] >= '0' && line[end] <= '9')
      ++end;
  }
  std::string iso(line.substr(0, end));
  iso[10] = 'T';
  if (end >= line.size() || line[end] != ' ') return std::nullopt;
  std::size_t zone_end = line.find(' ', end + 1);
  std::string_view zone = line.substr(
      end + 1, zone_end == std::string_view::npos ? std::string_view::npos : zone_end - end - 1);
  if (zone == "UTC" || zone == "GMT" || zone == "Z") {
    iso += "Z";
  } else if ((zone.size() == 3 || zone.size() == 6 || zone.size() == 5) &&
             (zone[0] == '+' || zone[0] == '-') && digits(zone, 1, 2)) {
    // PostgreSQL prints numeric zones as "+01", "-0530" or "+05:30".
    iso += std::string(zone.substr(0, 3));
    if (zone.size() == 3) {
      iso += ":00";
    } else if (zone.size() == 5 && digits(zone, 3, 2)) {
      iso += ":" + std::string(zone.substr(3, 2));
    } else if (zone.size() == 6 && zone[3] == ':' && digits(zone, 4, 2)) {
      iso += std::string(zone.substr(3));
    } else {
      return std::nullopt;
    }
  } else {
    return std::nullopt;  // a zone abbreviation other than UTC cannot be resolved here
  }
  auto t = parse_iso8601(iso);
  if (!t) return std::nullopt;
  return to_millis(*t);
}

std::optional<EpochMillis> parse_json_time(std::string_view line, std::string_view key) {
  if (line.empty() || line.front() != '{' || line.size() > kMaxEventBytes) return std::nullopt;
  auto doc = nlohmann::json::parse(line, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_string()) {
    // CloudWatch embedded metric format: {"_aws":{"Timestamp":<ms>,...},...}
    auto aws = doc.find("_aws");
    if (aws != doc.end() && aws->is_object()) {
      auto ts = aws->find("Timestamp");
      if (ts != aws->end() && ts->is_number_integer()) return ts->get<EpochMillis>();
    }
    return std::nullopt;
  }
  auto t = parse_iso8601(it->get_ref<const std::string&>());
  if (!t) return std::nullopt;
  return to_millis(*t);
}

std::optional<EpochMillis> line_timestamp(LogFormat format, std::string_view line) {
  switch (format) {
    case LogFormat::kJsonTime:
      return parse_json_time(line, "time");
    case LogFormat::kPostgres:
      return parse_postgres_timestamp(line);
    case LogFormat::kLambda: {
      if (!line.empty() && line.front() == '{') return parse_json_time(line, "timestamp");
      // Text format: "2026-11-30T21:00:00.123Z\t<request id>\tINFO\tmessage"
      const std::size_t tab = line.find('\t');
      if (tab == std::string_view::npos || tab < 10 || tab > 40 || !digits(line, 0, 4)) {
        return std::nullopt;
      }
      auto t = parse_iso8601(line.substr(0, tab));
      if (!t) return std::nullopt;
      return to_millis(*t);
    }
  }
  return std::nullopt;
}

std::string format_insights_time(EpochMillis t) {
  using namespace std::chrono;
  const sys_time<milliseconds> tp{milliseconds(t)};
  const auto day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss hms{tp - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02ld:%02ld:%02ld.%03ld", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), long(hms.hours().count()),
                long(hms.minutes().count()), long(hms.seconds().count()),
                long(hms.subseconds().count()));
  return buf;
}

std::string format_tail_time(EpochMillis t) {
  std::string s = format_insights_time(t);
  s[10] = 'T';
  return s + "000+00:00";
}

FileFacts file_facts(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  FileFacts facts;
  facts.exists = true;
  facts.size = static_cast<uint64_t>(st.st_size);
  facts.modified =
      static_cast<EpochMillis>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
  return facts;
}

namespace {

// One file of a stream, with offsets of that file. A finished file never grows again: a last
// line without its newline is complete. Bytes past `size_cap` are not read.
Result<ReadChunk> read_file_events(const std::string& path, LogFormat format, ReadPosition from,
                                   std::size_t max_bytes, bool finished, uint64_t size_cap) {
  ReadChunk chunk;
  FileHandle fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      chunk.next = ReadPosition{};
      chunk.end_of_file = true;
      return chunk;
    }
    return Error::io("cannot read log file " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::io("cannot stat log file " + path);
  const auto size = std::min(static_cast<uint64_t>(st.st_size), size_cap);
  if (from.offset > size) from = ReadPosition{};  // truncated or replaced: from the start again
  const EpochMillis mtime =
      static_cast<EpochMillis>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;

  uint64_t offset = from.offset;      // next byte to read from the file
  uint64_t line_start = from.offset;  // where the line being assembled began
  std::optional<EpochMillis> previous = from.previous_time;
  std::string line;  // the current line (cut at kMaxEventBytes)
  std::string buffer(kBlock, '\0');
  max_bytes = std::max<std::size_t>(max_bytes, 1);
  bool stopped = false;
  std::size_t untimed_from = static_cast<std::size_t>(-1);  // events waiting for a first time
  // The line in `line` is complete; the next one begins at `next_line`.
  auto complete_line = [&](uint64_t next_line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::optional<EpochMillis> own = line_timestamp(format, line);
    if (own && !previous) {
      // The lines before the file's first time (a START line) take that time.
      for (std::size_t k = untimed_from; k < chunk.events.size(); ++k)
        chunk.events[k].timestamp = *own;
    }
    if (own) previous = own;
    if (!previous) untimed_from = std::min(untimed_from, chunk.events.size());
    LogEvent event;
    event.timestamp = previous.value_or(mtime);
    event.offset = line_start;
    event.end = next_line;
    event.message = std::move(line);
    line.clear();
    chunk.events.push_back(std::move(event));
    line_start = next_line;
  };
  while (offset < size && !stopped) {
    const std::size_t want = static_cast<std::size_t>(std::min<uint64_t>(kBlock, size - offset));
    const ssize_t got = ::pread(fd.get(), buffer.data(), want, static_cast<off_t>(offset));
    if (got < 0) return Error::io("cannot read log file " + path);
    if (got == 0) break;
    std::string_view block(buffer.data(), static_cast<std::size_t>(got));
    std::size_t pos = 0;
    while (pos < block.size()) {
      const std::size_t nl = block.find('\n', pos);
      const std::size_t piece_end = nl == std::string_view::npos ? block.size() : nl;
      if (line.size() < kMaxEventBytes) {
        line.append(block.substr(pos, std::min(piece_end - pos, kMaxEventBytes - line.size())));
      }
      if (nl == std::string_view::npos) {
        pos = block.size();
        break;
      }
      pos = nl + 1;
      complete_line(offset + pos);
      if (line_start - from.offset >= max_bytes) {
        stopped = true;
        break;
      }
    }
    offset += pos;
  }
  if (!stopped && finished && line_start < size && offset >= size) {
    complete_line(size);  // the finished file's last line has no newline
  }
  chunk.next = ReadPosition{line_start, previous};
  chunk.bytes_read = line_start - from.offset;
  // A last line without its newline is not complete yet: the next read takes it.
  chunk.end_of_file = !stopped || line_start >= size;
  return chunk;
}

// The rotated files' names and starts: what a rotation changes.
std::vector<std::pair<std::string, uint64_t>> rotation_layout(const std::vector<LogSegment>& s) {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (std::size_t i = 0; i + 1 < s.size(); ++i)
    out.emplace_back(s[i].path, s[i].start);
  return out;
}

}  // namespace

std::vector<LogSegment> stream_segments(const LogStreamSource& source) {
  return source.files == LogFiles::kPostgresCollector ? postgres_log_segments(source.path)
                                                      : log_segments(source.path);
}

StreamFacts stream_facts(const LogStreamSource& source) {
  StreamFacts out;
  for (const LogSegment& segment : stream_segments(source)) {
    const FileFacts f = file_facts(segment.path);
    if (!f.exists) continue;
    out.exists = true;
    out.size += segment.size;
    out.modified = std::max(out.modified, f.modified);
    out.end = segment.start + segment.size;
  }
  return out;
}

Result<ReadChunk> read_events(const LogStreamSource& source, ReadPosition from,
                              std::size_t max_bytes) {
  const uint64_t size_cap = source.files == LogFiles::kPostgresCollector
                                ? uint64_t{1} << kPostgresSecondShift
                                : ~uint64_t{0};
  // A rotation during the read would give the new file's lines the old file's offsets: the
  // files are listed again after the read, and a read that saw a rotation is done again.
  for (int attempt = 0;; ++attempt) {
    const std::vector<LogSegment> segments = stream_segments(source);
    if (segments.empty()) {
      ReadChunk none;
      none.next = from;
      none.end_of_file = true;
      return none;
    }
    ReadPosition at = from;
    if (at.offset < segments.front().start) at.offset = segments.front().start;  // expired
    std::size_t i = 0;
    while (i + 1 < segments.size() && at.offset >= segments[i + 1].start)
      ++i;
    const LogSegment& segment = segments[i];
    // A file is finished once a later one has bytes: writegate-proxy renames its file under
    // the lock its lines take, PostgreSQL writes to a new file only after closing the old one.
    const bool finished =
        i + 1 < segments.size() && (segments[i + 1].size > 0 || i + 2 < segments.size());
    WG_ASSIGN_OR_RETURN(
        ReadChunk chunk,
        read_file_events(segment.path, source.format, {at.offset - segment.start, at.previous_time},
                         max_bytes, finished, size_cap));
    if (attempt < 3 && rotation_layout(stream_segments(source)) != rotation_layout(segments)) {
      continue;
    }
    for (LogEvent& e : chunk.events) {
      e.offset += segment.start;
      e.end += segment.start;
    }
    chunk.next.offset += segment.start;
    if (chunk.end_of_file && finished) {
      // A finished file never grows again: the stream goes on in the next one.
      chunk.next.offset = segments[i + 1].start;
      chunk.end_of_file = false;
    }
    return chunk;
  }
}

namespace {

std::string lambda_stream_name(const std::string& path) {
  const FileFacts facts = file_facts(path);
  EpochMillis first = facts.exists ? facts.modified : 0;
  auto head = read_events({"", path, LogFormat::kLambda}, {}, 1);
  if (head && !head->events.empty()) first = head->events.front().timestamp;
  struct stat st {};
  const bool have = ::stat(path.c_str(), &st) == 0;
  const std::string identity =
      path + ":" +
      (have ? std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) : std::string("-"));
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(identity.data()), identity.size(), digest);
  std::string hex;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  std::string date = format_insights_time(first).substr(0, 10);  // YYYY-MM-DD
  std::replace(date.begin(), date.end(), '-', '/');
  return date + "/[$LATEST]" + hex;
}

// The environments' stream files of a function's log folder, in stream name order.
std::vector<LogStreamSource> lambda_streams(const std::string& dir) {
  std::vector<LogStreamSource> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::string name = lambda_stream_name_of_file(it->path().filename().string());
    if (!name.empty()) out.push_back({std::move(name), it->path().string(), LogFormat::kLambda});
  }
  std::sort(out.begin(), out.end(),
            [](const LogStreamSource& a, const LogStreamSource& b) { return a.name < b.name; });
  return out;
}

}  // namespace

std::vector<LogGroupSource> stack_log_groups(const StackLogLayout& layout) {
  std::vector<LogGroupSource> groups;
  if (!layout.function_log_dir.empty()) {
    groups.push_back(
        {"/aws/lambda/" + layout.function_name, lambda_streams(layout.function_log_dir)});
  } else {
    groups.push_back(
        {"/aws/lambda/" + layout.function_name,
         {{lambda_stream_name(layout.function_log), layout.function_log, LogFormat::kLambda}}});
  }
  groups.push_back(
      {"/aws/rds/cluster/" + layout.cluster_name + "/postgresql",
       {layout.postgres_log_dir.empty()
            ? LogStreamSource{layout.cluster_name + "-instance-1", layout.postgres_log,
                              LogFormat::kPostgres}
            : LogStreamSource{layout.cluster_name + "-instance-1", layout.postgres_log_dir,
                              LogFormat::kPostgres, LogFiles::kPostgresCollector}}});
  groups.push_back({"/aws/rds/proxy/" + layout.proxy_name,
                    {{layout.proxy_stream.empty() ? layout.proxy_name : layout.proxy_stream,
                      layout.proxy_log, LogFormat::kJsonTime}}});
  std::sort(groups.begin(), groups.end(),
            [](const LogGroupSource& a, const LogGroupSource& b) { return a.name < b.name; });
  return groups;
}

const LogGroupSource* find_group(const std::vector<LogGroupSource>& groups, std::string_view name) {
  for (const auto& g : groups)
    if (g.name == name) return &g;
  return nullptr;
}

}  // namespace writegate::observe
