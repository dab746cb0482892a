// A daemon's own output under a cap (rotate_output_if_full, LogKeeper): the descriptors that
// write to the file move to a fresh one past the cap, at most `keep` rotated files stay, and
// the newest lines are all there, in order.
#include "common/log_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace writegate {
namespace {

namespace fs = std::filesystem;

class OutputCapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("wg-output-cap-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "endpoint.out").string();
    // As `writegate up` starts a daemon: the file appended to, on two descriptors.
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    ASSERT_GE(fd_, 0);
    fd2_ = ::dup(fd_);
  }
  void TearDown() override {
    ::close(fd_);
    ::close(fd2_);
    fs::remove_all(dir_);
  }
  void line(int fd, int n) {
    const std::string text = "line " + std::to_string(n) + std::string(90, '.') + "\n";
    ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  // Every file of the output, oldest first, and the line numbers in them.
  std::vector<int> numbers() {
    std::vector<int> out;
    for (const LogSegment& s : log_segments(path_)) {
      std::ifstream in(s.path);
      for (std::string text; std::getline(in, text);)
        out.push_back(std::stoi(text.substr(5)));
    }
    return out;
  }
  fs::path dir_;
  std::string path_;
  int fd_ = -1;
  int fd2_ = -1;
};

TEST_F(OutputCapTest, RotatesPastTheCapKeepingTheNewestFiles) {
  constexpr uint64_t kCap = 1000;  // about 10 lines
  int rotations = 0;
  for (int n = 0; n < 100; ++n) {
    line(n % 2 ? fd_ : fd2_, n);  // both descriptors (stdout and stderr)
    auto rotated = rotate_output_if_full(path_, kCap, 2, {fd_, fd2_});
    ASSERT_TRUE(rotated.ok()) << rotated.error().message();
    rotations += *rotated ? 1 : 0;
  }
  EXPECT_GE(rotations, 8);
  const auto segments = log_segments(path_);
  ASSERT_EQ(segments.size(), 3u);  // 2 rotated and the current one
  for (const LogSegment& s : segments) {
    EXPECT_LE(s.size, kCap + 100) << s.path;
    struct stat st {};
    ASSERT_EQ(::stat(s.path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << s.path;
  }
  // The newest lines, all of them, in order, up to the last.
  const std::vector<int> kept = numbers();
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(kept.back(), 99);
  for (std::size_t i = 1; i < kept.size(); ++i)
    EXPECT_EQ(kept[i], kept[i - 1] + 1);
  EXPECT_GE(kept.size(), 20u);
}

TEST_F(OutputCapTest, LeavesAFileItDoesNotWriteAlone) {
  for (int n = 0; n < 20; ++n)
    line(fd_, n);
  // Another file of that name (moved away and replaced by someone else): not ours to rotate.
  fs::rename(path_, path_ + ".moved");
  std::ofstream(path_) << "someone else's\n";
  auto rotated = rotate_output_if_full(path_, 100, 2, {fd_, fd2_});
  ASSERT_TRUE(rotated.ok());
  EXPECT_FALSE(*rotated);
  EXPECT_EQ(log_segments(path_).size(), 1u);
}

TEST_F(OutputCapTest, TheKeeperHoldsTheCapOnItsOwn) {
  constexpr uint64_t kCap = 2000;
  {
    LogKeeper keeper(std::chrono::milliseconds(5), [&] {
      (void)rotate_output_if_full(path_, kCap, 2, {fd_, fd2_});
    });
    for (int n = 0; n < 300; ++n) {
      line(fd_, n);
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a last look
  }
  const auto segments = log_segments(path_);
  EXPECT_EQ(segments.size(), 3u);
  EXPECT_LE(segments.back().size, kCap);  // the keeper looked after the last line
  const std::vector<int> kept = numbers();
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(kept.back(), 299);
  for (std::size_t i = 1; i < kept.size(); ++i)
    EXPECT_EQ(kept[i], kept[i - 1] + 1);
}

}  // namespace
}  // namespace writegate
