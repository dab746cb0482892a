// The function's zip for Lambda `provided.al2023` (`writegate package`): self-contained, so the
// same bytes run on AWS and in an empty root.
//
//   deploy::PackageOptions options;
//   options.bootstrap = "build/bin/bootstrap";
//   options.out = "function.zip";
//   auto report = deploy::build_package(options);
//   if (report) std::cout << deploy::describe_package(*report);
//
// What goes in (sorted by name, every file a regular file):
//   bootstrap            the function (0755, debug sections stripped), its ELF interpreter set to
//                        /var/task/lib/<loader> and its DT_RPATH to /var/task/lib (patchelf);
//   lib/<loader>         the dynamic loader (ld-linux-x86-64.so.2) the binary was linked for;
//   lib/<soname>         every shared library bootstrap needs (`ldd bootstrap`), and libpq.so.5
//                        with its whole closure (`ldd libpq.so.5`): bootstrap loads libpq with
//                        dlopen at run time, so ldd of bootstrap never lists it;
//   rds-ca-bundle.pem    the CA bundle bootstrap verifies the proxy with (its default
//                        DB_CA_BUNDLE, next to the executable): by default the Amazon Trust
//                        Services roots, which RDS Proxy's ACM certificates chain to.
// DT_RPATH, not DT_RUNPATH: the executable's DT_RPATH also serves its libraries' own
// dependencies and its dlopen calls (libpq and everything libpq needs), and it comes before
// LD_LIBRARY_PATH, which Lambda sets to the system's /lib64 among others. A library that carries
// a run path of its own gets /var/task/lib as well, so that no lookup lands on the host's files.
//
// Same inputs, same bytes: entries in name order, one fixed timestamp, fixed modes, no extra
// fields (`zip -X -D`, TZ=UTC).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace writegate::deploy {

// Where the package's files are on Lambda.
inline constexpr std::string_view kTaskRoot = "/var/task";
inline constexpr std::string_view kLibDirInZip = "lib";
inline constexpr std::string_view kCaBundleInZip = "rds-ca-bundle.pem";
// Every entry's modification time: 2020-01-01T00:00:00Z.
inline constexpr std::int64_t kFixedMtime = 1577836800;

// Debian's ca-certificates copies of the roots RDS Proxy's certificates chain to (AWS Certificate
// Manager: Amazon Trust Services, whose roots are cross-signed by Starfield Services Root G2).
inline constexpr std::string_view kAmazonTrustRootsDir = "/usr/share/ca-certificates/mozilla";
std::vector<std::string> amazon_trust_root_files();

struct PackageOptions {
  std::string bootstrap;  // the function executable
  std::string out = "function.zip";
  // PEM file shipped as rds-ca-bundle.pem; empty: the Amazon Trust Services roots
  // (amazon_trust_root_files()).
  std::string ca_bundle;
  // libpq.so.5 as bootstrap's dlopen would find it on this machine; empty: looked up the way
  // the loader does (this process's own dlopen).
  std::string libpq;
  // Remove bootstrap's debug sections (`strip --strip-debug`; its symbols stay, for stack traces).
  bool strip_debug = true;
  // The spec's function.architecture ("x86_64" or "arm64"); the executable must be built for
  // it (Lambda cannot run an x86-64 binary on arm64). Empty: not checked.
  std::string architecture;
};

struct PackedFile {
  std::string name;  // the path inside the zip
  std::uint64_t bytes = 0;
};

struct PackageReport {
  std::string zip_path;
  std::uint64_t zip_bytes = 0;
  std::vector<PackedFile> files;  // in zip order (by name)
  std::string interpreter;        // as set in bootstrap
  std::string rpath;
};

// Writes the zip (replacing `out` only when it is complete). Errors: kNotFound for a missing
// input file or tool (patchelf, zip, ldd, strip), kFailedPrecondition for a library ldd cannot
// resolve or a CA bundle with no certificate, kIo for a failed copy or a tool that failed.
Result<PackageReport> build_package(const PackageOptions& options);

// "packed 31 files into function.zip: 7.8 MiB (21.0 MiB unpacked)" and the largest parts.
std::string describe_package(const PackageReport& report, std::size_t largest = 6);

// ---- pure parts (tested without files) -------------------------------------------------------

struct SharedLibrary {
  std::string name;  // what the loader looks for: the DT_NEEDED name, or the loader's file name
  std::string path;  // where ldd found it on this machine
  bool interpreter = false;
};

// `ldd FILE`'s output: one entry per library (the kernel's vDSO left out). Errors name the
// library ldd could not find, or a file that is not dynamically linked.
Result<std::vector<SharedLibrary>> parse_ldd(std::string_view output);

// Several ldd listings as one set by name (first wins); two different files under one name are
// an error. The interpreter is kept once.
Result<std::vector<SharedLibrary>> merge_libraries(
    const std::vector<std::vector<SharedLibrary>>& listings);

// The Lambda architecture an ELF executable is built for, from its header's e_machine:
// "x86_64" (EM_X86_64) or "arm64" (EM_AARCH64). Errors: not a 64-bit little-endian ELF file, or
// a machine Lambda does not run.
Result<std::string> elf_lambda_architecture(std::string_view header);

// "123 B", "4.5 KiB", "7.8 MiB".
std::string human_bytes(std::uint64_t bytes);

}  // namespace writegate::deploy
