// `writegate package`: the zip's entries, modes and timestamps, bootstrap's interpreter and run
// path, the CA bundle (the Amazon Trust Services roots, or --ca-bundle), the same bytes for the
// same inputs, and the errors a user meets. The parsing of ldd's output is checked line by line.
// (That the zip runs in an empty root: package_root_test.cc.)
#include "deploy/package.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/process.h"
#include "support/files.h"

namespace writegate::deploy {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;

using writegate::testing::bin_dir;
using writegate::testing::read_file;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++n;
  return n;
}

// ---- ldd's output ------------------------------------------------------------------------------

TEST(ParseLddTest, AnExecutablesListing) {
  auto libs = parse_ldd(
      "\tlinux-vdso.so.1 (0x00007ffc1b7f2000)\n"
      "\tlibssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x00007f0c1c600000)\n"
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0c1c200000)\n"
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f0c1ca00000)\n");
  ASSERT_TRUE(libs.ok()) << libs.error().message();
  ASSERT_EQ(libs->size(), 3u);
  EXPECT_EQ((*libs)[0].name, "libssl.so.3");
  EXPECT_EQ((*libs)[0].path, "/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_FALSE((*libs)[0].interpreter);
  EXPECT_EQ((*libs)[1].name, "libc.so.6");
  EXPECT_EQ((*libs)[2].name, "ld-linux-x86-64.so.2");
  EXPECT_EQ((*libs)[2].path, "/lib64/ld-linux-x86-64.so.2");
  EXPECT_TRUE((*libs)[2].interpreter);
}

TEST(ParseLddTest, ALibrarysListingNamesTheLoaderWithAnArrow) {
  auto libs = parse_ldd(
      "\tlinux-vdso.so.1 (0x00007ffd3e5c4000)\n"
      "\tlibgssapi_krb5.so.2 => /lib/x86_64-linux-gnu/libgssapi_krb5.so.2 (0x00007f5e)\n"
      "\t/lib64/ld-linux-x86-64.so.2 => /lib64/ld-linux-x86-64.so.2 (0x00007f5e8c2b5000)\n");
  ASSERT_TRUE(libs.ok()) << libs.error().message();
  ASSERT_EQ(libs->size(), 2u);
  EXPECT_EQ((*libs)[1].name, "ld-linux-x86-64.so.2");
  EXPECT_EQ((*libs)[1].path, "/lib64/ld-linux-x86-64.so.2");
  EXPECT_TRUE((*libs)[1].interpreter);
}

TEST(ParseLddTest, AMissingLibraryOrAStaticFileIsAnError) {
  auto missing = parse_ldd(
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n\tlibfoo.so.1 => not found\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(missing.error().message(), "libfoo.so.1 is needed but not found on this machine");
  auto not_dynamic = parse_ldd("\tnot a dynamic executable\n");
  ASSERT_FALSE(not_dynamic.ok());
  EXPECT_THAT(not_dynamic.error().message(), HasSubstr("not a dynamically linked file"));
  ASSERT_FALSE(parse_ldd("\tstatically linked\n").ok());
}

TEST(MergeLibrariesTest, OneEntryPerNameInNameOrder) {
  auto merged = merge_libraries(
      {{{"libz.so.1", "/l/libz.so.1.2", false}, {"ld-linux-x86-64.so.2", "/l/ld.so", true}},
       {{"libpq.so.5", "/l/libpq.so.5.15", false},
        {"libz.so.1", "/l/libz.so.1.2", false},
        {"ld-linux-x86-64.so.2", "/l/ld.so", true}}});
  ASSERT_TRUE(merged.ok()) << merged.error().message();
  std::vector<std::string> names;
  for (const auto& l : *merged)
    names.push_back(l.name);
  EXPECT_THAT(names, ElementsAre("ld-linux-x86-64.so.2", "libpq.so.5", "libz.so.1"));
  EXPECT_TRUE((*merged)[0].interpreter);

  auto conflict = merge_libraries(
      {{{"libz.so.1", "/a/libz.so.1", false}}, {{"libz.so.1", "/b/libz.so.1", false}}});
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().message(),
            "two different files are both libz.so.1: /a/libz.so.1 and /b/libz.so.1");
}

TEST(HumanBytesTest, Units) {
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(7 * 1024 * 1024 + 838861), "7.8 MiB");
}

