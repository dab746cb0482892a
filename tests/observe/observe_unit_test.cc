// observe: timestamps of each log format, incremental reads, the regex, filter patterns and the
// Logs Insights subset (the architecture document's three queries over fixed events, exact rows).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "common/log_files.h"
#include "iam/policy.h"
#include "iam/store.h"
#include "observe/filter_pattern.h"
#include "observe/insights.h"
#include "observe/logs.h"
#include "observe/logs_service.h"
#include "observe/regex.h"

namespace writegate::observe {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr EpochMillis kT0 = 1796072400000;  // 2026-11-30 21:00:00.000 UTC

// ---- timestamps ----

TEST(Timestamps, EachFormat) {
  struct Case {
    LogFormat format;
    std::string line;
    std::optional<EpochMillis> want;
  };
  const Case cases[] = {
      {LogFormat::kPostgres, "2026-11-30 21:00:00.123 UTC [7] w@db LOG:  x", kT0 + 123},
      {LogFormat::kPostgres, "2026-11-30 21:00:00 GMT [7] x", kT0},
      {LogFormat::kPostgres, "2026-11-30 22:30:00.000 +01:30 [7] x", kT0},
      {LogFormat::kPostgres, "2026-11-30 20:00:00.000 -01 [7] x", kT0},
      {LogFormat::kPostgres, "2026-11-30 21:00:00.000 CET [7] x", std::nullopt},
      {LogFormat::kPostgres, "\tcontinuation of a statement", std::nullopt},
      {LogFormat::kJsonTime, R"({"event":"connect","time":"2026-11-30T21:00:00.250Z"})", kT0 + 250},
      {LogFormat::kJsonTime, R"({"event":"connect"})", std::nullopt},
      {LogFormat::kJsonTime, "not json", std::nullopt},
      {LogFormat::kLambda, R"({"timestamp":"2026-11-30T21:00:01.000Z","level":"INFO"})",
       kT0 + 1000},
      {LogFormat::kLambda, R"({"_aws":{"Timestamp":1796072400007},"Errors":0})", kT0 + 7},
      {LogFormat::kLambda, "2026-11-30T21:00:02.000Z\t1234\tINFO\tdone", kT0 + 2000},
      {LogFormat::kLambda, "REPORT RequestId: 1\tDuration: 1.00 ms", std::nullopt},
      {LogFormat::kLambda, "START RequestId: 1 Version: $LATEST", std::nullopt},
  };
  for (const auto& c : cases)
    EXPECT_EQ(line_timestamp(c.format, c.line), c.want) << c.line;
}

TEST(Timestamps, Formatting) {
  EXPECT_EQ(format_insights_time(kT0 + 123), "2026-11-30 21:00:00.123");
  EXPECT_EQ(format_tail_time(kT0 + 5), "2026-11-30T21:00:00.005000+00:00");
}

// ---- files ----

class LogFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("wg-observe-" + std::to_string(::getpid()) + ".log"))
                .string();
  }
  void TearDown() override { std::filesystem::remove(path_); }
  void write(const std::string& text, bool append = false) {
    std::ofstream out(path_, append ? std::ios::app : std::ios::trunc);
    out << text;
  }
  std::string path_;
};

TEST_F(LogFileTest, LinesWithoutTimeTakeTheNeighboursTime) {
  write(
      "START RequestId: a Version: $LATEST\n"
      "{\"timestamp\":\"2026-11-30T21:00:01.000Z\",\"message\":\"hi\"}\n"
      "END RequestId: a\n"
      "REPORT RequestId: a\tDuration: 1.00 ms\n"
      "{\"timestamp\":\"2026-11-30T21:00:05.000Z\",\"message\":\"again\"}\n"
      "partial line without its newline");
  auto chunk = read_events({"s", path_, LogFormat::kLambda}, {});
  ASSERT_TRUE(chunk.ok()) << chunk.error().message();
  ASSERT_EQ(chunk->events.size(), 5u);
  EXPECT_EQ(chunk->events[0].timestamp, kT0 + 1000);  // START: the first time after it
  EXPECT_EQ(chunk->events[1].timestamp, kT0 + 1000);
  EXPECT_EQ(chunk->events[2].timestamp, kT0 + 1000);  // END/REPORT: the line before
  EXPECT_EQ(chunk->events[3].timestamp, kT0 + 1000);
  EXPECT_EQ(chunk->events[4].timestamp, kT0 + 5000);
  EXPECT_EQ(chunk->events[3].message, "REPORT RequestId: a\tDuration: 1.00 ms");
  EXPECT_TRUE(chunk->end_of_file);
  // The unfinished line comes once it has its newline.
  write("\n", true);
  auto rest = read_events({"s", path_, LogFormat::kLambda}, chunk->next);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->events.size(), 1u);
  EXPECT_EQ(rest->events[0].message, "partial line without its newline");
  EXPECT_EQ(rest->events[0].timestamp, kT0 + 5000);
}

