// Test support for pam_writegate.so: a throwaway IAM store (a role allowed rds-db:connect on the
// cluster's dbuser ARN, one that is not), tokens signed with its sessions, and PAM service lines.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "iam/store.h"
#include "sigv4/sigv4.h"

namespace writegate::testing {

inline constexpr const char* kClusterResourceId = "cluster-ABCDEFGHIJKLMNOPQRSTUVWXY0";
inline constexpr const char* kDbUser = "lambda_writer";

class PamStore {
 public:
  // A fresh state folder under `parent` (default $TMPDIR or /tmp) with the store in it.
  explicit PamStore(const std::string& parent = "");
  ~PamStore();
  PamStore(const PamStore&) = delete;
  PamStore& operator=(const PamStore&) = delete;

  const std::string& state_dir() const { return state_dir_; }
  iam::IamStore& store() { return *store_; }
  // A session of `role` ("connect-role": rds-db:connect on the cluster's dbuser ARN of kDbUser;
  // "no-connect-role": no policy; "proxy-only-role": rds-db:connect on a prx- ARN only).
  sigv4::Credentials session(const std::string& role = "connect-role");
  // A token for host:port as `user`, signed at `at`.
  static std::string token(
      const sigv4::Credentials& credentials, const std::string& host, std::uint16_t port,
      const std::string& user = kDbUser,
      std::chrono::system_clock::time_point at = std::chrono::system_clock::now());
  // The module's argument list for this store, host and port.
  std::string module_arguments(const std::string& host, std::uint16_t port) const;

 private:
  std::string root_;
  std::string state_dir_;
  std::unique_ptr<iam::IamStore> store_;
};

// The path of the built pam_writegate.so.
std::string pam_module_path();

}  // namespace writegate::testing
