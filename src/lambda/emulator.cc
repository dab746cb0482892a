#include "lambda/emulator.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "awslocal/api.h"
#include "common/log_files.h"
#include "common/netns.h"
#include "common/process.h"
#include "common/time.h"
#include "iam/arn.h"
#include "iam/evaluator.h"
#include "iam/random.h"
#include "iam/store.h"

namespace writegate::lambda {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxResponseBytes = 6 * 1024 * 1024;
constexpr std::string_view kInvokePrefix = "/2015-03-31/functions/";
constexpr std::string_view kInvokeSuffix = "/invocations";

std::string percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      int hi = hex(text[i + 1]);
      int lo = hex(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

long max_memory_mb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      long kb = std::atol(line.c_str() + 6);
      return (kb + 1023) / 1024;
    }
  }
  return 0;
}

std::string iso_now() {
  return format_iso8601_millis(std::chrono::system_clock::now());
}

std::string error_json(std::string_view type, std::string_view message) {
  nlohmann::ordered_json body;
  body["errorType"] = std::string(type);
  body["errorMessage"] = std::string(message);
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The start of the command that runs the runtime in a root of its own (FunctionConfig::root):
// a private mount namespace, chrooted to `root`, /proc mounted inside; unshare execs in place.
std::vector<std::string> own_root_prefix(const std::string& root) {
  const std::string unshare =
      find_program("unshare", {"/usr/bin", "/bin"}).value_or("/usr/bin/unshare");
  return {unshare, "--mount", "--propagation", "private", "--root", root, "--mount-proc"};
}

}  // namespace

// One execution environment: a bootstrap process and the Runtime API server it talks to.
class Environment {
 public:
  struct Answer {
    std::string payload;
    bool error = false;
  };