std::string elf_header(unsigned char elf_class, unsigned machine) {
  std::string header(64, '\0');
  header.replace(0, 4,
                 "\x7f"
                 "ELF");
  header[4] = static_cast<char>(elf_class);
  header[5] = 1;  // little-endian
  header[18] = static_cast<char>(machine & 0xff);
  header[19] = static_cast<char>(machine >> 8);
  return header;
}

TEST(ElfArchitectureTest, TheMachinesLambdaRunsAndNothingElse) {
  EXPECT_EQ(elf_lambda_architecture(elf_header(2, 62)).value(), "x86_64");
  EXPECT_EQ(elf_lambda_architecture(elf_header(2, 183)).value(), "arm64");
  EXPECT_EQ(elf_lambda_architecture(elf_header(2, 40)).error().message(),
            "ELF machine 40 is neither x86_64 nor arm64, what Lambda runs");
  EXPECT_EQ(elf_lambda_architecture(elf_header(1, 3)).error().message(),
            "not a 64-bit little-endian ELF file");
  EXPECT_EQ(elf_lambda_architecture("#!/bin/sh\necho hi\n").error().message(), "not an ELF file");
  EXPECT_EQ(elf_lambda_architecture("").error().message(), "not an ELF file");
}

// ---- the zip, through the CLI ----------------------------------------------------------------

class PackageCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("wg-package-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (const char* tool : {"unzip", "patchelf", "readelf", "ldd", "zip"}) {
      ASSERT_TRUE(find_program(tool).has_value())
          << tool << " is needed (scripts/install-packages installs unzip/zip, patchelf, "
          << "binutils, libc-bin)";
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  ProcessOutput run(const std::vector<std::string>& argv, std::vector<std::string> env = {}) {
    ProcessOptions options;
    options.extra_env = std::move(env);
    auto out = run_process(argv, options);
    EXPECT_TRUE(out.ok()) << (out.ok() ? "" : out.error().message());
    return out.ok() ? *out : ProcessOutput{};
  }
  // `prefix`: a command the package runs under (faketime).
  ProcessOutput package(const std::vector<std::string>& args,
                        const std::vector<std::string>& prefix = {}) {
    std::vector<std::string> argv = prefix;
    argv.insert(argv.end(), {bin_dir() + "/writegate", "package"});
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }
  // The names in the zip, in the zip's order.
  std::vector<std::string> entries(const fs::path& zip) {
    auto out = run({"unzip", "-Z1", zip.string()});
    EXPECT_EQ(out.exit_code, 0) << out.output;
    return lines_of(out.output);
  }
  // The names ldd lists for a file (the vDSO left out; the loader by its file name).
  std::vector<std::string> ldd_names(const std::string& file) {
    auto out = run({"ldd", file});
    EXPECT_EQ(out.exit_code, 0) << out.output;
    std::vector<std::string> names;
    static const std::regex kLine(R"(^\s*(\S+)( => (\S+))? \(0x)");
    for (const auto& line : lines_of(out.output)) {
      std::smatch m;
      if (!std::regex_search(line, m, kLine)) continue;
      const std::string name = m[1].str();
      if (name.starts_with("linux-vdso")) continue;
      names.push_back(name.front() == '/' ? fs::path(name).filename().string() : name);
    }
    return names;
  }

  fs::path dir_;
};

