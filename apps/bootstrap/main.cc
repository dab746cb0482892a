// bootstrap: the function's custom runtime (Lambda provided.al2023, or the local Lambda).
//
// Start-up does only what cannot wait: read the configuration and reach the Runtime API. libpq
// is loaded in the background (lambda/libpq_loader.h) and the database connection is opened by
// the first invocation and reused by later ones (lambda/db_writer.h). A handler that throws becomes
// an error response, never a dead process.
#include <stdlib.h>
#include <unistd.h>

#include <exception>
#include <filesystem>
#include <iostream>

#include "lambda/handler.h"
#include "lambda/libpq_loader.h"
#include "lambda/runtime.h"

namespace {

std::string exe_dir() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : path.parent_path().string();
}

}  // namespace

int main() {
  using namespace writegate::lambda;
  preload_libpq();  // beside the first /next, not before it
  Logger logger = Logger::from_environment();
  auto client = RuntimeClient::from_environment();
  if (!client) {
    logger.error(client.error().message());
    return 1;
  }
  auto config = WriterConfig::from_environment(exe_dir());
  if (!config) {
    logger.error("init failed", {}, {{"error", config.error().message()}});
    (void)(*client)->init_failed({"Runtime.InitError", config.error().message()});
    return 1;
  }
  WriterHandler handler(std::move(*config), logger);
  for (;;) {
    auto invocation = (*client)->next();
    if (!invocation) {
      if (invocation.error().code() == writegate::ErrorCode::kInvalidArgument) {
        logger.error("bad event from the runtime API", {},
                     {{"error", invocation.error().message()}});
        continue;
      }
      logger.error("the runtime API is gone", {}, {{"error", invocation.error().message()}});
      return 1;
    }
    ::setenv("_X_AMZN_TRACE_ID", invocation->trace_id.c_str(), 1);
    HandlerResult result;
    try {
      result = handler.handle(*invocation);
    } catch (const std::exception& e) {
      result.function_error = FunctionError{"Runtime.HandlerException", e.what()};
    } catch (...) {
      result.function_error = FunctionError{"Runtime.HandlerException", "unknown exception"};
    }
    writegate::Status sent = result.function_error
                                 ? (*client)->fail(invocation->request_id, *result.function_error)
                                 : (*client)->respond(invocation->request_id, result.body);
    if (!sent) {
      logger.error("could not deliver the answer", invocation->request_id,
                   {{"error", sent.error().message()}});
    }
  }
}
