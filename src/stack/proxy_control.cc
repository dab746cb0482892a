// The running proxy's settings that change without a restart (stack.h).
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "common/time.h"
#include "pki/pki.h"
#include "stack/stack.h"

namespace writegate::stack {

std::string proxy_settings_file(const std::string& state_dir) {
  return state_dir + "/proxy/settings.json";
}

std::string proxy_settings_json(bool debug_logging) {
  return std::string("{\"debug_logging\": ") + (debug_logging ? "true" : "false") + "}\n";
}

Result<StackState> set_proxy_debug_logging(const std::string& state_dir, bool on) {
  // The endpoint serves requests on several threads: one change at a time.
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  WG_ASSIGN_OR_RETURN(StackState state, StackState::load(state_dir));
  const ComponentState* proxy = state.find("proxy");
  if (state.status != "up" || proxy == nullptr || !proxy->running()) {
    return Error::failed_precondition("the stack in " + state_dir + " is " + state.status +
                                      " and its proxy is not running");
  }
  const std::string file = proxy_settings_file(state.state_dir);
  WG_RETURN_IF_ERROR(pki::write_file(file, proxy_settings_json(on), 0600));
  // The proxy reads the file on SIGHUP (and reopens its log, which changes nothing else).
  if (::kill(proxy->pid, SIGHUP) != 0) {
    const int saved = errno;
    (void)pki::write_file(file, proxy_settings_json(state.proxy_debug_logging), 0600);
    return Error::unavailable("cannot signal the proxy (pid " + std::to_string(proxy->pid) +
                              "): " + std::strerror(saved));
  }
  state.proxy_debug_logging = on;
  state.proxy_updated = format_iso8601(std::chrono::system_clock::now());
  WG_RETURN_IF_ERROR(state.save());
  return state;
}

}  // namespace writegate::stack