  // `log_fd`: the environment's output (owned: closed with the environment).
  static Result<std::shared_ptr<Environment>> start(const FunctionConfig& config,
                                                    const sigv4::Credentials& credentials,
                                                    const std::string& function_arn, int log_fd,
                                                    bool log_owned, const std::string& log_stream,
                                                    const std::string& region) {
    auto env = std::shared_ptr<Environment>(new Environment());
    env->log_fd_ = log_fd;
    env->log_owned_ = log_owned;
    boost::system::error_code ec;
    if (config.netns.empty()) {
      env->acceptor_.open(tcp::v4(), ec);
      if (!ec) env->acceptor_.bind({net::ip::make_address_v4("127.0.0.1"), 0}, ec);
      if (!ec) env->acceptor_.listen(4, ec);
    } else {
      // The Runtime API on the loopback of the function's namespace, where the runtime runs.
      auto fd = open_tcp_listener_in_netns(config.netns, "127.0.0.1", 0, 4);
      if (!fd) {
        return Error(ErrorCode::kFailedPrecondition, "runtime API listen: " + fd.error().message())
            .with_subcode("Runtime.InitError");
      }
      env->acceptor_.assign(tcp::v4(), *fd, ec);
      if (ec) ::close(*fd);
    }
    if (ec) return Error::unavailable("runtime API listen: " + ec.message());
    const int port = env->acceptor_.local_endpoint(ec).port();
    env->listen_fd_ = env->acceptor_.native_handle();
    env->server_ = std::thread([raw = env.get()] { raw->serve(); });

    std::vector<std::string> vars = {
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "LANG=en_US.UTF-8",
        "TZ=:UTC",
        "AWS_LAMBDA_RUNTIME_API=127.0.0.1:" + std::to_string(port),
        "AWS_LAMBDA_FUNCTION_NAME=" + config.name,
        "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + std::to_string(config.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + config.name,
        "AWS_LAMBDA_LOG_STREAM_NAME=" + log_stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
        "AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
        "AWS_REGION=" + region,
        "AWS_DEFAULT_REGION=" + region,
        "_HANDLER=bootstrap",
        "AWS_ACCESS_KEY_ID=" + credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY=" + std::string(credentials.secret_access_key.reveal()),
        "AWS_SESSION_TOKEN=" + std::string(credentials.session_token.reveal()),
    };
    if (!config.root.empty()) {
      // What Lambda sets for a custom runtime, with the package at /var/task.
      vars.insert(vars.end(), {"LAMBDA_TASK_ROOT=/var/task", "LAMBDA_RUNTIME_DIR=/var/runtime",
                               "LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:"
                               "/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"});
    }
    (void)function_arn;
    for (const auto& [k, v] : config.environment)
      vars.push_back(k + "=" + v);
    // Sanitizer builds: the child needs the same runtime options as its parent.
    for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"}) {
      if (const char* v = std::getenv(name)) vars.push_back(std::string(name) + "=" + v);
    }
    std::vector<char*> envp;
    for (auto& v : vars)
      envp.push_back(v.data());
    envp.push_back(nullptr);
    std::string exe = config.bootstrap;
    // In a namespace: `ip netns exec NS bootstrap` execs in place, so the pid (its kill, its
    // timeout, its process group) is the runtime's own. In a root of its own, `unshare` execs
    // in place as well.
    std::vector<std::string> command = ip_netns_exec_prefix(config.netns);
    if (!config.root.empty()) {
      const std::vector<std::string> sandbox = own_root_prefix(config.root);
      command.insert(command.end(), sandbox.begin(), sandbox.end());
    }
    command.push_back(exe);
    const std::string exe_on_host = config.root.empty() ? exe : config.root + "/" + exe;
    if ((!config.netns.empty() || !config.root.empty()) &&
        ::access(exe_on_host.c_str(), X_OK) != 0) {
      const int error = errno;
      env->shutdown();
      return Error(ErrorCode::kFailedPrecondition,
                   "cannot start " + exe_on_host + ": " + std::strerror(error))
          .with_subcode("Runtime.InitError");
    }
    std::vector<char*> argv;
    for (auto& arg : command)
      argv.push_back(arg.data());
    argv.push_back(nullptr);
    // posix_spawn (vfork semantics): no copy of the emulator's address space per environment.
    // The runtime gets the log as stdout/stderr, no other descriptor of the emulator (caller
    // sockets, other environments), and its own process group so a kill reaches its children.
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&actions, log_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    env->spawned_ = SteadyClock::now();
    pid_t pid = -1;
    const int spawned = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (spawned != 0) {
      env->shutdown();
      return Error(ErrorCode::kFailedPrecondition,
                   "cannot start " + exe + ": " + std::strerror(spawned))
          .with_subcode("Runtime.InitError");
    }
    env->pid_ = pid;
    // Wait for the first /next (the end of the init phase), or for the runtime to exit.
    const auto init_deadline = SteadyClock::now() + config.init_timeout;
    std::unique_lock lock(env->mutex_);
    bool ready = false;
    for (;;) {
      ready = env->cv_.wait_for(lock, std::chrono::milliseconds(20),
                                [&] { return env->ready_ || env->dead_; });
      if (ready || SteadyClock::now() >= init_deadline) break;
      lock.unlock();
      const bool exited = env->child_exited();
      lock.lock();
      if (exited) {
        // Let the server record an init error posted just before the exit.
        env->cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return env->dead_; });
        env->dead_ = true;
        ready = true;
        break;
      }
    }
    if (!ready || env->dead_) {
      std::string why = env->init_error_.empty()
                            ? (ready ? "the runtime exited during init"
                                     : "the runtime did not ask for an event within " +
                                           std::to_string(config.init_timeout.count()) + " ms")
                            : env->init_error_;
      lock.unlock();
      env->shutdown();
      return Error(ErrorCode::kFailedPrecondition, why).with_subcode("Runtime.InitError");
    }
    return env;
  }

  ~Environment() {
    shutdown();
    if (log_owned_ && log_fd_ >= 0) ::close(log_fd_);
  }

  int log_fd() const { return log_fd_; }
  // The size of its own stream's file (0 when it writes to a shared log).
  std::uint64_t log_bytes() const {
    struct stat st {};
    if (!log_owned_ || ::fstat(log_fd_, &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.st_size);
  }

  // Still able to take an invocation (its runtime has not exited since the last one).
  bool alive() {
    std::lock_guard lock(mutex_);
    return !dead_ && !stopped_;
  }

  // Runs one invocation. `timed_out` is set when the function's deadline passed.
  InvokeResult invoke(const std::string& request_id, const std::string& payload,
                      const std::string& function_arn, std::chrono::milliseconds timeout,
                      bool& healthy) {
    InvokeResult out;
    const auto started = SteadyClock::now();
    const auto deadline_wall = std::chrono::system_clock::now() + timeout;
    std::unique_lock lock(mutex_);
    if (!first_used_) {
      first_used_ = true;
      out.init_duration_ms =
          std::chrono::duration<double, std::milli>(first_next_ - spawned_).count();
    }
    pending_taken_ = false;
    pending_ = Pending{
        request_id, payload, function_arn,
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_wall.time_since_epoch())
            .count()};
    answer_.reset();
    cv_.notify_all();
    const bool answered =
        cv_.wait_until(lock, started + timeout, [&] { return answer_.has_value() || dead_; });
    out.duration_ms =
        std::chrono::duration<double, std::milli>(SteadyClock::now() - started).count();
    if (answer_) {
      out.payload = std::move(answer_->payload);
      if (answer_->error) out.function_error = "Unhandled";
      answer_.reset();
      lock.unlock();
      out.max_memory_used_mb = memory_used();
      healthy = true;
      return out;
    }
    pending_.reset();
    lock.unlock();
    out.max_memory_used_mb = memory_used();
    healthy = false;
    out.function_error = "Unhandled";
    if (!answered) {
      char seconds[512];
      std::snprintf(seconds, sizeof seconds, "%.2f",
                    std::chrono::duration<double>(timeout).count());
      out.payload =
          error_json("Sandbox.Timedout", iso_now() + " " + request_id + " Task timed out after " +
                                             seconds + " seconds");
    } else {
      out.payload =
          error_json("Runtime.ExitError", "RequestId: " + request_id +
                                              " Error: Runtime exited with error: " + exit_text());
    }
    shutdown();
    return out;
  }

  void shutdown() {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      stopped_ = true;
      cv_.notify_all();
    }
    {
      std::lock_guard lock(proc_mutex_);
      if (pid_ > 0) {
        ::kill(-pid_, SIGKILL);  // the runtime's process group: its children go too
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
      }
    }
    if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
    {
      std::lock_guard lock(mutex_);
      if (conn_fd_ >= 0) ::shutdown(conn_fd_, SHUT_RDWR);
    }
    if (server_.joinable()) server_.join();
  }

 private:
  struct Pending {
    std::string request_id;
    std::string payload;
    std::string function_arn;
    long long deadline_ms = 0;
  };

  Environment() = default;

  std::string exit_text() {
    for (int i = 0; i < 20 && !child_exited(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::lock_guard lock(proc_mutex_);
    if (reaped_status_ && WIFEXITED(*reaped_status_)) {
      return "exit status " + std::to_string(WEXITSTATUS(*reaped_status_));
    }
    if (reaped_status_ && WIFSIGNALED(*reaped_status_)) {
      return "signal: " + std::to_string(WTERMSIG(*reaped_status_));
    }
    return "Runtime.Unknown";
  }

  bool child_exited() {
    std::lock_guard lock(proc_mutex_);
    if (pid_ <= 0) return true;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_status_ = status;
      pid_ = -1;
      return true;
    }
    return false;
  }

  long memory_used() {
    std::lock_guard lock(proc_mutex_);
    return pid_ > 0 ? max_memory_mb(pid_) : 0;
  }

  void mark_dead() {
    std::lock_guard lock(mutex_);
    dead_ = true;
    cv_.notify_all();
  }

  static http::response<http::string_body> reply(unsigned status, std::string body,
                                                 unsigned version) {
    http::response<http::string_body> res{static_cast<http::status>(status), version};
    res.set(http::field::content_type, "application/json");
    res.body() = std::move(body);
    res.keep_alive(true);
    res.prepare_payload();
    return res;
  }

  // The Runtime API server: one connection at a time (the runtime keeps one alive).
  void serve() {
    for (;;) {
      tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      {
        std::lock_guard lock(mutex_);
        if (stopped_) return;
        if (ec) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          continue;
        }
        conn_fd_ = socket.native_handle();
      }
      serve_connection(socket);
      {
        std::lock_guard lock(mutex_);
        conn_fd_ = -1;
        if (stopped_) return;
      }
      // A closed connection usually means the runtime exited: give it a moment to be reaped.
      for (int i = 0; i < 20; ++i) {
        if (child_exited()) {
          mark_dead();
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }

  void serve_connection(tcp::socket& socket) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxResponseBytes);
      parser.header_limit(64 * 1024);
      boost::system::error_code ec;
      http::read(socket, buffer, parser, ec);
      if (ec == http::error::body_limit) {
        // A response over 6 MB: AWS reports it as the invocation's function error.
        deliver(current_request_id(), true,
                error_json("Function.ResponseSizeTooLarge",
                           "Response payload size exceeded maximum allowed payload size (6291556 "
                           "bytes)."));
        auto res = reply(413, error_json("RequestEntityTooLarge", "payload too large"), 11);
        res.keep_alive(false);
        http::write(socket, res, ec);
        return;
      }
      if (ec) return;
      auto req = parser.release();
      const std::string target(req.target());
      const unsigned version = req.version();
      http::response<http::string_body> res;
      if (req.method() == http::verb::get && target == "/2018-06-01/runtime/invocation/next") {
        std::unique_lock lock(mutex_);
        if (!ready_) {
          ready_ = true;
          first_next_ = SteadyClock::now();
        }
        cv_.notify_all();
        cv_.wait(lock, [&] { return (pending_ && !pending_taken_) || stopped_; });
        if (stopped_) return;
        pending_taken_ = true;
        res = reply(200, pending_->payload, version);
        res.set("Lambda-Runtime-Aws-Request-Id", pending_->request_id);
        res.set("Lambda-Runtime-Deadline-Ms", std::to_string(pending_->deadline_ms));
        res.set("Lambda-Runtime-Invoked-Function-Arn", pending_->function_arn);
        res.set("Lambda-Runtime-Trace-Id", "Root=1-" + pending_->request_id.substr(0, 8) + "-" +
                                               pending_->request_id + ";Sampled=0");
      } else if (req.method() == http::verb::post && target == "/2018-06-01/runtime/init/error") {
        {
          std::lock_guard lock(mutex_);
          init_error_ = req.body().substr(0, 64 * 1024);  // the runtime's {errorType, ...}
        }
        res = reply(202, R"({"status":"OK"})", version);
        http::write(socket, res, ec);
        return;
      } else if (req.method() == http::verb::post &&
                 target.rfind("/2018-06-01/runtime/invocation/", 0) == 0) {
        std::string rest = target.substr(std::string("/2018-06-01/runtime/invocation/").size());
        std::size_t slash = rest.find('/');
        std::string id = rest.substr(0, slash);
        std::string kind = slash == std::string::npos ? "" : rest.substr(slash + 1);
        if ((kind == "response" || kind == "error") && id == current_request_id()) {
          std::string body = req.body();
          if (kind == "error" && body.empty()) {
            body = error_json(std::string(req["Lambda-Runtime-Function-Error-Type"]), "");
          }
          deliver(id, kind == "error", std::move(body));
          res = reply(202, R"({"status":"OK"})", version);
        } else {
          res = reply(
              400,
              error_json("InvalidRequestID", "no invocation with this request id is in progress"),
              version);
        }
      } else {
        res = reply(404, error_json("NotFound", "not a Runtime API path"), version);
      }
      http::write(socket, res, ec);
      if (ec) return;
    }
  }

  std::string current_request_id() {
    std::lock_guard lock(mutex_);
    return pending_ && pending_taken_ ? pending_->request_id : std::string();
  }

  void deliver(const std::string& id, bool error, std::string payload) {
    std::lock_guard lock(mutex_);
    if (!pending_ || pending_->request_id != id) return;
    pending_.reset();
    pending_taken_ = false;
    answer_ = Answer{std::move(payload), error};
    cv_.notify_all();
  }

  int log_fd_ = 2;
  bool log_owned_ = false;
  net::io_context ioc_;
  tcp::acceptor acceptor_{ioc_};
  int listen_fd_ = -1;
  int conn_fd_ = -1;
  std::thread server_;
  std::mutex proc_mutex_;  // pid_ and reaped_status_
  pid_t pid_ = -1;
  std::optional<int> reaped_status_;
  SteadyClock::time_point spawned_;
  SteadyClock::time_point first_next_;
  bool first_used_ = false;

  std::mutex mutex_;
  std::condition_variable cv_;
  bool ready_ = false;
  bool dead_ = false;
  bool stopped_ = false;
  std::string init_error_;
  std::optional<Pending> pending_;
  bool pending_taken_ = false;
  std::optional<Answer> answer_;
};

