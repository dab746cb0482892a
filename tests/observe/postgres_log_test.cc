// PostgreSQL's own log rotation, as the stack configures it (localpg::rotating_log_config), read
// as the log group /aws/rds/cluster/<cluster>/postgresql reads it: a real server with a 4 kB
// rotation size logs every statement for a few seconds; a follower reading on as `writegate logs
// tail --follow` does, and a read from the start afterwards, each find every statement exactly
// once across several files, every file 0600; after the oldest are removed, the rest keep their
// offsets.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <thread>

#include "common/log_files.h"
#include "localpg/cluster.h"
#include "observe/logs.h"
#include "pgclient/pgclient.h"

namespace writegate::observe {
namespace {

constexpr std::string_view kMarker = "statement: SELECT 'wg-rotation-";

// The statement numbers in the events, counted.
void count_markers(const std::vector<LogEvent>& events, std::map<int, int>& seen) {
  for (const LogEvent& e : events) {
    const std::size_t at = e.message.find(kMarker);
    if (at == std::string::npos) continue;
    seen[std::stoi(e.message.substr(at + kMarker.size()))]++;
  }
}

TEST(PostgresLogRotation, EveryStatementOnceAcrossRotatedFiles) {
  localpg::ClusterOptions options;
  options.extra_config = localpg::rotating_log_config("log", 4);
  options.extra_config.push_back("log_statement = 'all'");
  auto pg = localpg::Cluster::start(options);
  ASSERT_TRUE(pg.ok()) << pg.error().message();
  const std::string dir = (*pg)->data_dir() + "/log";
  const LogStreamSource source{"my-aurora-cluster-instance-1", dir, LogFormat::kPostgres,
                               LogFiles::kPostgresCollector};
  auto conn = pgclient::Connection::open((*pg)->admin_dsn());
  ASSERT_TRUE(conn.ok()) << conn.error().message();

  // The follower reads on in small reads while the server writes and rotates.
  std::atomic<bool> writing{true};
  std::map<int, int> followed;
  ReadPosition follower_at;
  std::thread follower([&] {
    for (;;) {
      const bool last_round = !writing.load();
      for (;;) {
        auto chunk = read_events(source, follower_at, 512);
        if (!chunk.ok()) return;
        count_markers(chunk->events, followed);
        follower_at = chunk->next;
        if (chunk->end_of_file) break;
      }
      if (last_round) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  int statements = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(4500);
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(conn->exec("SELECT 'wg-rotation-" + std::to_string(statements) + "'").ok());
    ++statements;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // The collector writes asynchronously: wait until the last statement is in a file.
  std::map<int, int> all;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::vector<LogEvent> events;
  while (std::chrono::steady_clock::now() < deadline) {
    events.clear();
    ReadPosition at;
    for (int guard = 0; guard < 100000; ++guard) {
      auto chunk = read_events(source, at, 64 * 1024);
      ASSERT_TRUE(chunk.ok()) << chunk.error().message();
      events.insert(events.end(), chunk->events.begin(), chunk->events.end());
      at = chunk->next;
      if (chunk->end_of_file) break;
    }
    all.clear();
    count_markers(events, all);
    if (all.count(statements - 1)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  writing = false;
  follower.join();

  const std::vector<LogSegment> files = postgres_log_segments(dir);
  std::cout << statements << " statements, " << events.size() << " lines in " << files.size()
            << " files\n";
  EXPECT_GE(files.size(), 3u) << statements << " statements";
  for (const LogSegment& f : files) {
    struct stat st {};
    ASSERT_EQ(::stat(f.path.c_str(), &st), 0) << f.path;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f.path;
  }
  ASSERT_GT(statements, 100);
  EXPECT_EQ(all.size(), static_cast<std::size_t>(statements));
  EXPECT_EQ(followed.size(), static_cast<std::size_t>(statements));
  for (int i = 0; i < statements; ++i) {
    EXPECT_EQ(all[i], 1) << "statement " << i << " in the read from the start";
    EXPECT_EQ(followed[i], 1) << "statement " << i << " by the follower";
  }
  for (std::size_t i = 1; i < events.size(); ++i)
    EXPECT_GT(events[i].offset, events[i - 1].offset) << i;

  // The cap: the newest two files stay, with the offsets their lines had.
  ASSERT_TRUE(prune_postgres_logs(dir, 2).ok());
  const std::vector<LogSegment> kept = postgres_log_segments(dir);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].path, files[files.size() - 2].path);
  auto from_start = read_events(source, {}, 1024);
  ASSERT_TRUE(from_start.ok());
  ASSERT_FALSE(from_start->events.empty());
  const uint64_t first_kept = from_start->events.front().offset;
  EXPECT_EQ(first_kept, kept[0].start);
  const auto same = std::find_if(events.begin(), events.end(),
                                 [&](const LogEvent& e) { return e.offset == first_kept; });
  ASSERT_NE(same, events.end());
  EXPECT_EQ(same->message, from_start->events.front().message);
}

}  // namespace
}  // namespace writegate::observe
