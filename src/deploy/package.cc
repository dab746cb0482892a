#include "deploy/package.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include "common/process.h"

namespace writegate::deploy {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kAmazonTrustRootNames[] = {
    "Amazon_Root_CA_1.crt",
    "Amazon_Root_CA_2.crt",
    "Amazon_Root_CA_3.crt",
    "Amazon_Root_CA_4.crt",
    "Starfield_Services_Root_Certificate_Authority_-_G2.crt",
};

std::string trim(std::string_view text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return "";
  const auto end = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(begin, end - begin + 1));
}

// "libssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x00007f...)" -> the part before " (0x".
std::string without_load_address(std::string_view text) {
  const auto at = text.rfind(" (0x");
  return trim(at == std::string_view::npos ? text : text.substr(0, at));
}

// A temporary folder removed with everything in it when the object goes.
class StagingDir {
 public:
  static Result<StagingDir> create() {
    std::string pattern = (fs::temp_directory_path() / "writegate-package-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return Error::io("cannot create a staging folder in " + fs::temp_directory_path().string() +
                       ": " + std::strerror(errno));
    }
    return StagingDir(pattern);
  }
  StagingDir(StagingDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;
  StagingDir& operator=(StagingDir&&) = delete;
  ~StagingDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit StagingDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Runs a tool to completion; its output, or an error quoting it when it failed.
Result<std::string> run_tool(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env = {}) {
  ProcessOptions options;
  options.extra_env = env;
  auto out = run_process(argv, options);
  if (!out) return out.error().with_context("running " + argv[0]);
  if (out->exit_code != 0) {
    std::string command;
    for (const auto& arg : argv)
      command += (command.empty() ? "" : " ") + arg;
    return Error::io("`" + command + "` failed (exit " + std::to_string(out->exit_code) +
                     "): " + trim(out->output));
  }
  return std::move(out->output);
}

Result<std::string> require_program(const std::string& name, const std::string& package) {
  auto found = find_program(name, {"/usr/bin", "/bin", "/usr/sbin", "/sbin"});
  if (!found) {
    return Error::not_found(name + " is not installed (Debian package " + package +
                            "; scripts/install-packages installs it)");
  }
  return *found;
}

Status require_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return Error::not_found(what + " " + path + " does not exist or is not a file");
  }
  return {};
}

Result<std::string> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::io("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The CA bundle's text: the named file, or the Amazon Trust Services roots one after another.
Result<std::string> ca_bundle_text(const std::string& ca_bundle) {
  std::vector<std::string> sources;
  if (ca_bundle.empty()) {
    sources = amazon_trust_root_files();
  } else {
    sources.push_back(ca_bundle);
  }
  std::string bundle;
  for (const auto& source : sources) {
    auto missing = require_file(source, "the CA certificate file");
    if (!missing) {
      return std::move(missing).error().with_context(
          ca_bundle.empty() ? "the Amazon Trust Services roots (Debian package ca-certificates)"
                            : "--ca-bundle");
    }
    WG_ASSIGN_OR_RETURN(std::string pem, read_whole(source));
    if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return Error::failed_precondition(source + " holds no PEM certificate");
    }
    if (!pem.empty() && pem.back() != '\n') pem += '\n';
    bundle += pem;
  }
  return bundle;
}

// libpq.so.5 as a dlopen by name finds it here: where this process's loader takes it from.
Result<std::string> locate_libpq() {
  void* handle = ::dlopen("libpq.so.5", RTLD_LAZY | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return Error::not_found(std::string("libpq.so.5 is not installed (Debian package libpq5): ") +
                            (why ? why : "dlopen failed"));
  }
  link_map* map = nullptr;
  std::string path;
  if (::dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map != nullptr && map->l_name != nullptr) {
    path = map->l_name;
  }
  ::dlclose(handle);
  if (path.empty()) return Error::not_found("cannot tell where libpq.so.5 was loaded from");
  return path;
}

// Without LD_PRELOAD: ldd would list a preloaded library (faketime's, a profiler's) as one the
// file needs, and the zip would carry it.
Result<std::vector<SharedLibrary>> ldd(const std::string& env_program,
                                       const std::string& ldd_program, const std::string& file) {
  WG_ASSIGN_OR_RETURN(const std::string output,
                      run_tool({env_program, "-u", "LD_PRELOAD", ldd_program, file}));
  auto libraries = parse_ldd(output);
  if (!libraries) return std::move(libraries).error().with_context("ldd " + file);
  // One name for one file: /lib and /usr/lib are the same folder on a merged-/usr system.
  for (auto& library : *libraries) {
    std::error_code ec;
    const auto canonical = fs::canonical(library.path, ec);
    if (ec) return Error::not_found("ldd " + file + ": " + library.path + " does not exist");
    library.path = canonical.string();
  }
  return libraries;
}

