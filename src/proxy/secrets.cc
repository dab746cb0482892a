#include "proxy/secrets.h"

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include "awslocal/client.h"
#include "common/secret_string.h"
#include "iam/arn.h"
#include "iam/evaluator.h"
#include "iam/store.h"
#include "proxy/config.h"
#include "sigv4/rds_token.h"

namespace writegate::proxy {
namespace {

class FileSecretSource : public SecretSource {
 public:
  explicit FileSecretSource(std::string path) : path_(std::move(path)) {}

  // A local file, read only when it changed: quick enough to read under the lock.
  Result<std::string> password_for(const std::string& user) override {
    std::lock_guard lock(mutex_);
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0)
      return Error::not_found("secrets file " + path_ + " is gone");
    if ((st.st_mode & 077) != 0) {
      return Error::permission_denied("secrets file " + path_ +
                                      " is readable by others; chmod 600 it");
    }
    // Nanoseconds and the inode too: a rewrite within the same second to the same size, or a
    // new file renamed over the old one, is a change.
    const FileVersion version{st.st_ino, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_size};
    if (!loaded_ || version != *loaded_) {
      std::ifstream in(path_);
      if (!in) return Error::io("cannot read secrets file " + path_);
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
      loaded_ = version;
    }
    const auto it = passwords_.find(user);
    if (it == passwords_.end()) return Error::not_found("no secret for user " + user);
    return std::string(it->second.reveal());
  }

  // The database refused a password: read the file again on the next call, changed or not.
  void invalidate(const std::string& user) override {
    (void)user;
    std::lock_guard lock(mutex_);
    loaded_.reset();
  }

  std::string describe() const override { return "secrets file " + path_; }

 private:
  struct FileVersion {
    ino_t inode;
    time_t mtime_sec;
    long mtime_nsec;
    off_t size;
    bool operator==(const FileVersion&) const = default;
  };

  const std::string path_;
  std::mutex mutex_;
  std::map<std::string, SecretString> passwords_;
  std::optional<FileVersion> loaded_;
};

// Starts `body` on a thread that takes none of the process's asynchronous signals. A program
// that waits for SIGTERM/SIGINT/SIGHUP with sigwait() (writegate-proxy) blocks them only after
// it made its secret source; delivered to this thread, SIGTERM would kill it instead. Faults
// (SIGSEGV, ...) stay unblocked: the kernel would otherwise kill without a report.
std::thread start_without_signals(std::function<void()> body) {
  sigset_t blocked;
  sigfillset(&blocked);
  for (const int fault : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS}) {
    sigdelset(&blocked, fault);
  }
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &blocked, &previous);
  struct Restore {
    const sigset_t& mask;
    ~Restore() { pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  } restore{previous};
  return std::thread(std::move(body));  // inherits the mask
}

// The single-flight cache behind make_caching_secret_source (rules: SecretCachePolicy).
// One mutex guards the entries and the refresh queue; it is never held across a fetch.
class CachingSecretSource : public SecretSource {
 public:
  CachingSecretSource(SecretFetcher fetch, std::string description, SecretCachePolicy policy,
                      SecretCacheClock clock)
      : fetch_(std::move(fetch)),
        description_(std::move(description)),
        policy_(policy),
        clock_(clock ? std::move(clock) : SecretCacheClock([] { return SteadyClock::now(); })),
        refresher_(start_without_signals([this] { refresh_loop(); })) {}

  CachingSecretSource(const CachingSecretSource&) = delete;
  CachingSecretSource& operator=(const CachingSecretSource&) = delete;