TEST_F(LogFileTest, ReadsIncrementallyWithinTheCap) {
  std::string text;
  for (int i = 0; i < 100; ++i)
    text += "2026-11-30 21:00:00.000 UTC [1] line " + std::to_string(i) + "\n";
  write(text);
  ReadPosition at;
  std::vector<std::string> seen;
  int reads = 0;
  while (true) {
    auto chunk = read_events({"s", path_, LogFormat::kPostgres}, at, 200);
    ASSERT_TRUE(chunk.ok());
    EXPECT_LE(chunk->bytes_read, 200u + 60u);
    for (auto& e : chunk->events)
      seen.push_back(e.message);
    at = chunk->next;
    ++reads;
    if (chunk->end_of_file) break;
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(seen[99], "2026-11-30 21:00:00.000 UTC [1] line 99");
  EXPECT_GT(reads, 10);
  // Truncated (rotated): reading from an offset beyond the end starts again.
  write("2026-11-30 21:00:00.000 UTC [1] new\n");
  auto again = read_events({"s", path_, LogFormat::kPostgres}, at);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->events.size(), 1u);
  EXPECT_EQ(again->events[0].message, "2026-11-30 21:00:00.000 UTC [1] new");
}

// Where the next line begins (FilterLogEvents' nextToken, `logs tail --follow`) is exact when
// the message lost a \r or was cut at 256 KiB: read on from each event's end, one at a time,
// and every line comes once.
TEST_F(LogFileTest, EachEventSaysExactlyWhereTheNextLineBegins) {
  const std::string t = "2026-11-30 21:00:00.000 UTC [1] ";
  const std::string huge = t + std::string(300 * 1024, 'x');
  write(t + "one\r\n" + t + "two\r\n" + huge + "\n" + t + "three\r\n\r\n" + t + "four\n");
  const LogStreamSource source{"s", path_, LogFormat::kPostgres};
  auto all = read_events(source, {});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->events.size(), 6u);
  EXPECT_EQ(all->events[0].message, t + "one");
  EXPECT_EQ(all->events[0].end, t.size() + 5);
  EXPECT_EQ(all->events[1].end, all->events[2].offset);
  EXPECT_EQ(all->events[2].message.size(), kMaxEventBytes);  // cut
  EXPECT_EQ(all->events[2].end, all->events[1].end + huge.size() + 1);
  EXPECT_EQ(all->events[4].message, "");  // the empty "\r\n" line
  EXPECT_EQ(all->events[5].end, std::filesystem::file_size(path_));
  std::vector<std::string> one_by_one;
  ReadPosition at;
  for (int guard = 0; guard < 20; ++guard) {
    auto chunk = read_events(source, at, 1);  // one line a read
    ASSERT_TRUE(chunk.ok());
    if (chunk->events.empty()) break;
    ASSERT_EQ(chunk->events.size(), 1u);
    one_by_one.push_back(chunk->events[0].message);
    at = {chunk->events[0].end, chunk->events[0].timestamp};  // as the nextToken carries it
  }
  ASSERT_EQ(one_by_one.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i)
    EXPECT_EQ(one_by_one[i], all->events[i].message) << i;
}

