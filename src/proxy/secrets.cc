#include "proxy/secrets.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "proxy/config.h"

namespace writegate::proxy {
namespace {

class FileSecretSource : public SecretSource {
 public:
  explicit FileSecretSource(std::string path) : path_(std::move(path)) {}

  Result<std::string> password_for(const std::string& user) override {
    std::lock_guard lock(mutex_);
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0)
      return Error::not_found("secrets file " + path_ + " is gone");
    if ((st.st_mode & 077) != 0) {
      return Error::permission_denied("secrets file " + path_ +
                                      " is readable by others; chmod 600 it");
    }
    if (st.st_mtim.tv_sec != mtime_ || st.st_size != size_) {
      std::ifstream in(path_);
      std::stringstream text;
      text << in.rdbuf();
      auto doc = nlohmann::json::parse(text.str(), nullptr, false);
      if (doc.is_discarded() || !doc.is_object()) {
        return Error::invalid_argument("secrets file " + path_ +
                                       " is not a JSON object of user -> password");
      }
      passwords_.clear();
      for (const auto& [name, value] : doc.items()) {
        if (value.is_string()) passwords_[name] = value.get<std::string>();
      }
      mtime_ = st.st_mtim.tv_sec;
      size_ = st.st_size;
    }
    const auto it = passwords_.find(user);
    if (it == passwords_.end()) return Error::not_found("no secret for user " + user);
    return it->second;
  }

  std::string describe() const override { return "secrets file " + path_; }

 private:
  std::string path_;
  std::mutex mutex_;
  std::map<std::string, std::string> passwords_;
  time_t mtime_ = -1;
  off_t size_ = -1;
};

}  // namespace

Result<std::unique_ptr<SecretSource>> make_file_secret_source(const std::string& path) {
  auto source = std::make_unique<FileSecretSource>(path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Error::not_found("cannot read secrets file " + path);
  return std::unique_ptr<SecretSource>(std::move(source));
}

Result<std::unique_ptr<SecretSource>> make_secret_source(const ProxyConfig& config) {
  if (!config.secrets_file.empty()) return make_file_secret_source(config.secrets_file);
  return Error::failed_precondition(
      "Secrets Manager secret source is not available in this build; use secrets_file");
}

}  // namespace writegate::proxy
