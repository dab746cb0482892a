#include "common/log_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace writegate {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kDigits = 20;

uint64_t size_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  return static_cast<uint64_t>(st.st_size);
}

// The rotated files of PATH, oldest first.
std::vector<LogSegment> rotated(const std::string& path) {
  std::vector<LogSegment> out;
  const fs::path p(path);
  const std::string prefix = p.filename().string() + ".";
  std::error_code ec;
  fs::directory_iterator it(p.has_parent_path() ? p.parent_path() : fs::path("."), ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() != prefix.size() + kDigits || name.compare(0, prefix.size(), prefix) != 0) {
      continue;
    }
    const std::string digits = name.substr(prefix.size());
    LogSegment s;
    const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), s.start);
    if (err != std::errc() || end != digits.data() + digits.size()) continue;
    s.path = it->path().string();
    s.size = size_of(s.path);
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(),
            [](const LogSegment& a, const LogSegment& b) { return a.start < b.start; });
  return out;
}

}  // namespace

std::vector<LogSegment> log_segments(const std::string& path) {
  std::vector<LogSegment> out = rotated(path);
  LogSegment current;
  current.path = path;
  current.start = out.empty() ? 0 : out.back().start + out.back().size;
  current.size = size_of(path);
  out.push_back(std::move(current));
  return out;
}

Status rotate_log_file(const std::string& path, int keep) {
  const std::vector<LogSegment> segments = log_segments(path);
  const LogSegment& current = segments.back();
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  char digits[kDigits + 1];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(current.start));
  const std::string target = path + "." + digits;
  if (::rename(path.c_str(), target.c_str()) != 0) {
    return Error::io("cannot rotate " + path + ": " + std::strerror(errno));
  }
  std::vector<LogSegment> old = rotated(path);
  const std::size_t kept = static_cast<std::size_t>(std::max(1, keep));
  for (std::size_t i = 0; i + kept < old.size(); ++i)
    ::unlink(old[i].path.c_str());
  return {};
}

int64_t postgres_log_file_second(std::string_view name) {
  // "postgresql-" "YYYY-MM-DD_HHMMSS" ".log"
  constexpr std::string_view kPrefix = "postgresql-";
  constexpr std::string_view kSuffix = ".log";
  if (name.size() != kPrefix.size() + 17 + kSuffix.size() ||
      name.substr(0, kPrefix.size()) != kPrefix ||
      name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return -1;
  }
  const std::string_view t = name.substr(kPrefix.size(), 17);
  auto number = [&](std::size_t pos, std::size_t len, int& out) {
    const auto [end, err] = std::from_chars(t.data() + pos, t.data() + pos + len, out);
    return err == std::errc() && end == t.data() + pos + len;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (t[4] != '-' || t[7] != '-' || t[10] != '_' || !number(0, 4, y) || !number(5, 2, mo) ||
      !number(8, 2, d) || !number(11, 2, h) || !number(13, 2, mi) || !number(15, 2, sec) ||
      h > 23 || mi > 59 || sec > 60) {
    return -1;
  }
  using namespace std::chrono;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || y < 1970) return -1;
  return sys_days{ymd}.time_since_epoch().count() * 86400 + h * 3600 + mi * 60 + sec;
}

std::vector<LogSegment> postgres_log_segments(const std::string& dir) {
  std::vector<LogSegment> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const int64_t second = postgres_log_file_second(it->path().filename().string());
    if (second < 0) continue;
    LogSegment s;
    s.path = it->path().string();
    s.start = static_cast<uint64_t>(second) << kPostgresSecondShift;
    s.size = std::min<uint64_t>(size_of(s.path), uint64_t{1} << kPostgresSecondShift);
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(),
            [](const LogSegment& a, const LogSegment& b) { return a.start < b.start; });
  return out;
}

