#include "common/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

extern char** environ;

namespace writegate {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// argv and environment prepared before fork(), so the child only calls async-signal-safe code.
class ExecImage {
 public:
  ExecImage(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env)
      : args_(argv) {
    for (char** e = environ; *e; ++e)
      env_.emplace_back(*e);
    for (const auto& kv : extra_env) {
      const std::string key = kv.substr(0, kv.find('=') + 1);
      std::erase_if(env_, [&](const std::string& e) { return e.starts_with(key); });
      env_.push_back(kv);
    }
    for (auto& e : env_)
      envp_.push_back(e.data());
    envp_.push_back(nullptr);
    for (auto& a : args_)
      argp_.push_back(a.data());
    argp_.push_back(nullptr);
  }

  // In the child: drop to `run_as` if given, then exec; never returns.
  [[noreturn]] void exec(const std::string& program, const std::optional<RunAs>& run_as) {
    if (run_as && (::setgroups(0, nullptr) != 0 || ::setgid(run_as->gid) != 0 ||
                   ::setuid(run_as->uid) != 0)) {
      ::_exit(126);
    }
    ::execve(program.c_str(), argp_.data(), envp_.data());
    ::_exit(127);
  }

 private:
  std::vector<std::string> args_;
  std::vector<std::string> env_;
  std::vector<char*> envp_;
  std::vector<char*> argp_;
};

}  // namespace

Result<std::optional<RunAs>> unprivileged_account_if_root(const std::string& preferred) {
  if (::geteuid() != 0) return std::optional<RunAs>{};
  for (const std::string& name : {preferred, std::string("nobody")}) {
    if (const passwd* pw = ::getpwnam(name.c_str())) {
      return std::optional<RunAs>{RunAs{pw->pw_uid, pw->pw_gid}};
    }
  }
  return Error::failed_precondition("running as root, but neither user '" + preferred +
                                    "' nor 'nobody' exists to run the server as");
}

Status chown_to(const std::string& path, const std::optional<RunAs>& run_as) {
  if (!run_as) return {};
  if (::chown(path.c_str(), run_as->uid, run_as->gid) != 0) {
    return Error::io("cannot chown " + path + ": " + std::strerror(errno));
  }
  return {};
}

std::optional<std::string> find_program(const std::string& name,
                                        const std::vector<std::string>& extra_dirs) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return name;
    return std::nullopt;
  }
  std::vector<std::string> dirs = extra_dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream in(path);
    std::string dir;
    while (std::getline(in, dir, ':'))
      dirs.push_back(dir.empty() ? "." : dir);
  }
  for (const auto& dir : dirs) {
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

Result<ProcessOutput> run_process(const std::vector<std::string>& argv,
                                  const ProcessOptions& options) {
  if (argv.empty()) return Error::invalid_argument("run_process: empty command");
  const auto program = find_program(argv[0]);
  if (!program) return Error::not_found("program not found: " + argv[0]);

  int out_pipe[2];
  int in_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(in_pipe, O_CLOEXEC) != 0) {
    return Error::io("pipe: " + errno_text());
  }
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]), in_read(in_pipe[0]), in_write(in_pipe[1]);

  ExecImage image(argv, options.extra_env);

  const pid_t pid = ::fork();
  if (pid < 0) return Error::io("fork: " + errno_text());
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    ::dup2(in_read.get(), STDIN_FILENO);
    ::dup2(out_write.get(), STDOUT_FILENO);
    ::dup2(out_write.get(), STDERR_FILENO);
    image.exec(*program, options.run_as);
  }
  out_write.reset();
  in_read.reset();

  // Feed stdin then close it, while collecting output, all under the timeout.
  ProcessOutput result;
  std::size_t written = 0;
  if (options.stdin_data.empty()) in_write.reset();
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool timed_out = false;
  while (out_read.get() >= 0) {
    pollfd fds[2] = {{out_read.get(), POLLIN, 0}, {in_write.get(), POLLOUT, 0}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    const int n = ::poll(fds, in_write.get() >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (in_write.get() >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t w = ::write(in_write.get(), options.stdin_data.data() + written,
                                options.stdin_data.size() - written);
      if (w > 0) written += static_cast<std::size_t>(w);
      if (w < 0 || written == options.stdin_data.size()) in_write.reset();
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[8192];
      const ssize_t r = ::read(out_read.get(), buf, sizeof buf);
      if (r > 0) {
        result.output.append(buf, static_cast<std::size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        out_read.reset();
      }
    }
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Error::unavailable(argv[0] + " did not finish within " +
                              std::to_string(options.timeout.count()) + " ms");
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
    if (result.exit_code == 126 && options.run_as) {
      return Error::failed_precondition("could not switch to uid " +
                                        std::to_string(options.run_as->uid) + " to run " + argv[0]);
    }
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

Result<int> pick_free_port(const std::string& host) {
  Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return Error::io("socket: " + errno_text());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return Error::invalid_argument("not an IPv4 address: " + host);
  }
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return Error::io("bind: " + errno_text());
  }
  socklen_t len = sizeof addr;
  if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Error::io("getsockname: " + errno_text());
  }
  return static_cast<int>(ntohs(addr.sin_port));
}

Result<std::unique_ptr<ChildProcess>> ChildProcess::start(const std::vector<std::string>& argv,
                                                          const ProcessOptions& options) {
  if (argv.empty()) return Error::invalid_argument("ChildProcess: empty command");
  const auto program = find_program(argv[0]);
  if (!program) return Error::not_found("program not found: " + argv[0]);
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return Error::io("pipe: " + errno_text());
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  ExecImage image(argv, options.extra_env);
  const pid_t pid = ::fork();
  if (pid < 0) return Error::io("fork: " + errno_text());
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, STDIN_FILENO);
    ::dup2(out_write.get(), STDOUT_FILENO);
    ::dup2(out_write.get(), STDERR_FILENO);
    image.exec(*program, options.run_as);
  }
  out_write.reset();
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, out_read.release()));
}

ChildProcess::~ChildProcess() {
  stop();
  if (out_fd_ >= 0) ::close(out_fd_);
}

Result<std::string> ChildProcess::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || out_fd_ < 0) {
      return Error::unavailable("no line of output within " + std::to_string(timeout.count()) +
                                " ms; output so far: " + all_output_);
    }
    pollfd fd{out_fd_, POLLIN, 0};
    const int n = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[4096];
    const ssize_t r = ::read(out_fd_, buf, sizeof buf);
    if (r <= 0) {
      ::close(out_fd_);
      out_fd_ = -1;
      continue;
    }
    buffer_.append(buf, static_cast<std::size_t>(r));
    all_output_.append(buf, static_cast<std::size_t>(r));
  }
}

std::string ChildProcess::output_so_far() {
  while (out_fd_ >= 0) {
    pollfd fd{out_fd_, POLLIN, 0};
    if (::poll(&fd, 1, 0) <= 0) break;
    char buf[4096];
    const ssize_t r = ::read(out_fd_, buf, sizeof buf);
    if (r <= 0) break;
    buffer_.append(buf, static_cast<std::size_t>(r));
    all_output_.append(buf, static_cast<std::size_t>(r));
  }
  return all_output_;
}

bool ChildProcess::running() {
  if (exit_code_ >= 0) return false;
  int status = 0;
  const pid_t done = ::waitpid(pid_, &status, WNOHANG);
  if (done == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

int ChildProcess::stop(std::chrono::milliseconds grace) {
  if (!running()) return exit_code_;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running()) return exit_code_;
    ::usleep(20000);
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

}  // namespace writegate