// FilterLogEvents itself, one event a page (limit 1): each nextToken goes on exactly after its
// event, so the \r\n lines and the line cut at 256 KiB come once each, in order.
TEST_F(LogFileTest, FilterLogEventsPagesOneEventAtATimeWithoutLossOrDoubles) {
  const std::string t = "2026-11-30 21:00:00.000 UTC [1] ";
  write(t + "one\r\n" + t + std::string(300 * 1024, 'y') + "\n" + t + "two\r\n" + t + "three\n");
  const std::string group = "/aws/rds/cluster/c/postgresql";
  LogsService service([&] {
    return std::vector<LogGroupSource>{{group, {{"c-instance-1", path_, LogFormat::kPostgres}}}};
  });
  const std::string state = path_ + ".iam";
  auto store = iam::IamStore::open_or_create(state, {});
  ASSERT_TRUE(store.ok()) << store.error().message();
  auto policy = iam::parse_policy(
      R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:*","Resource":"*"}]})");
  ASSERT_TRUE(policy.ok());
  awslocal::Caller caller;
  caller.region = "us-east-1";
  caller.identity.principal.arn = "arn:aws:iam::000000000000:user/reader";
  caller.identity.principal.account = "000000000000";
  caller.identity.principal.name = "reader";
  caller.identity.policies.push_back(
      {"all-logs", std::make_shared<const iam::Policy>(std::move(*policy))});
  const std::vector<sigv4::QueryParam> no_params;
  auto filter = [&](const nlohmann::json& body) {
    sigv4::HttpRequest request;
    request.method = "POST";
    request.body = body.dump();
    const awslocal::ServiceCall call{.operation = "FilterLogEvents",
                                     .request = request,
                                     .params = no_params,
                                     .caller = caller,
                                     .request_id = "r",
                                     .remote_address = "127.0.0.1",
                                     .secure_transport = true,
                                     .now = std::chrono::system_clock::now(),
                                     .store = **store};
    auto result = service.handle(call);
    EXPECT_TRUE(std::holds_alternative<awslocal::Response>(result));
    if (!std::holds_alternative<awslocal::Response>(result)) return nlohmann::json();
    return nlohmann::json::parse(std::get<awslocal::Response>(result).body);
  };
  std::vector<std::string> messages;
  std::set<std::string> ids;
  nlohmann::json body{{"logGroupName", group}, {"limit", 1}};
  for (int page = 0; page < 20; ++page) {
    const nlohmann::json out = filter(body);
    for (const auto& e : out["events"]) {
      messages.push_back(e["message"].get<std::string>());
      // 56 digits, as CloudWatch's; no two alike.
      const std::string id = e["eventId"].get<std::string>();
      EXPECT_EQ(id.size(), 56u) << id;
      EXPECT_EQ(id.find_first_not_of("0123456789"), std::string::npos) << id;
      EXPECT_TRUE(ids.insert(id).second) << id;
    }
    if (!out.contains("nextToken")) break;
    body["nextToken"] = out["nextToken"];
  }
  ASSERT_EQ(messages.size(), 4u);
  EXPECT_EQ(messages[0], t + "one");
  EXPECT_EQ(messages[1].size(), kMaxEventBytes);
  EXPECT_EQ(messages[2], t + "two");
  EXPECT_EQ(messages[3], t + "three");
  std::filesystem::remove_all(state);
}

