// The Lambda Runtime API, client side (what a custom runtime's `bootstrap` speaks):
//   GET  /2018-06-01/runtime/invocation/next             -> the next event (blocks until one)
//   POST /2018-06-01/runtime/invocation/{id}/response    the handler's answer
//   POST /2018-06-01/runtime/invocation/{id}/error       {errorMessage, errorType, stackTrace}
//   POST /2018-06-01/runtime/init/error                  a failed initialisation
// The pure part (paths, header parsing, error bodies) is separate from the HTTP transport, a
// synchronous Boost.Beast client over one keep-alive connection to AWS_LAMBDA_RUNTIME_API.
//
//   auto client = RuntimeClient::from_environment();     // AWS_LAMBDA_RUNTIME_API=host:port
//   for (;;) {
//     auto invocation = client->next();                  // retried on transient errors
//     if (!invocation) return 1;                         // the runtime API is gone: exit
//     auto answer = handle(*invocation);
//     (void)client->respond(invocation->request_id, answer);
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace writegate::lambda {

inline constexpr std::string_view kRuntimeApiVersion = "2018-06-01";
inline constexpr std::size_t kMaxPayloadBytes = 6 * 1024 * 1024;  // Lambda's synchronous limit

struct Invocation {
  std::string request_id;        // Lambda-Runtime-Aws-Request-Id
  std::int64_t deadline_ms = 0;  // Lambda-Runtime-Deadline-Ms (Unix epoch milliseconds)
  std::string function_arn;      // Lambda-Runtime-Invoked-Function-Arn
  std::string trace_id;          // Lambda-Runtime-Trace-Id (may be empty)
  std::string client_context;    // Lambda-Runtime-Client-Context (may be empty)
  std::string cognito_identity;  // Lambda-Runtime-Cognito-Identity (may be empty)
  std::string payload;

  // Time left before the deadline, never negative.
  std::chrono::milliseconds remaining(std::chrono::system_clock::time_point now) const;
};

struct HeaderField {
  std::string name;
  std::string value;
};

// An answer of GET .../next as an Invocation: status 200, a request id made of
// [A-Za-z0-9-], a numeric deadline. Anything else is an error saying what was wrong.
Result<Invocation> invocation_from_response(int status, const std::vector<HeaderField>& headers,
                                            std::string body);

std::string next_path();                                 // /2018-06-01/runtime/invocation/next
std::string response_path(std::string_view request_id);  // .../invocation/ID/response
std::string error_path(std::string_view request_id);     // .../invocation/ID/error
std::string init_error_path();                           // /2018-06-01/runtime/init/error

// {"errorMessage":"...","errorType":"...","stackTrace":[]}
std::string error_body(std::string_view message, std::string_view type);

// A function error as reported to the Runtime API.
struct FunctionError {
  std::string type;     // "Runtime.HandlerError", "Writegate.Retryable", ...
  std::string message;  // never holds a secret
};

class RuntimeClient {
 public:
  // host:port from AWS_LAMBDA_RUNTIME_API.
  static Result<std::unique_ptr<RuntimeClient>> from_environment();
  static Result<std::unique_ptr<RuntimeClient>> connect_to(std::string_view host_port);
  ~RuntimeClient();
  RuntimeClient(const RuntimeClient&) = delete;
  RuntimeClient& operator=(const RuntimeClient&) = delete;

  // The next event. Waits as long as the runtime API holds the request (the environment is
  // idle); transient transport errors are retried (3 attempts) before giving up.
  Result<Invocation> next();
  Status respond(std::string_view request_id, std::string_view body);
  Status fail(std::string_view request_id, const FunctionError& error);
  Status init_failed(const FunctionError& error);

 private:
  struct Impl;
  explicit RuntimeClient(std::unique_ptr<Impl> impl);
  Status post(const std::string& path, std::string_view body,
              const std::vector<HeaderField>& headers);
  std::unique_ptr<Impl> impl_;
};

}  // namespace writegate::lambda
