// Replays a fuzz target's committed corpus (fuzz/corpus/<target>/) through its
// LLVMFuzzerTestOneInput under the normal compiler: the target must not crash on any file.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

TEST(FuzzCorpusReplay, EveryFileRuns) {
  const char* src = std::getenv("WRITEGATE_SOURCE_DIR");
  ASSERT_NE(src, nullptr) << "WRITEGATE_SOURCE_DIR is set by tests/CMakeLists.txt";
  std::filesystem::path dir =
      std::filesystem::path(src) / "fuzz" / "corpus" / WRITEGATE_FUZZ_TARGET;
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
    EXPECT_EQ(LLVMFuzzerTestOneInput(bytes.data(), bytes.size()), 0) << entry.path();
    ++files;
  }
  EXPECT_GE(files, 5) << "the corpus of " << WRITEGATE_FUZZ_TARGET << " is too small";
}

}  // namespace