// PostgreSQL's own rotation: files named by their second, offsets (second << 32) + byte, the
// same after older files are removed; a finished file's last line without a newline is read,
// the file being written waits for it.
TEST(PostgresCollectorStream, ReadsAcrossTimeNamedFilesWithStableOffsets) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("wg-observe-pg-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string line = "2026-12-01 02:00:00.000 UTC [7] LOG:  statement: SELECT ";
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name, std::ios::app) << text;
  };
  write("postgresql-2026-12-01_020000.log", line + "1\n" + line + "2\n" + line + "3");
  write("postgresql-2026-12-01_020001.log", "");
  write("postgresql.log", "not PostgreSQL's collector file\n");
  EXPECT_EQ(postgres_log_file_second("postgresql-2026-12-01_020001.log"), 1796090401);
  EXPECT_EQ(postgres_log_file_second("postgresql-2026-13-01_020001.log"), -1);
  const LogStreamSource source{"my-aurora-cluster-instance-1", dir.string(), LogFormat::kPostgres,
                               LogFiles::kPostgresCollector};
  auto read_all = [&](ReadPosition at, std::vector<LogEvent>& out) {
    for (int guard = 0; guard < 100; ++guard) {
      auto chunk = read_events(source, at, 10);
      EXPECT_TRUE(chunk.ok());
      if (!chunk.ok()) break;
      out.insert(out.end(), chunk->events.begin(), chunk->events.end());
      at = chunk->next;
      if (chunk->end_of_file) break;
    }
    return at;
  };
  std::vector<LogEvent> first;
  ReadPosition at = read_all({}, first);
  ASSERT_EQ(first.size(), 2u);  // "SELECT 3" may still be being written: the next file is empty
  EXPECT_EQ(first[0].offset, uint64_t{1796090400} << 32);
  write("postgresql-2026-12-01_020001.log", line + "4\n");
  write("postgresql-2026-12-01_020002.log", line + "5\n");
  std::vector<LogEvent> rest;
  at = read_all(at, rest);
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_EQ(rest[0].message, line + "3");
  EXPECT_EQ(rest[1].offset, uint64_t{1796090401} << 32);
  EXPECT_EQ(rest[2].message, line + "5");
  // The cap: the oldest go, the others keep their offsets; a follower reads on.
  ASSERT_TRUE(prune_postgres_logs(dir.string(), 2).ok());
  EXPECT_EQ(postgres_log_segments(dir.string()).size(), 2u);
  EXPECT_TRUE(fs::exists(dir / "postgresql.log"));  // not one of the collector's files
  std::vector<LogEvent> kept;
  read_all({}, kept);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].offset, rest[1].offset);
  write("postgresql-2026-12-01_020002.log", line + "6\n");
  std::vector<LogEvent> newer;
  read_all(at, newer);
  ASSERT_EQ(newer.size(), 1u);
  EXPECT_EQ(newer[0].message, line + "6");
  fs::remove_all(dir);
}

// A stream read on across rotations (common/log_files.h): every line once, in order, with the
// offsets it had before its file was rotated; expired files are skipped, not an error.
TEST(RotatedStream, ReadsOnAcrossRotationsWithoutLossOrDoubles) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("wg-observe-rot-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "proxy.log").string();
  int written = 0;
  auto write_lines = [&](int n) {
    std::ofstream out(path, std::ios::app);
    for (int i = 0; i < n; ++i, ++written)
      out << R"({"event":"connect","n":)" << written << R"(,"time":"2026-11-30T21:00:00.000Z"})"
          << "\n";
  };
  const LogStreamSource source{"prx-1", path, LogFormat::kJsonTime};
  // Reads from `at` to the end (small reads, so a read stops inside a file too).
  auto read_all = [&](ReadPosition at, std::vector<LogEvent>& out) {
    for (int guard = 0; guard < 1000; ++guard) {
      auto chunk = read_events(source, at, 100);
      EXPECT_TRUE(chunk.ok());
      if (!chunk.ok()) return at;
      out.insert(out.end(), chunk->events.begin(), chunk->events.end());
      at = chunk->next;
      if (chunk->end_of_file) return at;
    }
    ADD_FAILURE() << "no end";
    return at;
  };
  auto numbers = [](const std::vector<LogEvent>& events) {
    std::vector<int> n;
    for (const auto& e : events)
      n.push_back(nlohmann::json::parse(e.message)["n"].get<int>());
    return n;
  };
  auto sequence = [](int from, int to) {
    std::vector<int> v;
    for (int i = from; i < to; ++i)
      v.push_back(i);
    return v;
  };

  write_lines(10);
  std::vector<LogEvent> first;
  const ReadPosition after_first = read_all({}, first);
  EXPECT_EQ(numbers(first), sequence(0, 10));
  write_lines(5);
  ASSERT_TRUE(rotate_log_file(path, 5).ok());
  write_lines(5);
  ASSERT_TRUE(rotate_log_file(path, 5).ok());
  write_lines(5);
  // On from where the first read stopped: the 15 new lines, once each.
  std::vector<LogEvent> rest;
  read_all(after_first, rest);
  EXPECT_EQ(numbers(rest), sequence(10, 25));
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.front().offset, after_first.offset);
  // From the start: all 25, and the first 10 keep their offsets (event ids) after rotation.
  std::vector<LogEvent> all;
  read_all({}, all);
  EXPECT_EQ(numbers(all), sequence(0, 25));
  ASSERT_EQ(all.size(), 25u);
  for (std::size_t i = 0; i < first.size(); ++i)
    EXPECT_EQ(all[i].offset, first[i].offset) << i;
  for (std::size_t i = 1; i < all.size(); ++i)
    EXPECT_GT(all[i].offset, all[i - 1].offset) << i;
  // Keep 1: the older files go; a read from 0 starts at the oldest file left.
  ASSERT_TRUE(rotate_log_file(path, 1).ok());
  write_lines(1);
  const auto segments = log_segments(path);
  ASSERT_EQ(segments.size(), 2u);  // one rotated file and the current one
  EXPECT_EQ(segments[1].start, segments[0].start + segments[0].size);
  std::vector<LogEvent> kept;
  read_all({}, kept);
  EXPECT_EQ(numbers(kept), sequence(20, 26));
  EXPECT_EQ(kept.front().offset, all[20].offset);
  fs::remove_all(dir);
}

