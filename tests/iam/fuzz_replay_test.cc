// Replays every file of a fuzz target's committed corpus through its LLVMFuzzerTestOneInput under
// the normal compiler, so the corpus is exercised even without clang/libFuzzer.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

TEST(FuzzReplay, Corpus) {
  const char* root = std::getenv("WRITEGATE_SOURCE_DIR");
  ASSERT_NE(root, nullptr) << "WRITEGATE_SOURCE_DIR is not set";
  std::filesystem::path dir = std::filesystem::path(root) / "fuzz/corpus" / WRITEGATE_FUZZ_TARGET;
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    EXPECT_EQ(LLVMFuzzerTestOneInput(bytes.data(), bytes.size()), 0) << entry.path();
    ++files;
  }
  EXPECT_GE(files, 5u) << "corpus " << dir << " is too small";
}
