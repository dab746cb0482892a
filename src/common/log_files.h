// Log files that rotate by size without losing their place: the file being written is PATH; a
// full one is renamed PATH.<20 digits>, the digits being the offset of its first byte in the
// whole stream (every byte the log ever held, in order). So a reader that remembers a stream
// offset finds the same line again after any number of rotations, and the file being written
// starts where the newest rotated one ends. Only the `keep` newest rotated files are kept.
//
//   // the writer, under its own lock, before a write that would pass the cap:
//   if (size + line.size() > max_bytes) WG_RETURN_IF_ERROR(rotate_log_file(path, keep));
//   // the reader:
//   for (const LogSegment& s : log_segments(path)) ... s.path, s.start ...
//
// The writer renames and opens the new file while no line is being written (under its lock),
// so a rotated file never grows again: offsets in it stay valid.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"

namespace writegate {

struct LogSegment {
  std::string path;    // PATH.<start> or PATH itself (the last one)
  uint64_t start = 0;  // stream offset of its first byte
  uint64_t size = 0;   // bytes now (0 when missing)
};

// The stream's files, oldest first; the last is PATH (listed even when it does not exist).
std::vector<LogSegment> log_segments(const std::string& path);

// Renames PATH to PATH.<its start>, then removes the oldest rotated files beyond `keep`
// (at least 1 is kept: it dates the file written next). PATH missing: nothing to do.
Status rotate_log_file(const std::string& path, int keep);

// PostgreSQL rotates its own log (logging_collector): it writes
// DIR/postgresql-YYYY-MM-DD_HHMMSS.log (log_filename kPostgresLogFilename, log_timezone UTC) and,
// when that file passes log_rotation_size, starts a file named by the time of that moment. Its
// files cannot be named by offset, so a stream offset there is the second in the file's name times
// 2^32 plus the byte in that file: the same while the file lives, larger in every later file,
// whatever older file is removed. Within one second PostgreSQL goes on in the same file (same name,
// appended); the collector opens the next file, then closes the old one, so a file is finished
// once a later one has bytes. A file's bytes past 4 GiB are not read.
inline constexpr std::string_view kPostgresLogFilename = "postgresql-%Y-%m-%d_%H%M%S.log";
inline constexpr int kPostgresSecondShift = 32;

// The files of the folder named as kPostgresLogFilename, oldest first (none: empty).
std::vector<LogSegment> postgres_log_segments(const std::string& dir);
// The second (Unix time) in such a file name; -1 when it is not one.
int64_t postgres_log_file_second(std::string_view file_name);
// Removes the oldest such files beyond `keep` (at least 1: the newest is being written).
Status prune_postgres_logs(const std::string& dir, int keep);

// Opens PATH for appending with `mode` (created so; an existing file is set to it), never
// following a symlink at PATH. Returns the descriptor (close-on-exec).
Result<int> open_log_file(const std::string& path, unsigned mode);

// A daemon's own stdout and stderr under a cap: when PATH (opened with O_APPEND, as `writegate
// up` starts its daemons) has passed max_bytes and some of `fds` write to it, it is rotated
// (rotate_log_file: PATH.<offset>, the `keep` newest kept) and a fresh PATH takes those fds
// (dup2: a write in flight ends in the old file, the next goes to the new one). Nothing is done
// when none of `fds` is PATH's file (someone else's). True when it rotated.
Result<bool> rotate_output_if_full(const std::string& path, uint64_t max_bytes, int keep,
                                   const std::vector<int>& fds = {1, 2});

// Runs `chore` every `interval` on a thread of its own (first at once), until destroyed.
//
//   LogKeeper keeper(std::chrono::seconds(1), [&] { (void)rotate_output_if_full(out, cap, 2); });
class LogKeeper {
 public:
  LogKeeper(std::chrono::milliseconds interval, std::function<void()> chore);
  ~LogKeeper();
  LogKeeper(const LogKeeper&) = delete;
  LogKeeper& operator=(const LogKeeper&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// A Lambda execution environment's log stream as a file of the function's log folder: the
// stream "2026/11/30/[$LATEST]<32 hex>" is the file "2026-11-30.<32 hex>.log".
std::string lambda_stream_file_name(std::string_view stream_name);   // empty: not such a name
std::string lambda_stream_name_of_file(std::string_view file_name);  // empty: not such a file

}  // namespace writegate
