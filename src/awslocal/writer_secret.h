// The writer's secret (spec database.user_secret, `{"username": ..., "password": ...}`) in the
// local Secrets Manager of the state folder: what the proxy reads in standard mode. Used by
// `writegate secrets rotate-writer` and `writegate audit --check-secret`.
//
//   auto secret = WriterSecret::open(state_dir, spec.database.user_secret);
//   auto password = secret->password();               // AWSCURRENT; never print it
//   (void)secret->store(spec.database.user, fresh);   // new AWSCURRENT, other fields kept
//   (void)secret->restore();                          // the value before store()
//
// Compiled only with the awslocal module (writegate_awslocal).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/result.h"

namespace writegate::awslocal {

class WriterSecret {
 public:
  static Result<WriterSecret> open(const std::string& state_dir, const std::string& name);
  WriterSecret(WriterSecret&&) noexcept;
  WriterSecret& operator=(WriterSecret&&) noexcept;
  ~WriterSecret();

  // The "password" of the current value; not_found when the secret does not exist.
  Result<std::string> password() const;
  // Stores {"username": user, "password": password} (keeping the value's other fields) as the
  // new AWSCURRENT version; creates the secret when there is none.
  Status store(const std::string& user, const std::string& password);
  // Puts back the value that was current before store() (a new AWSCURRENT version holding it).
  Status restore();

 private:
  struct State;
  explicit WriterSecret(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace writegate::awslocal