// ---- FunctionPool -------------------------------------------------------------------------

FunctionPool::FunctionPool(FunctionConfig config) : config_(std::move(config)) {
  if (!config_.log_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(config_.log_dir, ec);
    ::chmod(config_.log_dir.c_str(), 0700);
  } else if (!config_.log_file.empty()) {
    int fd = ::open(config_.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) log_fd_ = fd;
  }
}

FunctionPool::~FunctionPool() {
  shutdown();
  if (log_fd_ > 2) ::close(log_fd_);
}

void FunctionPool::shutdown() {
  std::vector<std::shared_ptr<Environment>> idle;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    idle.swap(idle_);
    free_cv_.notify_all();
  }
  for (auto& env : idle)
    env->shutdown();
}

std::size_t FunctionPool::environments_started() const {
  std::lock_guard lock(mutex_);
  return started_;
}

namespace {

void write_line(int fd, const std::string& line) {
  std::string out = line + "\n";
  // One write per line (O_APPEND): lines of concurrent environments never interleave.
  ssize_t ignored = ::write(fd, out.data(), out.size());
  (void)ignored;
}

// "2026/11/30/[$LATEST]" + 32 random hex digits, as Lambda names an environment's stream.
std::string new_stream_name() {
  const std::string day = format_iso8601(std::chrono::system_clock::now()).substr(0, 10);
  auto hex = iam::random_string(32, "0123456789abcdef");
  std::string name = day.substr(0, 4) + "/" + day.substr(5, 2) + "/" + day.substr(8, 2) +
                     "/[$LATEST]" + (hex ? *hex : std::string(32, '0'));
  return name;
}

}  // namespace

