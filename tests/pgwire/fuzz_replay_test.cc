// Replays a committed fuzz corpus through its target's LLVMFuzzerTestOneInput under the normal
// compiler, so that every corpus entry (seeds and any crash reproducer added later) runs in CTest.
// WG_CORPUS_DIR is set per target by tests/pgwire/CMakeLists.txt.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

TEST(FuzzCorpusReplay, EveryFileRuns) {
  std::filesystem::path dir(WG_CORPUS_DIR);
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    SCOPED_TRACE(entry.path().string());
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // A broken invariant aborts the process, which fails this test.
    EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
              0);
    ++files;
  }
  EXPECT_GE(files, 5u) << "the corpus should hold the committed seeds";
}

}  // namespace