  ~CachingSecretSource() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    refresh_wanted_.notify_all();
    refresher_.join();
  }

  Result<std::string> password_for(const std::string& user) override {
    std::unique_lock lock(mutex_);
    for (;;) {
      Entry& entry = entries_[user];
      const auto now = clock_();
      if (entry.value) {
        const auto age = now - entry.fetched_at;
        if (age < policy_.refresh_after) return std::string(entry.value->reveal());
        // Due for a refresh, or expired after a failed fetch but within the grace: served at
        // once while the one fetch runs in the background.
        if (age < policy_.ttl || (entry.last_error && age < policy_.ttl + policy_.grace)) {
          refresh_in_background(user, entry, now);
          return std::string(entry.value->reveal());
        }
      }
      // Nothing to serve at once: wait for the one fetch in flight, or run it.
      std::shared_ptr<Flight> flight = entry.flight;
      if (!flight) {
        if (entry.last_error && now - entry.failed_at < policy_.retry_after_failure) {
          return stale_or_error(entry, *entry.last_error, now);
        }
        flight = std::make_shared<Flight>();
        flight->generation = entry.generation;
        entry.flight = flight;
      }
      if (flight->state == Flight::State::kQueued) {
        run(lock, user, flight);
      } else if (flight->runner == std::this_thread::get_id()) {
        return Error::failed_precondition("the secret of user " + user +
                                          " was asked for while fetching it (" + description_ +
                                          ")");
      } else {
        flight_done_.wait(lock, [&] { return flight->state == Flight::State::kDone; });
      }
      // invalidate() ran meanwhile: what the flight got may be the refused password.
      if (flight->generation != entries_[user].generation) continue;
      if (flight->result->ok()) return std::string(flight->result->value().reveal());
      return stale_or_error(entries_[user], flight->result->error(), clock_());
    }
  }

  void invalidate(const std::string& user) override {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(user);
    if (it == entries_.end()) return;
    Entry& entry = it->second;
    ++entry.generation;
    entry.value.reset();
    entry.last_error.reset();
    // A fetch not yet started reads the secret after this point: its answer may be kept.
    if (entry.flight && entry.flight->state == Flight::State::kQueued) {
      entry.flight->generation = entry.generation;
    }
  }

  std::string describe() const override { return description_; }

 private:
  using SteadyClock = std::chrono::steady_clock;

  // One fetch of one user's password. Queued: waiting for the refresh thread (any caller that
  // needs it sooner runs it itself); running: on `runner`; done: `result` is set.
  struct Flight {
    enum class State { kQueued, kRunning, kDone };
    State state = State::kQueued;
    std::uint64_t generation = 0;
    std::thread::id runner;
    std::optional<Result<SecretString>> result;
  };

  struct Entry {
    std::optional<SecretString> value;
    SteadyClock::time_point fetched_at;
    std::uint64_t generation = 0;     // bumped by invalidate()
    std::shared_ptr<Flight> flight;   // the one fetch in flight
    std::optional<Error> last_error;  // of the last fetch, when it failed
    SteadyClock::time_point failed_at;
  };

  // Queues a refresh of `user` unless one is in flight or the last one failed too recently.
  void refresh_in_background(const std::string& user, Entry& entry, SteadyClock::time_point now) {
    if (entry.flight || stopping_) return;
    if (entry.last_error && now - entry.failed_at < policy_.retry_after_failure) return;
    entry.flight = std::make_shared<Flight>();
    entry.flight->generation = entry.generation;
    refresh_queue_.emplace_back(user, entry.flight);
    refresh_wanted_.notify_one();
  }

  // Runs a queued flight on this thread: the lock is released for the fetch.
  void run(std::unique_lock<std::mutex>& lock, const std::string& user,
           const std::shared_ptr<Flight>& flight) {
    flight->state = Flight::State::kRunning;
    flight->runner = std::this_thread::get_id();
    lock.unlock();
    Result<SecretString> result = fetch_guarded(user);
    lock.lock();
    finish(user, flight, std::move(result));
  }

  Result<SecretString> fetch_guarded(const std::string& user) {
    try {
      auto password = fetch_(user);
      if (!password) return std::move(password).error();
      return SecretString(std::move(*password));
    } catch (const std::exception& e) {
      // A throwing fetcher must not leave the flight running forever: its waiters would hang.
      return Error::internal("fetching the secret of user " + user + " threw: " + e.what());
    }
  }

  void finish(const std::string& user, const std::shared_ptr<Flight>& flight,
              Result<SecretString> result) {
    Entry& entry = entries_[user];
    if (entry.flight == flight) entry.flight.reset();
    if (flight->generation == entry.generation) {
      if (result) {
        entry.value = result.value();
        entry.fetched_at = clock_();
        entry.last_error.reset();
      } else {
        entry.last_error = result.error();
        entry.failed_at = clock_();
      }
    }
    flight->result = std::move(result);
    flight->state = Flight::State::kDone;
    flight_done_.notify_all();
  }

  // After a failed fetch: the expired password within the grace, else the failure.
  Result<std::string> stale_or_error(const Entry& entry, const Error& error,
                                     SteadyClock::time_point now) const {
    if (!entry.value) return error;
    const auto age = now - entry.fetched_at;
    if (age < policy_.ttl + policy_.grace) return std::string(entry.value->reveal());
    const auto expired = std::chrono::duration_cast<std::chrono::seconds>(age - policy_.ttl);
    const auto grace = std::chrono::duration_cast<std::chrono::seconds>(policy_.grace);
    return error.with_context("the cached secret expired " + std::to_string(expired.count()) +
                              " s ago, beyond the " + std::to_string(grace.count()) +
                              " s it may be served stale");
  }

  // The refresh thread: runs the flights refresh_in_background() queued, one at a time.
  void refresh_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      refresh_wanted_.wait(lock, [&] { return stopping_ || !refresh_queue_.empty(); });
      if (stopping_) break;
      auto [user, flight] = std::move(refresh_queue_.front());
      refresh_queue_.pop_front();
      // A caller that needed the password sooner may have run it already.
      if (flight->state == Flight::State::kQueued) run(lock, user, flight);
    }
    // Nothing waits on a queued flight (a waiter would have run it), but finish them anyway.
    for (auto& [user, flight] : refresh_queue_) {
      if (flight->state == Flight::State::kQueued) {
        finish(user, flight, Error::unavailable("the secret source is shutting down"));
      }
    }
    refresh_queue_.clear();
  }

  const SecretFetcher fetch_;
  const std::string description_;
  const SecretCachePolicy policy_;
  const SecretCacheClock clock_;
  std::mutex mutex_;
  std::condition_variable flight_done_;
  std::condition_variable refresh_wanted_;
  std::map<std::string, Entry> entries_;
  std::deque<std::pair<std::string, std::shared_ptr<Flight>>> refresh_queue_;
  bool stopping_ = false;
  std::thread refresher_;  // last: starts once everything above exists
};

