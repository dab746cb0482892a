// Running other programs (initdb, pg_ctl, openssl...) without a shell.
//
//   auto out = writegate::run_process({"pg_ctl", "--version"});
//   if (out && out->exit_code == 0) std::cout << out->output;
//
// Arguments go to execvp as they are, so nothing is ever interpreted by a shell. When `run_as`
// names a user, the child drops to that user first (PostgreSQL refuses to run as root).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace writegate {

struct RunAs {
  uid_t uid;
  gid_t gid;
};

// The unprivileged account to run servers as when we are root ("postgres" by default, else
// "nobody"); std::nullopt when we are not root.
Result<std::optional<RunAs>> unprivileged_account_if_root(
    const std::string& preferred = "postgres");

struct ProcessOptions {
  std::optional<RunAs> run_as;
  std::vector<std::string> extra_env;  // "KEY=value" entries added to the environment
  std::string stdin_data;
  std::chrono::milliseconds timeout{std::chrono::minutes(2)};
};

struct ProcessOutput {
  int exit_code = -1;  // 128 + signal when killed by one
  std::string output;  // stdout and stderr together
};

// Runs argv[0] (looked up on PATH) to completion, collecting its output.
Result<ProcessOutput> run_process(const std::vector<std::string>& argv,
                                  const ProcessOptions& options = {});

// A program running in the background (a server a test or the stack starts), ended with
// SIGTERM (then SIGKILL) when the object goes. Its stdout and stderr go to one pipe that
// read_line() reads, or to a file when ChildOptions::output_file is set.
//
//   auto server = ChildProcess::start({"writegate", "endpoint", "serve", "--listen",
//                                      "127.0.0.1:0"});
//   auto line = server->read_line(std::chrono::seconds(10));   // "listening on ..."
class ChildProcess {
 public:
  static Result<std::unique_ptr<ChildProcess>> start(const std::vector<std::string>& argv,
                                                     const ProcessOptions& options = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The next line of output (without the newline), waiting at most `timeout`.
  Result<std::string> read_line(std::chrono::milliseconds timeout);
  // Everything read so far plus what is available now (for failure messages).
  std::string output_so_far();
  // SIGTERM, then SIGKILL after `grace`; returns the exit code (128 + signal if killed).
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  bool running();

 private:
  ChildProcess(pid_t pid, int out_fd) : pid_(pid), out_fd_(out_fd) {}
  pid_t pid_;
  int out_fd_;
  std::string buffer_;
  std::string all_output_;
  int exit_code_ = -1;
};

// Gives `path` to the account (no-op for std::nullopt): files a server run as `run_as` reads.
Status chown_to(const std::string& path, const std::optional<RunAs>& run_as);

// Finds a program: on PATH, or in the given extra folders.
std::optional<std::string> find_program(const std::string& name,
                                        const std::vector<std::string>& extra_dirs = {});

// Port 0 bound and released on 127.0.0.1: a free ephemeral port (racy but fine for tests).
Result<int> pick_free_port(const std::string& host = "127.0.0.1");

}  // namespace writegate