Status prune_postgres_logs(const std::string& dir, int keep) {
  const std::vector<LogSegment> files = postgres_log_segments(dir);
  const std::size_t kept = static_cast<std::size_t>(std::max(1, keep));
  for (std::size_t i = 0; i + kept < files.size(); ++i) {
    if (::unlink(files[i].path.c_str()) != 0 && errno != ENOENT) {
      return Error::io("cannot remove " + files[i].path + ": " + std::strerror(errno));
    }
  }
  return {};
}

Result<int> open_log_file(const std::string& path, unsigned mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                        static_cast<mode_t>(mode));
  if (fd < 0) return Error::io("cannot open log file " + path + ": " + std::strerror(errno));
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) {
    const int saved = errno;
    ::close(fd);
    return Error::io("cannot set the mode of " + path + ": " + std::strerror(saved));
  }
  return fd;
}

Result<bool> rotate_output_if_full(const std::string& path, uint64_t max_bytes, int keep,
                                   const std::vector<int>& fds) {
  struct stat named {};
  if (::lstat(path.c_str(), &named) != 0 || !S_ISREG(named.st_mode) ||
      static_cast<uint64_t>(named.st_size) <= max_bytes) {
    return false;
  }
  // Only the descriptors that write to this very file (stdout may be a pipe, say).
  std::vector<int> ours;
  for (const int fd : fds) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_dev == named.st_dev && st.st_ino == named.st_ino) {
      ours.push_back(fd);
    }
  }
  if (ours.empty()) return false;  // written by someone else: not ours to rotate
  WG_RETURN_IF_ERROR(rotate_log_file(path, keep));
  WG_ASSIGN_OR_RETURN(const int fresh,
                      open_log_file(path, static_cast<unsigned>(named.st_mode & 0777)));
  for (const int fd : ours) {
    if (::dup2(fresh, fd) < 0) {
      const int saved = errno;
      ::close(fresh);
      return Error::io("cannot move output to the new " + path + ": " + std::strerror(saved));
    }
  }
  ::close(fresh);
  return true;
}

LogKeeper::LogKeeper(std::chrono::milliseconds interval, std::function<void()> chore)
    : thread_([this, interval, chore = std::move(chore)] {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
          lock.unlock();
          chore();
          lock.lock();
          cv_.wait_for(lock, interval, [this] { return stopping_; });
        }
      }) {}

LogKeeper::~LogKeeper() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

namespace {

bool all_of(std::string_view s, std::string_view set) {
  return !s.empty() && s.find_first_not_of(set) == std::string_view::npos;
}

constexpr std::string_view kDecimal = "0123456789";
constexpr std::string_view kHex = "0123456789abcdef";
constexpr std::string_view kLatest = "/[$LATEST]";

}  // namespace

std::string lambda_stream_file_name(std::string_view stream) {
  // "YYYY/MM/DD/[$LATEST]" + 32 hex
  if (stream.size() != 10 + kLatest.size() + 32 || stream[4] != '/' || stream[7] != '/' ||
      stream.substr(10, kLatest.size()) != kLatest || !all_of(stream.substr(0, 4), kDecimal) ||
      !all_of(stream.substr(5, 2), kDecimal) || !all_of(stream.substr(8, 2), kDecimal) ||
      !all_of(stream.substr(10 + kLatest.size()), kHex)) {
    return {};
  }
  std::string date(stream.substr(0, 10));
  date[4] = '-';
  date[7] = '-';
  return date + "." + std::string(stream.substr(10 + kLatest.size())) + ".log";
}

std::string lambda_stream_name_of_file(std::string_view file) {
  // "YYYY-MM-DD." + 32 hex + ".log"
  if (file.size() != 11 + 32 + 4 || file[4] != '-' || file[7] != '-' || file[10] != '.' ||
      file.substr(43) != ".log" || !all_of(file.substr(0, 4), kDecimal) ||
      !all_of(file.substr(5, 2), kDecimal) || !all_of(file.substr(8, 2), kDecimal) ||
      !all_of(file.substr(11, 32), kHex)) {
    return {};
  }
  std::string date(file.substr(0, 10));
  date[4] = '/';
  date[7] = '/';
  return date + std::string(kLatest) + std::string(file.substr(11, 32));
}

}  // namespace writegate