Status copy_into(const std::string& from, const fs::path& to, fs::perms mode) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return Error::io("cannot copy " + from + " to " + to.string() + ": " + ec.message());
  fs::permissions(to, mode, fs::perm_options::replace, ec);
  if (ec) return Error::io("cannot set the mode of " + to.string() + ": " + ec.message());
  return {};
}

Status write_file(const fs::path& path, const std::string& text, fs::perms mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!(out << text) || !out.flush()) return Error::io("cannot write " + path.string());
  }
  std::error_code ec;
  fs::permissions(path, mode, fs::perm_options::replace, ec);
  if (ec) return Error::io("cannot set the mode of " + path.string() + ": " + ec.message());
  return {};
}

Status set_fixed_mtime(const fs::path& path) {
  const std::array<timespec, 2> times = {timespec{kFixedMtime, 0}, timespec{kFixedMtime, 0}};
  if (::utimensat(AT_FDCWD, path.c_str(), times.data(), AT_SYMLINK_NOFOLLOW) != 0) {
    return Error::io("cannot set the time of " + path.string() + ": " + std::strerror(errno));
  }
  return {};
}

constexpr fs::perms kExecutable = fs::perms::owner_all | fs::perms::group_read |
                                  fs::perms::group_exec | fs::perms::others_read |
                                  fs::perms::others_exec;
constexpr fs::perms kReadable =
    fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read;

}  // namespace

std::vector<std::string> amazon_trust_root_files() {
  std::vector<std::string> files;
  for (const auto name : kAmazonTrustRootNames)
    files.push_back(std::string(kAmazonTrustRootsDir) + "/" + std::string(name));
  return files;
}

Result<std::vector<SharedLibrary>> parse_ldd(std::string_view output) {
  std::vector<SharedLibrary> libraries;
  std::size_t start = 0;
  while (start < output.size()) {
    std::size_t end = output.find('\n', start);
    if (end == std::string_view::npos) end = output.size();
    const std::string line = trim(output.substr(start, end - start));
    start = end + 1;
    if (line.empty()) continue;
    if (line.find("not a dynamic executable") != std::string::npos || line == "statically linked") {
      return Error::failed_precondition(
          "not a dynamically linked file: nothing to package beside it (ldd: " + line + ")");
    }
    const auto arrow = line.find(" => ");
    if (arrow == std::string::npos) {
      const std::string path = without_load_address(line);
      if (path.empty() || path.front() != '/') continue;  // linux-vdso.so.1: the kernel's
      libraries.push_back({fs::path(path).filename().string(), path, /*interpreter=*/true});
      continue;
    }
    const std::string name = trim(std::string_view(line).substr(0, arrow));
    const std::string target = without_load_address(std::string_view(line).substr(arrow + 4));
    if (target == "not found" || target.empty()) {
      return Error::failed_precondition(name + " is needed but not found on this machine");
    }
    if (target.front() != '/') continue;  // e.g. "linux-vdso.so.1 =>  (0x...)" on old glibc
    if (!name.empty() && name.front() == '/') {
      // The loader, as ldd of a shared library shows it: "/lib64/ld-linux-x86-64.so.2 => ...".
      libraries.push_back({fs::path(name).filename().string(), target, /*interpreter=*/true});
    } else {
      libraries.push_back({name, target, /*interpreter=*/false});
    }
  }
  return libraries;
}

Result<std::vector<SharedLibrary>> merge_libraries(
    const std::vector<std::vector<SharedLibrary>>& listings) {
  std::map<std::string, SharedLibrary> by_name;
  for (const auto& listing : listings) {
    for (const auto& library : listing) {
      auto [it, inserted] = by_name.emplace(library.name, library);
      if (!inserted && it->second.path != library.path) {
        return Error::failed_precondition("two different files are both " + library.name + ": " +
                                          it->second.path + " and " + library.path);
      }
      it->second.interpreter = it->second.interpreter || library.interpreter;
    }
  }
  std::vector<SharedLibrary> merged;
  for (auto& [name, library] : by_name)
    merged.push_back(std::move(library));
  return merged;
}

Result<std::string> elf_lambda_architecture(std::string_view header) {
  // e_ident: 0x7f 'E' 'L' 'F', EI_CLASS 2 (64-bit), EI_DATA 1 (little-endian); e_machine at 18.
  if (header.size() < 20 || header.substr(0, 4) !=
                                "\x7f"
                                "ELF") {
    return Error::invalid_argument("not an ELF file");
  }
  if (header[4] != 2 || header[5] != 1) {
    return Error::invalid_argument("not a 64-bit little-endian ELF file");
  }
  const unsigned machine = static_cast<unsigned char>(header[18]) |
                           (static_cast<unsigned>(static_cast<unsigned char>(header[19])) << 8);
  if (machine == 62) return std::string("x86_64");  // EM_X86_64
  if (machine == 183) return std::string("arm64");  // EM_AARCH64
  return Error::invalid_argument("ELF machine " + std::to_string(machine) +
                                 " is neither x86_64 nor arm64, what Lambda runs");
}

