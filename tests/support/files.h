// Test support: where the built programs are, and a whole file as a string.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace writegate::testing {

// The folder of the built programs: WRITEGATE_BIN_DIR (CTest sets it), else ./bin.
inline std::string bin_dir() {
  const char* dir = std::getenv("WRITEGATE_BIN_DIR");
  return dir ? dir : "bin";
}

// The file's bytes; empty when it cannot be read.
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace writegate::testing
