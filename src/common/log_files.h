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

#include <cstdint>
#include <string>
#include <string_view>
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

// Opens PATH for appending with `mode` (created so; an existing file is set to it), never
// following a symlink at PATH. Returns the descriptor (close-on-exec).
Result<int> open_log_file(const std::string& path, unsigned mode);

// A Lambda execution environment's log stream as a file of the function's log folder: the
// stream "2026/11/30/[$LATEST]<32 hex>" is the file "2026-11-30.<32 hex>.log".
std::string lambda_stream_file_name(std::string_view stream_name);   // empty: not such a name
std::string lambda_stream_name_of_file(std::string_view file_name);  // empty: not such a file

}  // namespace writegate