FunctionPool::EnvironmentLog FunctionPool::new_environment_log() {
  EnvironmentLog log;
  log.stream = new_stream_name();
  if (config_.log_dir.empty()) {
    log.fd = log_fd_;
    return log;
  }
  namespace fs = std::filesystem;
  const std::string file_name = lambda_stream_file_name(log.stream);
  std::lock_guard lock(mutex_);
  // The files running environments write: never removed (an environment keeps its stream for
  // its life, as on AWS; removing the file would lose its next lines from the group).
  std::erase_if(streams_in_use_, [](const auto& entry) {
    if (entry.second.starting) return false;
    auto env = entry.second.env.lock();
    return !env || !env->alive();
  });
  // Retention: the oldest other streams beyond log_streams_kept go.
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  std::size_t in_use = 0;
  std::error_code ec;
  for (fs::directory_iterator it(config_.log_dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (lambda_stream_name_of_file(name).empty()) continue;
    if (streams_in_use_.contains(name)) {
      ++in_use;
      continue;
    }
    std::error_code tec;
    const auto t = fs::last_write_time(it->path(), tec);
    if (!tec) files.emplace_back(t, it->path());
  }
  const std::size_t kept = std::max<std::size_t>(1, config_.log_streams_kept);
  if (files.size() + in_use + 1 > kept) {
    std::sort(files.begin(), files.end());
    const std::size_t extra = files.size() + in_use + 1 - kept;
    for (std::size_t i = 0; i < extra && i < files.size(); ++i)
      fs::remove(files[i].second, ec);
  }
  streams_in_use_[file_name] = StreamInUse{};  // starting: its environment comes next
  auto fd = open_log_file(config_.log_dir + "/" + file_name, 0600);
  if (!fd) {
    // The stream cannot be written: the environment's output goes to the emulator's stderr.
    write_line(2, "writegate lambda: " + fd.error().message());
    streams_in_use_.erase(file_name);
    return log;
  }
  log.fd = *fd;
  log.owned = true;
  return log;
}

Result<std::shared_ptr<Environment>> FunctionPool::acquire(
    const EnvironmentCredentials& credentials, const std::string& function_arn) {
  {
    std::unique_lock lock(mutex_);
    const bool got = free_cv_.wait_for(lock, config_.queue_timeout, [&] {
      return stopped_ || !idle_.empty() || live_ < config_.max_concurrency;
    });
    if (stopped_) return Error::unavailable("the local Lambda is shutting down");
    if (!got) {
      return Error::unavailable("Rate Exceeded. (all " + std::to_string(config_.max_concurrency) +
                                " environments stayed busy)");
    }
    while (!idle_.empty()) {
      auto env = std::move(idle_.back());
      idle_.pop_back();
      if (env->alive()) return env;
      // Its runtime exited while idle: as on AWS, the next invocation gets a new environment.
      --live_;
      lock.unlock();
      env->shutdown();
      lock.lock();
    }
    if (live_ >= config_.max_concurrency) {
      return Error::unavailable("Rate Exceeded. (all " + std::to_string(config_.max_concurrency) +
                                " environments are busy)");
    }
    ++live_;
    ++started_;
  }
  auto release_slot = [&] {
    std::lock_guard lock(mutex_);
    --live_;
    free_cv_.notify_one();
  };
  auto creds = credentials();
  if (!creds) {
    release_slot();
    return std::move(creds).error().with_context("the function's role");
  }
  std::string region = "us-east-1";
  if (auto arn = iam::parse_arn(function_arn)) region = arn->region;
  const EnvironmentLog log = new_environment_log();
  auto env =
      Environment::start(config_, *creds, function_arn, log.fd, log.owned, log.stream, region);
  if (log.owned) {
    // The stream's file is in use while its environment runs (not at all if it did not start).
    std::lock_guard lock(mutex_);
    const std::string file_name = lambda_stream_file_name(log.stream);
    if (env) {
      streams_in_use_[file_name] = StreamInUse{*env, false};
    } else {
      streams_in_use_.erase(file_name);
    }
  }
  if (!env) {
    release_slot();
    return std::move(env).error();
  }
  return std::move(*env);
}

void FunctionPool::release(std::shared_ptr<Environment> env) {
  std::lock_guard lock(mutex_);
  if (env && !stopped_) {
    idle_.push_back(std::move(env));
  } else {
    --live_;
  }
  free_cv_.notify_one();
}

Result<InvokeResult> FunctionPool::invoke(const std::string& request_id, const std::string& payload,
                                          const EnvironmentCredentials& credentials,
                                          const std::string& function_arn) {
  WG_ASSIGN_OR_RETURN(auto env, acquire(credentials, function_arn));
  write_line(env->log_fd(), "START RequestId: " + request_id + " Version: $LATEST");
  bool healthy = false;
  InvokeResult result = env->invoke(request_id, payload, function_arn, config_.timeout, healthy);
  write_line(env->log_fd(), "END RequestId: " + request_id);
  write_line(env->log_fd(), report_line(request_id, result, config_.memory_mb));
  // A stream at its cap: the environment retires, the next invocation starts a new stream.
  if (healthy && env->log_bytes() > config_.log_stream_max_bytes) healthy = false;
  if (healthy) {
    release(std::move(env));
  } else {
    env->shutdown();
    release(nullptr);
  }
  return result;
}

std::string report_line(std::string_view request_id, const InvokeResult& r, int memory_mb) {
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "\tDuration: %.2f ms\tBilled Duration: %lld ms\tMemory Size: %d MB\tMax Memory "
                "Used: %ld MB",
                r.duration_ms, static_cast<long long>(std::ceil(r.duration_ms)), memory_mb,
                r.max_memory_used_mb);
  std::string line = "REPORT RequestId: " + std::string(request_id) + buf;
  if (r.init_duration_ms > 0) {
    std::snprintf(buf, sizeof buf, "\tInit Duration: %.2f ms", r.init_duration_ms);
    line += buf;
  }
  return line;
}