TEST_F(LogFileTest, MissingFileIsEmptyAndGroupsAreNamedAsOnAws) {
  auto chunk = read_events({"s", path_ + ".missing", LogFormat::kJsonTime}, {});
  ASSERT_TRUE(chunk.ok());
  EXPECT_TRUE(chunk->events.empty());
  write("{\"timestamp\":\"2026-11-30T21:00:01.000Z\"}\n");
  StackLogLayout layout;
  layout.function_log = path_;
  layout.proxy_log = path_ + ".proxy";
  layout.postgres_log = path_ + ".pg";
  layout.proxy_stream = "prx-0123456789abcdef0";
  auto groups = stack_log_groups(layout);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].name, "/aws/lambda/aurora-writer-lambda");
  EXPECT_EQ(groups[1].name, "/aws/rds/cluster/my-aurora-cluster/postgresql");
  EXPECT_EQ(groups[2].name, "/aws/rds/proxy/aurora-write-proxy");
  EXPECT_EQ(groups[2].streams[0].name, "prx-0123456789abcdef0");
  EXPECT_EQ(groups[1].streams[0].name, "my-aurora-cluster-instance-1");
  const std::string& lambda_stream = groups[0].streams[0].name;
  EXPECT_EQ(lambda_stream.substr(0, 20), "2026/11/30/[$LATEST]");
  EXPECT_EQ(lambda_stream.size(), 20u + 32u);
  EXPECT_EQ(stack_log_groups(layout)[0].streams[0].name, lambda_stream);  // stable
}

// ---- regex ----

TEST(Regex, Matches) {
  struct Case {
    const char* pattern;
    std::string text;  // owned: the 5000-byte case's text is a temporary
    bool want;
  };
  const Case cases[] = {
      {"authentication failed", "x: IAM authentication failed for user", true},
      {"authentication failed", "authentication  failed", false},
      {"^new", "new connection", true},
      {"^connection", "new connection", false},
      {"denied$", "permission denied", true},
      {"(?i)PERMISSION", "permission denied", true},
      {"PERMISSION", "permission denied", false},
      {"a[0-9]{2,3}b", "xa12b", true},
      {"a[0-9]{2,3}b", "xa1b", false},
      {"a[^0-9]+b", "a--b", true},
      {"\\d+ ms", "Duration: 12 ms", true},
      {"\\w+@\\w+", "lambda_writer@mydb", true},
      {"cat|dog", "hotdog", true},
      {"(ab)*c", "ababc", true},
      {"colou?r", "color", true},
      {"\\/path\\.", "a /path.", true},
      {"((((a*)*)*)*)*b", std::string(5000, 'a'), false},
      {"", "anything", true},
  };
  for (const auto& c : cases) {
    auto re = Regex::compile(c.pattern);
    ASSERT_TRUE(re.ok()) << c.pattern << ": " << re.error().message();
    EXPECT_EQ(re->search(c.text), c.want) << c.pattern;
  }
}

