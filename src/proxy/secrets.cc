#include "proxy/secrets.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "awslocal/client.h"
#include "iam/arn.h"
#include "iam/evaluator.h"
#include "iam/store.h"
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

using Clock = std::chrono::system_clock;

class SecretsManagerSource : public SecretSource {
 public:
  SecretsManagerSource(const ProxyConfig& config, std::unique_ptr<iam::IamStore> store)
      : config_(config),
        store_(std::move(store)),
        client_(awslocal::ClientOptions{.endpoint_url = config.secrets_endpoint,
                                        .region = config.region,
                                        .ca_file = config.secrets_ca_file}) {}

  Result<std::string> password_for(const std::string& user) override {
    if (user != config_.writer_user) {
      return Error::not_found("no secret is configured for user " + user + " (the proxy serves " +
                              config_.writer_user + ")");
    }
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    if (cached_ && now < cached_until_) return *cached_;
    WG_ASSIGN_OR_RETURN(sigv4::Credentials credentials, role_session(now));
    auto value = client_.get_secret_value(config_.user_secret_name, credentials);
    if (!value) {
      return std::move(value).error().with_context("GetSecretValue " + config_.user_secret_name);
    }
    if (!value->secret_string) {
      return Error::invalid_argument("secret " + config_.user_secret_name + " has no SecretString");
    }
    WG_ASSIGN_OR_RETURN(awslocal::DatabaseSecret secret,
                        awslocal::parse_database_secret(value->secret_string->reveal()));
    if (secret.username != user) {
      return Error::failed_precondition("secret " + config_.user_secret_name + " is for user " +
                                        secret.username + ", not " + user);
    }
    cached_ = std::string(secret.password.reveal());
    cached_until_ = now + std::chrono::seconds(30);
    return *cached_;
  }

  void invalidate(const std::string& user) override {
    if (user != config_.writer_user) return;
    std::lock_guard lock(mutex_);
    cached_.reset();
  }

  std::string describe() const override {
    return "Secrets Manager " + config_.secrets_endpoint + " secret " + config_.user_secret_name +
           " as role " + config_.proxy_role;
  }

 private:
  // A session of the proxy role, as the RDS service would assume it.
  Result<sigv4::Credentials> role_session(Clock::time_point now) {
    if (session_ && now + std::chrono::minutes(5) < session_expires_) return *session_;
    WG_RETURN_IF_ERROR(store_->reload_if_changed());
    WG_ASSIGN_OR_RETURN(iam::NamedPolicy trust, store_->trust_policy(config_.proxy_role));
    iam::PrincipalInfo service;
    service.type = iam::PrincipalInfo::Type::kService;
    service.service = "rds.amazonaws.com";
    service.arn = "rds.amazonaws.com";
    const auto decision = iam::authorize_assume_role(
        {service, {}}, iam::role_arn(config_.account_id, config_.proxy_role), trust);
    if (!decision.allowed) {
      return Error::permission_denied("role " + config_.proxy_role +
                                      " does not trust rds.amazonaws.com: " + decision.reason);
    }
    WG_ASSIGN_OR_RETURN(
        iam::Session session,
        store_->create_session(config_.proxy_role, "writegate-proxy", std::chrono::hours(1), now));
    session_ =
        sigv4::Credentials{session.access_key_id, session.secret_access_key, session.session_token};
    session_expires_ = session.expiration;
    return *session_;
  }

  ProxyConfig config_;
  std::unique_ptr<iam::IamStore> store_;
  awslocal::SecretsManagerClient client_;
  std::mutex mutex_;
  std::optional<sigv4::Credentials> session_;
  Clock::time_point session_expires_;
  std::optional<std::string> cached_;
  Clock::time_point cached_until_;
};

}  // namespace

Result<std::unique_ptr<SecretSource>> make_secrets_manager_source(const ProxyConfig& config) {
  WG_ASSIGN_OR_RETURN(auto store, iam::IamStore::open(config.state_dir));
  WG_RETURN_IF_ERROR(awslocal::parse_endpoint_url(config.secrets_endpoint));
  return std::unique_ptr<SecretSource>(new SecretsManagerSource(config, std::move(store)));
}

Result<std::unique_ptr<SecretSource>> make_file_secret_source(const std::string& path) {
  auto source = std::make_unique<FileSecretSource>(path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Error::not_found("cannot read secrets file " + path);
  return std::unique_ptr<SecretSource>(std::move(source));
}

Result<std::unique_ptr<SecretSource>> make_secret_source(const ProxyConfig& config) {
  if (!config.secrets_file.empty()) return make_file_secret_source(config.secrets_file);
  return make_secrets_manager_source(config);
}

}  // namespace writegate::proxy