using Clock = std::chrono::system_clock;

// A session of the proxy role as the RDS service would get it (the role's trust policy must allow
// rds.amazonaws.com): for Secrets Manager in standard mode, for backend tokens with auth iam.
class ProxyRoleSession {
 public:
  ProxyRoleSession(const ProxyConfig& config, std::unique_ptr<iam::IamStore> store)
      : config_(config), store_(std::move(store)) {}

 public:
  // A session of the proxy role, renewed 5 minutes before it expires by one caller while the
  // others keep using the current one.
  Result<sigv4::Credentials> get() {
    std::unique_lock lock(session_mutex_);
    for (;;) {
      const auto now = Clock::now();
      if (session_ && now + kRenewBefore < session_expires_) return *session_;
      if (!session_renewing_) break;
      if (session_ && now + kStillUsable < session_expires_) return *session_;
      session_renewed_.wait(lock, [&] { return !session_renewing_; });
    }
    session_renewing_ = true;
    lock.unlock();
    auto fresh = assume_role(Clock::now());
    lock.lock();
    session_renewing_ = false;
    session_renewed_.notify_all();
    if (fresh) {
      session_ =
          sigv4::Credentials{fresh->access_key_id, fresh->secret_access_key, fresh->session_token};
      session_expires_ = fresh->expiration;
      return *session_;
    }
    // The renewal failed: the current session serves while it lasts.
    if (session_ && Clock::now() + kStillUsable < session_expires_) return *session_;
    return std::move(fresh).error();
  }

  // The proxy role's session, as the RDS service would assume it. Runs on one thread at a time
  // (session_renewing_), so the store needs no lock of its own.
  Result<iam::Session> assume_role(Clock::time_point now) {
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
    return store_->create_session(config_.proxy_role, "writegate-proxy", std::chrono::hours(1),
                                  now);
  }

 private:
  static constexpr auto kRenewBefore = std::chrono::minutes(5);
  static constexpr auto kStillUsable = std::chrono::minutes(1);

  const ProxyConfig config_;
  const std::unique_ptr<iam::IamStore> store_;
  std::mutex session_mutex_;
  std::condition_variable session_renewed_;
  bool session_renewing_ = false;
  std::optional<sigv4::Credentials> session_;
  Clock::time_point session_expires_;
};

// Fetches the writer's password from Secrets Manager with a session of the proxy role. Holds no
// lock across the network: the cache calls it for one user at a time, and the role session has
// its own single flight.
class SecretsManagerFetcher {
 public:
  SecretsManagerFetcher(const ProxyConfig& config, std::unique_ptr<iam::IamStore> store)
      : config_(config),
        session_(config, std::move(store)),
        client_(awslocal::ClientOptions{.endpoint_url = config.secrets_endpoint,
                                        .region = config.region,
                                        .ca_file = config.secrets_ca_file}) {}