TEST(Regex, RefusesWhatItCannotDo) {
  for (const char* bad : {"(", "a)", "[a", "*a", "a{5,2}", "\\1", "(?=x)", "a{1001}", "\\"}) {
    auto re = Regex::compile(bad);
    EXPECT_FALSE(re.ok()) << bad;
    if (!re.ok()) {
      EXPECT_THAT(re.error().message(), HasSubstr("regular expression")) << bad;
    }
  }
}

// ---- filter patterns ----

TEST(FilterPattern, Terms) {
  const std::string line = R"(new connection from 1.2.3.4 refused: IAM authentication failed)";
  struct Case {
    const char* pattern;
    bool want;
  };
  const Case cases[] = {
      {"", true},
      {"refused", true},
      {"refused IAM", true},
      {"refused ok", false},
      {"\"authentication failed\"", true},
      {"\"failed authentication\"", false},
      {"?ok ?refused", true},
      {"?ok ?timeout", false},
      {"refused -IAM", false},
      {"refused -timeout", true},
      {"%auth[a-z]+ failed%", true},
      {"REFUSED", false},
  };
  for (const auto& c : cases) {
    auto p = FilterPattern::parse(c.pattern);
    ASSERT_TRUE(p.ok()) << c.pattern << ": " << p.error().message();
    EXPECT_EQ(p->matches(line), c.want) << c.pattern;
  }
  EXPECT_FALSE(FilterPattern::parse("{ $.user = \"x\" }").ok());
  EXPECT_FALSE(FilterPattern::parse("\"unterminated").ok());
  EXPECT_FALSE(FilterPattern::parse("%unterminated").ok());
}

// ---- Logs Insights ----

// The events of a run with 3 refused logins, 2 denied SELECTs and 6 connection attempts.
struct Fixture {
  struct Line {
    EpochMillis t;
    std::string message;
    std::string stream;
  };
  std::vector<Line> lines = {
      {kT0 + 1000, R"({"message":"new connection from a authenticated"})", "proxy"},
      {kT0 + 2000, R"({"message":"new connection from b refused: IAM authentication failed"})",
       "proxy"},
      {kT0 + 3000, R"({"message":"new connection from c refused: IAM authentication failed"})",
       "proxy"},
      {kT0 + 301000, R"({"message":"new connection from d refused: IAM authentication failed"})",
       "proxy"},
      {kT0 + 302000, R"({"message":"new connection from e authenticated"})", "proxy"},
      {kT0 + 302500, "ERROR:  permission denied for table test_table", "pg"},
      {kT0 + 302600, "STATEMENT:  SELECT * FROM foo.test_table", "pg"},
      {kT0 + 303000, R"({"message":"new connection from f authenticated"})", "proxy"},
      {kT0 + 303500, "ERROR:  permission denied for table test_table", "pg"},
      {kT0 + 600000, R"({"event":"pin"})", "proxy"},
  };

  QueryOutput run(const std::string& text, std::size_t max_rows = 10000) {
    auto parsed = InsightsQuery::parse(text);
    if (auto* e = std::get_if<QueryParseError>(&parsed)) {
      ADD_FAILURE() << text << ": " << e->message;
      return {};
    }
    QueryRun query_run(std::get<InsightsQuery>(parsed));
    for (const auto& l : lines)
      query_run.add({l.t, l.message, l.stream, "000000000000:/g"});
    return query_run.finish(max_rows);
  }
};

TEST(Insights, TheDocumentsFailedAuthenticationQuery) {
  Fixture f;
  QueryOutput out = f.run(
      "fields @timestamp, @message\n| filter @message like /authentication failed/\n"
      "| sort @timestamp desc\n| limit 100");
  ASSERT_EQ(out.rows.size(), 3u);
  EXPECT_THAT(out.rows[0], ElementsAre(Pair("@timestamp", "2026-11-30 21:05:01.000"),
                                       Pair("@message", f.lines[3].message)));
  EXPECT_THAT(out.rows[2], ElementsAre(Pair("@timestamp", "2026-11-30 21:00:02.000"),
                                       Pair("@message", f.lines[1].message)));
  EXPECT_EQ(out.statistics.records_matched, 3u);
  EXPECT_EQ(out.statistics.records_scanned, 10u);
}

