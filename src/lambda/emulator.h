// The local Lambda: execution environments for one function, each a `bootstrap` child process
// with its own Runtime API server, and the Lambda Invoke API on the local AWS endpoint.
//
// An environment is started on demand (up to FunctionConfig::max_concurrency at once) with the
// credentials of the function's role, minted by the local STS as lambda.amazonaws.com (the
// role's trust policy must allow that service). It serves one invocation at a time and is
// reused while it stays healthy. The function's timeout is enforced: a late environment is
// killed and the caller gets AWS's "Task timed out" function error. Every invocation writes
// START / END / REPORT lines (Duration, Billed Duration, Memory Size, Max Memory Used, and Init
// Duration on a cold start) to the function's log, after the function's own output.
//
//   FunctionConfig config;
//   config.bootstrap = "build/bin/bootstrap";
//   config.environment = {{"PROXY_ENDPOINT", "localhost"}, ...};
//   auto lambda = std::make_shared<LambdaService>(config);
//   router->add(lambda);         // POST /2015-03-31/functions/{name}/invocations (SigV4,
//                                // lambda:InvokeFunction), also .../functions/function/...
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "awslocal/router.h"
#include "common/result.h"
#include "sigv4/sigv4.h"

namespace writegate::lambda {

// What the local CloudWatch learns of each invocation (AWS/Lambda Invocations, Errors, Duration,
// ConcurrentExecutions). Throttled requests (TooManyRequestsException) are not invocations, as
// on AWS.
struct InvocationEvent {
  bool finished = false;       // false: it is starting
  std::size_t concurrent = 0;  // invocations running at that moment, this one included
  double duration_ms = 0;      // finished only
  bool error = false;          // finished only: a function error or a failed init
};

struct FunctionConfig {
  std::string name = "aurora-writer-lambda";
  std::string bootstrap;  // the executable (custom runtime)
  std::string role_name = "lambda-aurora-writer-role";
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  int memory_mb = 256;
  std::vector<std::pair<std::string, std::string>> environment;  // the function's variables
  std::size_t max_concurrency = 10;                              // environments at once
  std::chrono::milliseconds init_timeout{std::chrono::seconds(10)};
  // How long an invocation waits for a free environment before TooManyRequestsException.
  std::chrono::milliseconds queue_timeout{std::chrono::seconds(30)};
  std::string log_file;  // the function's output and START/END/REPORT lines; empty: stderr
  // One log stream per execution environment, as on AWS (overrides log_file): each writes its
  // own file LOG_DIR/YYYY-MM-DD.<32 hex>.log (mode 0600) for the stream
  // "YYYY/MM/DD/[$LATEST]<32 hex>" (common/log_files.h), also its AWS_LAMBDA_LOG_STREAM_NAME.
  std::string log_dir;
  // An environment whose stream grew past this is retired after the invocation (the next one
  // starts a new environment, so a new stream): a cap on each file.
  std::uint64_t log_stream_max_bytes = std::uint64_t{16} * 1024 * 1024;
  // When an environment starts, the oldest stream files beyond this many are removed, except
  // those a running environment still writes (so more may stay while more environments run).
  std::size_t log_streams_kept = 100;
  // The network namespace the function runs in (/run/netns/<netns>; empty: the emulator's):
  // the Runtime API listens on 127.0.0.1 inside it and the bootstrap starts through
  // `ip netns exec <netns>` (same pid). Needs root.
  std::string netns;
  // The function's own root, as Lambda runs an unzipped package (empty: the host's): a folder
  // holding the package at ROOT/var/task (`writegate package`) and an empty ROOT/proc, and
  // nothing else of the host's. The runtime then starts through `unshare --mount
  // --propagation private --root ROOT --mount-proc` (same pid): a private mount namespace,
  // chrooted to ROOT, /proc mounted inside, so no host file or library is visible to it, and
  // `bootstrap` names the executable inside that root (/var/task/bootstrap). Needs root.
  std::string root;
  // Told of every invocation's start and end (from the invoking thread); may be empty.
  std::function<void(const InvocationEvent&)> observer;
};

struct InvokeResult {
  std::string payload;
  std::string function_error;  // "Unhandled" on a function error, else empty
  double duration_ms = 0;
  double init_duration_ms = 0;  // 0 when the environment was warm
  long max_memory_used_mb = 0;
};

// Credentials for a new environment (the function role's STS session).
using EnvironmentCredentials = std::function<Result<sigv4::Credentials>()>;

class Environment;

// The environments of one function. Thread-safe.
class FunctionPool {
 public:
  explicit FunctionPool(FunctionConfig config);
  ~FunctionPool();
  FunctionPool(const FunctionPool&) = delete;
  FunctionPool& operator=(const FunctionPool&) = delete;

  // Runs one invocation. Errors: kUnavailable when no environment became free within
  // queue_timeout (TooManyRequestsException), kFailedPrecondition when an environment could not
  // start (no credentials, no executable).
  Result<InvokeResult> invoke(const std::string& request_id, const std::string& payload,
                              const EnvironmentCredentials& credentials,
                              const std::string& function_arn);

  const FunctionConfig& config() const { return config_; }
  std::size_t environments_started() const;
  void shutdown();

 private:
  Result<std::shared_ptr<Environment>> acquire(const EnvironmentCredentials& credentials,
                                               const std::string& function_arn);
  void release(std::shared_ptr<Environment> env);
  // The log of a new environment: its stream's file (log_dir) or the shared log.
  struct EnvironmentLog {
    int fd = 2;
    bool owned = false;  // the environment closes it
    std::string stream;  // AWS_LAMBDA_LOG_STREAM_NAME
  };
  EnvironmentLog new_environment_log();
  // The stream files of environments that may still write (under mutex_), by file name: one
  // being started (no environment yet), or its environment while that has not stopped.
  struct StreamInUse {
    std::weak_ptr<Environment> env;
    bool starting = true;
  };
  std::map<std::string, StreamInUse> streams_in_use_;

  FunctionConfig config_;
  int log_fd_ = 2;
  mutable std::mutex mutex_;
  std::condition_variable free_cv_;
  std::vector<std::shared_ptr<Environment>> idle_;
  std::size_t live_ = 0;
  std::size_t started_ = 0;
  bool stopped_ = false;
};

// Lambda Invoke on the local AWS endpoint (REST JSON, signing name "lambda").
class LambdaService : public awslocal::Service {
 public:
  explicit LambdaService(FunctionConfig config);
  const awslocal::ServiceRoute& route() const override { return route_; }
  std::string rest_operation(std::string_view method, std::string_view path) const override;
  awslocal::ApiResult handle(const awslocal::ServiceCall& call) override;
  FunctionPool& pool() { return pool_; }

 private:
  awslocal::ServiceRoute route_;
  FunctionPool pool_;
  std::atomic<std::size_t> running_{0};
};

// The function name in an Invoke path "/2015-03-31/functions/{name}/invocations" (decoded:
// a name, "function" for the Runtime Interface Emulator's path, or an ARN); empty when the
// path is not an Invoke path.
std::string invoke_path_function(std::string_view path);

// "REPORT RequestId: ID\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 256 MB\t
//  Max Memory Used: 12 MB\tInit Duration: 4.56 ms" (Init Duration on cold starts only).
std::string report_line(std::string_view request_id, const InvokeResult& result, int memory_mb);

}  // namespace writegate::lambda