TEST_F(PackageCliTest, TheZipHoldsBootstrapTheBundleTheLoaderAndEveryLibrary) {
  const fs::path zip = dir_ / "function.zip";
  auto out = package({"--out", zip.string()});
  ASSERT_EQ(out.exit_code, 0) << out.output;

  const auto names = entries(zip);
  EXPECT_THAT(names, IsSupersetOf({"bootstrap", "rds-ca-bundle.pem", "lib/ld-linux-x86-64.so.2",
                                   "lib/libpq.so.5", "lib/libc.so.6", "lib/libssl.so.3",
                                   "lib/libcrypto.so.3", "lib/libstdc++.so.6"}));
  // Sorted, no folder entries, nothing but the function, its bundle and lib/.
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const auto& name : names) {
    EXPECT_TRUE(name == "bootstrap" || name == "rds-ca-bundle.pem" || name.starts_with("lib/"))
        << name;
    EXPECT_FALSE(name.ends_with("/")) << name;
  }
  // Every library bootstrap links, and libpq's whole closure (bootstrap dlopens libpq, so ldd of
  // bootstrap alone does not name it).
  const std::string bootstrap = bin_dir() + "/bootstrap";
  EXPECT_THAT(ldd_names(bootstrap), ::testing::Not(Contains("libpq.so.5")));
  auto libpq = run({"/sbin/ldconfig", "-p"});
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(libpq.output, m, std::regex(R"(libpq\.so\.5 \(libc6,x86-64\) => (\S+))")))
      << libpq.output;
  for (const std::string& file : {bootstrap, m[1].str()}) {
    for (const auto& name : ldd_names(file))
      EXPECT_THAT(names, Contains("lib/" + name)) << "needed by " << file;
  }

  // Modes and the one fixed timestamp (2020-01-01 00:00 UTC), as zipinfo shows them.
  auto info = run({"unzip", "-Z", zip.string()}, {"TZ=UTC"});
  ASSERT_EQ(info.exit_code, 0) << info.output;
  for (const auto& line : lines_of(info.output)) {
    if (!line.starts_with("-")) continue;  // the header and the summary
    EXPECT_THAT(line, HasSubstr(" 20-Jan-01 00:00 ")) << line;
    if (line.ends_with(" bootstrap") || line.ends_with(" lib/ld-linux-x86-64.so.2")) {
      EXPECT_TRUE(line.starts_with("-rwxr-xr-x")) << line;
    } else {
      EXPECT_TRUE(line.starts_with("-rw-r--r--")) << line;
    }
  }

  // bootstrap: interpreter and DT_RPATH (not DT_RUNPATH, which would not reach dlopen's
  // dependencies) into /var/task/lib.
  const fs::path unpacked = dir_ / "unpacked";
  auto unzip = run({"unzip", "-q", zip.string(), "-d", unpacked.string()});
  ASSERT_EQ(unzip.exit_code, 0) << unzip.output;
  const std::string packed_bootstrap = (unpacked / "bootstrap").string();
  EXPECT_EQ(run({"patchelf", "--print-interpreter", packed_bootstrap}).output,
            "/var/task/lib/ld-linux-x86-64.so.2\n");
  EXPECT_EQ(run({"patchelf", "--print-rpath", packed_bootstrap}).output, "/var/task/lib\n");
  auto dynamic = run({"readelf", "-d", packed_bootstrap});
  EXPECT_THAT(dynamic.output, HasSubstr("(RPATH)              Library rpath: [/var/task/lib]"));
  EXPECT_THAT(dynamic.output, ::testing::Not(HasSubstr("(RUNPATH)")));
  auto program_headers = run({"readelf", "-l", packed_bootstrap});
  EXPECT_THAT(program_headers.output,
              HasSubstr("[Requesting program interpreter: /var/task/lib/ld-linux-x86-64.so.2]"));
  // The libraries are the host's files unchanged (none here carries a run path of its own).
  EXPECT_EQ(read_file(unpacked / "lib/libpq.so.5"), read_file(m[1].str()));

  // The default CA bundle: the five Amazon Trust Services roots, in order.
  std::string roots;
  for (const auto& file : amazon_trust_root_files()) {
    std::string pem = read_file(file);
    ASSERT_FALSE(pem.empty()) << file << " (Debian package ca-certificates)";
    if (pem.back() != '\n') pem += '\n';
    roots += pem;
  }
  EXPECT_EQ(read_file(unpacked / "rds-ca-bundle.pem"), roots);
  EXPECT_EQ(count_of(roots, "-----BEGIN CERTIFICATE-----"), 5u);

  // What was packed: the count, the zip's size and the largest parts.
  EXPECT_THAT(out.output,
              AllOf(HasSubstr("packed " + std::to_string(names.size()) + " files into " +
                              fs::absolute(zip).string() + ": "),
                    HasSubstr("largest (unpacked):"), HasSubstr("lib/libcrypto.so.3"),
                    HasSubstr("interpreter /var/task/lib/ld-linux-x86-64.so.2, run path "
                              "/var/task/lib")));
}