// ---- LambdaService ------------------------------------------------------------------------

std::string invoke_path_function(std::string_view path) {
  if (path.substr(0, kInvokePrefix.size()) != kInvokePrefix) return {};
  std::string_view rest = path.substr(kInvokePrefix.size());
  if (rest.size() <= kInvokeSuffix.size() ||
      rest.substr(rest.size() - kInvokeSuffix.size()) != kInvokeSuffix) {
    return {};
  }
  std::string_view name = rest.substr(0, rest.size() - kInvokeSuffix.size());
  if (name.empty() || name.find('/') != std::string_view::npos) return {};
  return percent_decode(name);
}

LambdaService::LambdaService(FunctionConfig config) : pool_(std::move(config)) {
  route_.signing_name = "lambda";
  route_.protocol = awslocal::Protocol::kRestJson;
  route_.rest_path_prefix = std::string(kInvokePrefix);
}

std::string LambdaService::rest_operation(std::string_view method, std::string_view path) const {
  if (method == "POST" && !invoke_path_function(path).empty()) return "Invoke";
  return {};
}

awslocal::ApiResult LambdaService::handle(const awslocal::ServiceCall& call) {
  using awslocal::service_error;
  const iam::StoreSettings settings = call.store.settings();
  const FunctionConfig& config = pool_.config();
  const std::string arn =
      "arn:aws:lambda:" + settings.region + ":" + settings.account_id + ":function:" + config.name;
  std::string name = invoke_path_function(call.request.path);
  // A name, the function's ARN (qualifier $LATEST allowed), or the emulator's "function".
  std::string qualifier;
  for (const auto& q : call.request.query) {
    if (q.name == "Qualifier") qualifier = q.value;
  }
  if (name.rfind("arn:", 0) == 0) {
    std::string base = name;
    std::size_t function_at = base.find(":function:");
    if (function_at != std::string::npos) {
      std::size_t qual = base.find(':', function_at + 10);
      if (qual != std::string::npos) {
        qualifier = base.substr(qual + 1);
        base = base.substr(0, qual);
      }
    }
    name = base == arn ? config.name : base;
  }
  const std::string function_prefix =
      "arn:aws:lambda:" + settings.region + ":" + settings.account_id + ":function:";
  const std::string resource = name == config.name || name == "function" ? arn
                               : name.rfind("arn:", 0) == 0              ? name
                                                                         : function_prefix + name;
  if (auto denied =
          awslocal::authorize(call, awslocal::Protocol::kRestJson, "lambda:InvokeFunction",
                              qualifier.empty() ? resource : resource + ":" + qualifier)) {
    return *denied;
  }
  if ((name != config.name && name != "function") ||
      (!qualifier.empty() && qualifier != "$LATEST")) {
    return service_error(404, "ResourceNotFoundException",
                         "Function not found: " + resource.substr(0, 256) +
                             (qualifier.empty() ? "" : ":" + qualifier.substr(0, 64)));
  }
  std::string invocation_type = "RequestResponse";
  if (auto t = call.request.header("x-amz-invocation-type")) invocation_type = std::string(*t);
  if (invocation_type == "DryRun") {
    awslocal::Response r;
    r.status = 204;
    r.headers.push_back({"x-amzn-RequestId", std::string(call.request_id)});
    return r;
  }
  if (invocation_type != "RequestResponse") {
    return service_error(
        400, "InvalidParameterValueException",
        "this local Lambda serves InvocationType RequestResponse and DryRun, not " +
            invocation_type.substr(0, 32));
  }
  if (call.request.body.size() > kMaxResponseBytes) {
    return service_error(413, "RequestEntityTooLargeException",
                         "Request must be smaller than 6291456 bytes for the InvokeFunction "
                         "operation");
  }
  iam::IamStore& store = call.store;
  const std::string role_name = config.role_name;
  EnvironmentCredentials credentials = [&store, role_name,
                                        &settings]() -> Result<sigv4::Credentials> {
    // Lambda assumes the function's role as lambda.amazonaws.com: the trust policy decides.
    auto trust = store.trust_policy(role_name);
    if (!trust) return std::move(trust).error();
    iam::AssumeRoleCaller caller;
    caller.principal.type = iam::PrincipalInfo::Type::kService;
    caller.principal.service = "lambda.amazonaws.com";
    caller.principal.arn = "lambda.amazonaws.com";
    const std::string role_arn = iam::role_arn(settings.account_id, role_name);
    auto decision = iam::authorize_assume_role(caller, role_arn, *trust);
    if (!decision.allowed) {
      return Error::permission_denied("Lambda (lambda.amazonaws.com) may not assume " + role_arn +
                                      ": " + decision.reason);
    }
    auto role = store.role(role_name);
    std::chrono::seconds duration = std::chrono::hours(6);
    if (role && role->max_session_duration < duration) duration = role->max_session_duration;
    auto session = store.create_session(role_name, "aurora-writer-lambda-env", duration,
                                        std::chrono::system_clock::now());
    if (!session) return std::move(session).error();
    return sigv4::Credentials{session->access_key_id, session->secret_access_key,
                              session->session_token};
  };
  const auto& observer = pool_.config().observer;
  const std::size_t concurrent = ++running_;
  if (observer) observer({.finished = false, .concurrent = concurrent});
  const auto invoke_started = std::chrono::steady_clock::now();
  auto result = pool_.invoke(std::string(call.request_id), call.request.body, credentials, arn);
  --running_;
  if (observer && (result || result.error().subcode() == "Runtime.InitError")) {
    const double elapsed_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - invoke_started)
            .count();
    observer({.finished = true,
              .concurrent = concurrent,
              .duration_ms = result ? result->duration_ms : elapsed_ms,
              .error = !result || !result->function_error.empty()});
  }
  if (!result && result.error().subcode() == "Runtime.InitError") {
    // As on AWS: a failed init is the invocation's function error.
    awslocal::Response r;
    r.headers.push_back({"x-amzn-RequestId", std::string(call.request_id)});
    r.headers.push_back({"Content-Type", "application/json"});
    r.headers.push_back({"X-Amz-Function-Error", "Unhandled"});
    // The runtime's own error object when it posted one to /init/error.
    const nlohmann::json posted = nlohmann::json::parse(result.error().message(), nullptr, false);
    r.body = posted.is_object() && posted.contains("errorType")
                 ? result.error().message()
                 : error_json("Runtime.InitError", result.error().message());
    return r;
  }
  if (!result) {
    if (result.error().code() == ErrorCode::kUnavailable) {
      return service_error(429, "TooManyRequestsException", result.error().message());
    }
    if (result.error().code() == ErrorCode::kPermissionDenied) {
      return service_error(502, "InvalidParameterValueException",
                           "The role defined for the function cannot be assumed by Lambda. (" +
                               result.error().message() + ")");
    }
    return service_error(502, "ServiceException",
                         "the execution environment failed to start: " + result.error().message());
  }
  awslocal::Response r;
  r.status = 200;
  r.headers.push_back({"x-amzn-RequestId", std::string(call.request_id)});
  r.headers.push_back({"Content-Type", "application/json"});
  r.headers.push_back({"X-Amz-Executed-Version", "$LATEST"});
  if (!result->function_error.empty()) {
    r.headers.push_back({"X-Amz-Function-Error", result->function_error});
  }
  r.body = std::move(result->payload);
  return r;
}

}  // namespace writegate::lambda