std::string human_bytes(std::uint64_t bytes) {
  char text[32];
  if (bytes < 1024) {
    std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
  } else if (bytes < 1024 * 1024) {
    std::snprintf(text, sizeof text, "%.1f KiB", static_cast<double>(bytes) / 1024.0);
  } else {
    std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  }
  return text;
}

Result<PackageReport> build_package(const PackageOptions& options) {
  if (options.bootstrap.empty()) return Error::invalid_argument("no bootstrap executable given");
  if (options.out.empty()) return Error::invalid_argument("no output file given");
  WG_RETURN_IF_ERROR(require_file(options.bootstrap, "the function executable"));
  if (::access(options.bootstrap.c_str(), X_OK) != 0) {
    return Error::failed_precondition("the function executable " + options.bootstrap +
                                      " is not executable");
  }
  if (!options.architecture.empty()) {
    std::ifstream in(options.bootstrap, std::ios::binary);
    std::string header(64, '\0');
    in.read(header.data(), static_cast<std::streamsize>(header.size()));
    header.resize(static_cast<std::size_t>(in.gcount()));
    WG_ASSIGN_OR_RETURN(const std::string built_for, elf_lambda_architecture(header));
    if (built_for != options.architecture) {
      return Error::failed_precondition(options.bootstrap + " is built for " + built_for +
                                        " but the spec's function runs on " + options.architecture +
                                        " (function.architecture): build bootstrap for " +
                                        options.architecture + " or change the spec");
    }
  }
  std::error_code ec;
  const fs::path out = fs::absolute(options.out, ec);
  if (ec) return Error::io("cannot resolve " + options.out + ": " + ec.message());
  if (!fs::is_directory(out.parent_path(), ec)) {
    return Error::not_found("the folder of " + out.string() + " does not exist");
  }
  WG_ASSIGN_OR_RETURN(const std::string patchelf, require_program("patchelf", "patchelf"));
  WG_ASSIGN_OR_RETURN(const std::string zip, require_program("zip", "zip"));
  WG_ASSIGN_OR_RETURN(const std::string ldd_program, require_program("ldd", "libc-bin"));
  WG_ASSIGN_OR_RETURN(const std::string env_program, require_program("env", "coreutils"));
  std::string strip;
  if (options.strip_debug) {
    WG_ASSIGN_OR_RETURN(strip, require_program("strip", "binutils"));
  }
  WG_ASSIGN_OR_RETURN(const std::string ca_bundle, ca_bundle_text(options.ca_bundle));
  std::string libpq = options.libpq;
  if (libpq.empty()) {
    WG_ASSIGN_OR_RETURN(libpq, locate_libpq());
  } else {
    WG_RETURN_IF_ERROR(require_file(libpq, "libpq"));
  }

  // Everything bootstrap needs at load time, and libpq with its own closure for the dlopen.
  WG_ASSIGN_OR_RETURN(auto of_bootstrap, ldd(env_program, ldd_program, options.bootstrap));
  WG_ASSIGN_OR_RETURN(auto of_libpq, ldd(env_program, ldd_program, libpq));
  const std::string libpq_canonical = fs::canonical(libpq, ec).string();
  if (ec) return Error::not_found("libpq " + libpq + " does not exist");
  of_libpq.push_back({"libpq.so.5", libpq_canonical, false});
  WG_ASSIGN_OR_RETURN(auto libraries, merge_libraries({of_bootstrap, of_libpq}));
  const auto loader = std::find_if(libraries.begin(), libraries.end(),
                                   [](const SharedLibrary& l) { return l.interpreter; });
  if (loader == libraries.end()) {
    return Error::failed_precondition("ldd names no dynamic loader for " + options.bootstrap);
  }
  const std::string lib_dir = std::string(kTaskRoot) + "/" + std::string(kLibDirInZip);
  const std::string interpreter = lib_dir + "/" + loader->name;

  WG_ASSIGN_OR_RETURN(StagingDir stage, StagingDir::create());
  const fs::path root = stage.path();
  fs::create_directory(root / kLibDirInZip, ec);
  if (ec) return Error::io("cannot create " + (root / kLibDirInZip).string() + ": " + ec.message());

  std::vector<std::string> entries;
  const std::string staged_bootstrap = (root / "bootstrap").string();
  WG_RETURN_IF_ERROR(copy_into(options.bootstrap, staged_bootstrap, kExecutable));
  entries.push_back("bootstrap");
  if (options.strip_debug) {
    // Debug sections are never loaded; they only lengthen the download of a cold start.
    WG_RETURN_IF_ERROR(run_tool({strip, "--strip-debug", staged_bootstrap}));
  }
  WG_RETURN_IF_ERROR(write_file(root / kCaBundleInZip, ca_bundle, kReadable));
  entries.push_back(std::string(kCaBundleInZip));
  for (const auto& library : libraries) {
    const std::string entry = std::string(kLibDirInZip) + "/" + library.name;
    // The loader is executed by the kernel (it needs the x bit); the libraries are only mapped.
    WG_RETURN_IF_ERROR(
        copy_into(library.path, root / entry, library.interpreter ? kExecutable : kReadable));
    entries.push_back(entry);
    if (library.interpreter) continue;
    // A library's own run path (DT_RUNPATH would also hide the executable's DT_RPATH from its
    // lookups) must point into the package too.
    const std::string staged = (root / entry).string();
    WG_ASSIGN_OR_RETURN(const std::string own, run_tool({patchelf, "--print-rpath", staged}));
    if (!trim(own).empty()) {
      WG_RETURN_IF_ERROR(run_tool({patchelf, "--force-rpath", "--set-rpath", lib_dir, staged}));
    }
  }
  WG_RETURN_IF_ERROR(run_tool({patchelf, "--set-interpreter", interpreter, "--force-rpath",
                               "--set-rpath", lib_dir, staged_bootstrap}));
  WG_ASSIGN_OR_RETURN(std::string set_interpreter,
                      run_tool({patchelf, "--print-interpreter", staged_bootstrap}));
  WG_ASSIGN_OR_RETURN(std::string set_rpath,
                      run_tool({patchelf, "--print-rpath", staged_bootstrap}));
  set_interpreter = trim(set_interpreter);
  set_rpath = trim(set_rpath);
  if (set_interpreter != interpreter || set_rpath != lib_dir) {
    return Error::internal("patchelf left bootstrap with interpreter '" + set_interpreter +
                           "' and run path '" + set_rpath + "'");
  }

  // One timestamp and name order: the same inputs give the same bytes.
  std::sort(entries.begin(), entries.end());
  PackageReport report;
  for (const auto& entry : entries) {
    WG_RETURN_IF_ERROR(set_fixed_mtime(root / entry));
    report.files.push_back({entry, static_cast<std::uint64_t>(fs::file_size(root / entry, ec))});
  }
  WG_RETURN_IF_ERROR(set_fixed_mtime(root / kLibDirInZip));

  // Written beside the target, then renamed over it: `zip` adds to an existing archive, and a
  // failed run must not leave half a zip under the final name.
  const fs::path partial = out.string() + ".partial-" + std::to_string(::getpid());
  fs::remove(partial, ec);
  // `env -C` runs zip in the staging folder (entry names are relative to it), without a shell.
  std::vector<std::string> argv = {env_program, "-C", root.string(), "TZ=UTC", zip,
                                   "-X",        "-D", "-q",          "-9",     partial.string()};
  argv.insert(argv.end(), entries.begin(), entries.end());
  auto zipped = run_tool(argv);
  if (!zipped) {
    fs::remove(partial, ec);
    return zipped.error();
  }
  fs::rename(partial, out, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(partial, ignored);
    return Error::io("cannot move the zip to " + out.string() + ": " + ec.message());
  }
  report.zip_path = out.string();
  report.zip_bytes = static_cast<std::uint64_t>(fs::file_size(out, ec));
  report.interpreter = set_interpreter;
  report.rpath = set_rpath;
  return report;
}

std::string describe_package(const PackageReport& report, std::size_t largest) {
  std::uint64_t unpacked = 0;
  for (const auto& file : report.files)
    unpacked += file.bytes;
  std::ostringstream text;
  text << "packed " << report.files.size() << " files into " << report.zip_path << ": "
       << human_bytes(report.zip_bytes) << " (" << human_bytes(unpacked) << " unpacked)\n";
  text << "bootstrap: interpreter " << report.interpreter << ", run path " << report.rpath << "\n";
  std::vector<PackedFile> by_size = report.files;
  std::stable_sort(by_size.begin(), by_size.end(),
                   [](const PackedFile& a, const PackedFile& b) { return a.bytes > b.bytes; });
  if (by_size.size() > largest) by_size.resize(largest);
  text << "largest (unpacked):\n";
  for (const auto& file : by_size) {
    char line[160];
    std::snprintf(line, sizeof line, "  %10s  %s\n", human_bytes(file.bytes).c_str(),
                  file.name.c_str());
    text << line;
  }
  return text.str();
}

}  // namespace writegate::deploy