  Result<std::string> fetch(const std::string& user) {
    WG_ASSIGN_OR_RETURN(sigv4::Credentials credentials, session_.get());
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
    return std::string(secret.password.reveal());
  }

 private:
  const ProxyConfig config_;
  ProxyRoleSession session_;
  const awslocal::SecretsManagerClient client_;
};

// With backend.auth iam: a fresh RDS token per backend connection, signed with the proxy role's
// session for the backend's name and port and the login user. Nothing is cached but the session
// (a token lives 15 minutes; each new physical connection gets a new one).
class IamTokenSource : public SecretSource {
 public:
  IamTokenSource(const ProxyConfig& config, std::unique_ptr<iam::IamStore> store)
      : request_{.hostname = config.backend.server_name,
                 .port = static_cast<std::uint16_t>(config.backend.port),
                 .username = {},
                 .region = config.region},
        description_("IAM tokens of role " + config.proxy_role + " for " +
                     config.backend.server_name + ":" + std::to_string(config.backend.port)),
        session_(config, std::move(store)) {}

  Result<std::string> password_for(const std::string& user) override {
    WG_ASSIGN_OR_RETURN(sigv4::Credentials credentials, session_.get());
    sigv4::RdsTokenRequest request = request_;
    request.username = user;
    return sigv4::generate_rds_token(request, credentials, Clock::now());
  }

  std::string describe() const override { return description_; }

 private:
  const sigv4::RdsTokenRequest request_;
  const std::string description_;
  ProxyRoleSession session_;
};

// The writer's secret only, cached by the policy.
class SecretsManagerSource : public SecretSource {
 public:
  SecretsManagerSource(const ProxyConfig& config, std::unique_ptr<iam::IamStore> store,
                       SecretCachePolicy policy)
      : writer_user_(config.writer_user),
        description_("Secrets Manager " + config.secrets_endpoint + " secret " +
                     config.user_secret_name + " as role " + config.proxy_role),
        cache_(make_caching_secret_source(
            [fetcher = std::make_shared<SecretsManagerFetcher>(config, std::move(store))](
                const std::string& user) { return fetcher->fetch(user); },
            description_, policy)) {}

  Result<std::string> password_for(const std::string& user) override {
    if (user != writer_user_) {
      return Error::not_found("no secret is configured for user " + user + " (the proxy serves " +
                              writer_user_ + ")");
    }
    return cache_->password_for(user);
  }

  void invalidate(const std::string& user) override {
    if (user == writer_user_) cache_->invalidate(user);
  }

  std::string describe() const override { return description_; }

 private:
  const std::string writer_user_;
  const std::string description_;
  const std::unique_ptr<SecretSource> cache_;
};

}  // namespace

std::unique_ptr<SecretSource> make_caching_secret_source(SecretFetcher fetch,
                                                         std::string description,
                                                         SecretCachePolicy policy,
                                                         SecretCacheClock clock) {
  return std::make_unique<CachingSecretSource>(std::move(fetch), std::move(description), policy,
                                               std::move(clock));
}

Result<std::unique_ptr<SecretSource>> make_secrets_manager_source(const ProxyConfig& config,
                                                                  SecretCachePolicy policy) {
  WG_ASSIGN_OR_RETURN(auto store, iam::IamStore::open(config.state_dir));
  WG_RETURN_IF_ERROR(awslocal::parse_endpoint_url(config.secrets_endpoint));
  return std::unique_ptr<SecretSource>(
      std::make_unique<SecretsManagerSource>(config, std::move(store), policy));
}

Result<std::unique_ptr<SecretSource>> make_file_secret_source(const std::string& path) {
  auto source = std::make_unique<FileSecretSource>(path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Error::not_found("cannot read secrets file " + path);
  return std::unique_ptr<SecretSource>(std::move(source));
}

Result<std::unique_ptr<SecretSource>> make_iam_token_source(const ProxyConfig& config) {
  WG_ASSIGN_OR_RETURN(auto store, iam::IamStore::open(config.state_dir));
  return std::unique_ptr<SecretSource>(std::make_unique<IamTokenSource>(config, std::move(store)));
}

Result<std::unique_ptr<SecretSource>> make_secret_source(const ProxyConfig& config) {
  if (config.backend.auth == BackendAuth::kIam) return make_iam_token_source(config);
  if (!config.secrets_file.empty()) return make_file_secret_source(config.secrets_file);
  return make_secrets_manager_source(config);
}

}  // namespace writegate::proxy
