#include "lambda/libpq_loader.h"

#include <dlfcn.h>

#include <mutex>
#include <optional>
#include <thread>

namespace writegate::lambda {
namespace {

std::once_flag g_once;
std::optional<Result<const LibPq*>> g_loaded;

Result<const LibPq*> load() {
  void* handle = ::dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return Error::failed_precondition(std::string("cannot load libpq.so.5: ") +
                                      (why ? why : "unknown error"));
  }
  static LibPq api{};
  bool missing = false;
  std::string missing_name;
  auto bind = [&](auto& slot, const char* name) {
    void* symbol = ::dlsym(handle, name);
    if (symbol == nullptr) {
      missing = true;
      missing_name = name;
      return;
    }
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(symbol);
  };
  bind(api.connectdb_params, "PQconnectdbParams");
  bind(api.status, "PQstatus");
  bind(api.error_message, "PQerrorMessage");
  bind(api.finish, "PQfinish");
  bind(api.enter_pipeline_mode, "PQenterPipelineMode");
  bind(api.exit_pipeline_mode, "PQexitPipelineMode");
  bind(api.pipeline_sync, "PQpipelineSync");
  bind(api.send_query_params, "PQsendQueryParams");
  bind(api.get_result, "PQgetResult");
  bind(api.result_status, "PQresultStatus");
  bind(api.result_error_field, "PQresultErrorField");
  bind(api.result_error_message, "PQresultErrorMessage");
  bind(api.cmd_tuples, "PQcmdTuples");
  bind(api.clear, "PQclear");
  bind(api.exec, "PQexec");
  bind(api.transaction_status, "PQtransactionStatus");
  if (missing) {
    return Error::failed_precondition("libpq.so.5 has no " + missing_name +
                                      " (libpq 14 or newer is needed for pipeline mode)");
  }
  return static_cast<const LibPq*>(&api);
}

}  // namespace

Result<const LibPq*> libpq() {
  std::call_once(g_once, [] { g_loaded.emplace(load()); });
  return *g_loaded;
}

void preload_libpq() {
  std::thread([] { (void)libpq(); }).detach();
}

}  // namespace writegate::lambda