TEST(Insights, TheDocumentsPermissionDeniedQuery) {
  Fixture f;
  QueryOutput out = f.run(
      "fields @timestamp, @message\n| filter @message like /permission denied/\n"
      "| sort @timestamp desc\n| limit 100");
  ASSERT_EQ(out.rows.size(), 2u);
  EXPECT_THAT(out.rows[0], ElementsAre(Pair("@timestamp", "2026-11-30 21:05:03.500"),
                                       Pair("@message", f.lines[8].message)));
}

TEST(Insights, TheDocumentsConnectionsPerFiveMinutesQuery) {
  Fixture f;
  QueryOutput out = f.run(
      "fields @timestamp, @message\n| filter @message like /new connection/\n"
      "| stats count() by bin(5m)");
  ASSERT_EQ(out.rows.size(), 2u);
  EXPECT_THAT(out.rows[0],
              ElementsAre(Pair("bin(5m)", "2026-11-30 21:00:00.000"), Pair("count()", "3")));
  EXPECT_THAT(out.rows[1],
              ElementsAre(Pair("bin(5m)", "2026-11-30 21:05:00.000"), Pair("count()", "3")));
}

TEST(Insights, MoreOfTheSubset) {
  Fixture f;
  auto out = f.run("stats count(*) as n by @logStream | sort n desc");
  ASSERT_EQ(out.rows.size(), 2u);
  EXPECT_THAT(out.rows[0], ElementsAre(Pair("@logStream", "proxy"), Pair("n", "7")));
  EXPECT_THAT(out.rows[1], ElementsAre(Pair("@logStream", "pg"), Pair("n", "3")));

  out = f.run("filter @message like \"authenticated\" | sort @timestamp asc | limit 2 # first two");
  ASSERT_EQ(out.rows.size(), 2u);
  EXPECT_EQ(out.rows[0][1].second, f.lines[0].message);  // default fields: @timestamp, @message
  EXPECT_EQ(out.rows[1][1].second, f.lines[4].message);

  out = f.run(
      "fields @logStream | filter (@message like /denied/ or @message =~ /(?i)STATEMENT/) and "
      "@logStream = \"pg\" and not @message like /xyz/");
  ASSERT_EQ(out.rows.size(), 3u);
  EXPECT_THAT(out.rows[0], ElementsAre(Pair("@logStream", "pg")));

  out = f.run("filter @message like /nothing matches this/ | stats count()");
  ASSERT_EQ(out.rows.size(), 1u);
  EXPECT_THAT(out.rows[0], ElementsAre(Pair("count()", "0")));

  out = f.run("fields @message | limit 10000", 4);  // the caller's row cap
  EXPECT_EQ(out.rows.size(), 4u);
}

TEST(Insights, MalformedQueries) {
  struct Case {
    const char* query;
    const char* says;
  };
  const Case cases[] = {
      {"", "empty"},
      {"fields @timestamp |", "unexpected end of query"},
      {"filter @message like", "unexpected end of query"},
      {"filter @message like /unterminated", "unterminated regular expression"},
      {"filter @message like /(/", "regular expression"},
      {"limit 0", "a limit from 1 to 10000"},
      {"limit 10001", "a limit from 1 to 10000"},
      {"stats sum(@x)", "count"},
      {"stats count() by bin(5parsecs)", "a period"},
      {"-- Find failed authentication attempts\nfields @message", "unexpected symbol"},
      {"parse @message \"* *\" as a, b", "not served by this local endpoint"},
      {"fields @a\n| frobnicate", "at line 2 and position 3"},
  };
  for (const auto& c : cases) {
    auto parsed = InsightsQuery::parse(c.query);
    auto* e = std::get_if<QueryParseError>(&parsed);
    ASSERT_NE(e, nullptr) << c.query;
    EXPECT_THAT(e->message, HasSubstr(c.says)) << c.query;
    EXPECT_LE(e->start, e->end);
  }
}

}  // namespace
}  // namespace writegate::observe
