// writegate-proxy --config proxy.yaml [--spec writegate.yaml] [--output-file FILE
//                 [--output-max-bytes N]]
// RDS Proxy's counterpart: TLS required, IAM tokens required, same-user backend logins.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <thread>

#include "common/log_files.h"
#include "proxy/server.h"
#include "spec/spec.h"

int main(int argc, char** argv) {
  CLI::App app{"writegate-proxy: a TLS-only, IAM-only PostgreSQL proxy (RDS Proxy's counterpart)"};
  std::string spec_path;
  std::string config_path;
  app.add_option("--spec", spec_path, "Spec file (default ./writegate.yaml, else defaults)");
  app.add_option("--config", config_path, "Proxy config (YAML: listen, TLS, backend, secrets)")
      ->required();
  std::string output_file;
  std::int64_t output_max_bytes = 4 * 1024 * 1024;
  app.add_option("--output-file", output_file,
                 "The file this process's stdout and stderr append to: rotated (FILE.<offset>, "
                 "2 kept) when it passes --output-max-bytes");
  app.add_option("--output-max-bytes", output_max_bytes, "Cap of --output-file")
      ->default_str(std::to_string(output_max_bytes));
  CLI11_PARSE(app, argc, argv);

  auto spec = writegate::spec::load_for_cli(spec_path);
  if (!spec) {
    std::cerr << "writegate-proxy: " << spec.error().message() << "\n";
    return 2;
  }
  auto config = writegate::proxy::load_config(*spec, config_path);
  if (!config) {
    std::cerr << "writegate-proxy: " << config.error().message() << "\n";
    return 2;
  }
  // Signals are taken by a thread of their own (blocked before any other thread starts, the
  // secret source's included), which asks the server to drain or stop.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // Its own output under a cap (a thread started after the signals are blocked).
  std::optional<writegate::LogKeeper> output_keeper;
  if (!output_file.empty()) {
    output_keeper.emplace(std::chrono::seconds(1), [&output_file, output_max_bytes] {
      (void)writegate::rotate_output_if_full(output_file,
                                             static_cast<std::uint64_t>(output_max_bytes), 2);
    });
  }
  auto secrets = writegate::proxy::make_secret_source(*config);
  if (!secrets) {
    std::cerr << "writegate-proxy: " << secrets.error().message() << "\n";
    return 2;
  }

  auto server = writegate::proxy::ProxyServer::create(std::move(*config), std::move(*secrets));
  if (!server) {
    std::cerr << "writegate-proxy: " << server.error().message() << "\n";
    return 2;
  }
  std::cout << "writegate-proxy listening on " << (*server)->config().listen_host << ":"
            << (*server)->port() << " (resource id " << (*server)->config().resource_id << ")";
  if ((*server)->admin_port() != 0) {
    std::cout << "; admin (/metrics, /status) on " << (*server)->config().admin_host << ":"
              << (*server)->admin_port();
  }
  std::cout << std::endl;
  // SIGTERM / SIGINT drain (transactions in flight finish, within shutdown_grace); a second
  // one stops at once. SIGHUP reopens the log file and re-reads the settings file (debug
  // logging).
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    bool draining = false;
    for (;;) {
      int sig = 0;
      sigwait(&signals, &sig);
      if (done) return;
      if (sig == SIGHUP) {
        if (auto reopened = (*server)->reopen_log(); !reopened) {
          std::cerr << "writegate-proxy: " << reopened.error().message() << "\n";
        }
        if (auto reloaded = (*server)->reload_settings(); !reloaded) {
          std::cerr << "writegate-proxy: " << reloaded.error().message() << "\n";
        }
        continue;
      }
      if (draining) {
        (*server)->stop();
        return;
      }
      draining = true;
      (*server)->shutdown(std::chrono::seconds((*server)->config().shutdown_grace_seconds));
    }
  });
  (*server)->run();
  done = true;
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return 0;
}