TEST_F(PackageCliTest, TheSameInputsGiveTheSameBytes) {
  const fs::path first = dir_ / "first.zip";
  const fs::path second = dir_ / "second.zip";
  ASSERT_EQ(package({"--out", first.string()}).exit_code, 0);
  // The same bootstrap from another file with another timestamp, into another folder.
  const fs::path copy = dir_ / "elsewhere" / "bootstrap";
  fs::create_directories(copy.parent_path());
  fs::copy_file(bin_dir() + "/bootstrap", copy);
  fs::last_write_time(copy, fs::file_time_type::clock::now() - std::chrono::hours(50));
  // A day later by the clock (faketime): a zip stamped with the time of day would differ.
  const auto faketime = find_program("faketime");
  ASSERT_TRUE(faketime.has_value()) << "faketime is not installed (scripts/install-packages)";
  ASSERT_EQ(
      package({"--out", second.string(), "--bootstrap", copy.string()}, {*faketime, "-f", "+1d"})
          .exit_code,
      0);
  const std::string a = read_file(first);
  const std::string b = read_file(second);
  ASSERT_GT(a.size(), 1000u);
  EXPECT_TRUE(a == b) << "the two zips differ (" << a.size() << " and " << b.size() << " bytes)";
  // Packaging again over an existing zip replaces it (zip alone would add to it).
  ASSERT_EQ(package({"--out", first.string()}).exit_code, 0);
  EXPECT_TRUE(read_file(first) == a);
  EXPECT_FALSE(fs::exists(first.string() + ".partial-" + std::to_string(::getpid())));
}

TEST_F(PackageCliTest, CaBundleShipsThatFileInstead) {
  const fs::path bundle = dir_ / "local-ca.crt";
  const std::string one_root =
      read_file(amazon_trust_root_files().front());  // any PEM certificate will do
  ASSERT_FALSE(one_root.empty());
  std::ofstream(bundle) << one_root;
  const fs::path zip = dir_ / "function.zip";
  auto out = package({"--out", zip.string(), "--ca-bundle", bundle.string()});
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_THAT(out.output, HasSubstr("CA bundle: " + bundle.string()));
  auto shipped = run({"unzip", "-p", zip.string(), "rds-ca-bundle.pem"});
  EXPECT_EQ(shipped.output, one_root);
}

TEST_F(PackageCliTest, MissingInputsAreNamed) {
  const fs::path zip = dir_ / "function.zip";
  auto no_bundle = package({"--out", zip.string(), "--ca-bundle", "/nonexistent/ca.crt"});
  EXPECT_EQ(no_bundle.exit_code, 2);
  EXPECT_EQ(no_bundle.output,
            "writegate: package: --ca-bundle: the CA certificate file /nonexistent/ca.crt does "
            "not exist or is not a file\n");
  const fs::path not_pem = dir_ / "not.pem";
  std::ofstream(not_pem) << "hello\n";
  auto bad_bundle = package({"--out", zip.string(), "--ca-bundle", not_pem.string()});
  EXPECT_EQ(bad_bundle.exit_code, 2);
  EXPECT_EQ(bad_bundle.output,
            "writegate: package: " + not_pem.string() + " holds no PEM certificate\n");
  auto no_bootstrap = package({"--out", zip.string(), "--bootstrap", "/nonexistent/bootstrap"});
  EXPECT_EQ(no_bootstrap.exit_code, 2);
  EXPECT_EQ(no_bootstrap.output,
            "writegate: package: the function executable /nonexistent/bootstrap does not exist "
            "or is not a file\n");
  auto no_folder = package({"--out", (dir_ / "nowhere" / "function.zip").string()});
  EXPECT_EQ(no_folder.exit_code, 2);
  EXPECT_EQ(no_folder.output, "writegate: package: the folder of " +
                                  (dir_ / "nowhere" / "function.zip").string() +
                                  " does not exist\n");
  EXPECT_FALSE(fs::exists(zip));
}

TEST_F(PackageCliTest, ABootstrapBuiltForAnotherArchitectureThanTheSpecsIsRefused) {
  const fs::path zip = dir_ / "function.zip";
  const fs::path spec = dir_ / "arm.yaml";
  std::ofstream(spec) << "function:\n  architecture: arm64\n";
  auto refused = package({"--spec", spec.string(), "--out", zip.string()});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_EQ(refused.output, "writegate: package: " + bin_dir() +
                                "/bootstrap is built for x86_64 but the spec's function runs on "
                                "arm64 (function.architecture): build bootstrap for arm64 or "
                                "change the spec\n");
  EXPECT_FALSE(fs::exists(zip));
}

}  // namespace
}  // namespace writegate::deploy
