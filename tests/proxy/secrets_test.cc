// The proxy's secret sources: the single-flight cache (through a fake fetcher and a clock the
// test moves), the secrets file, and Secrets Manager on the local AWS endpoint made slow.
#include "proxy/secrets.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <latch>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "awslocal/endpoint.h"
#include "awslocal/fixture.h"
#include "awslocal/secret_store.h"
#include "awslocal/secretsmanager.h"
#include "awslocal/sts.h"
#include "proxy/config.h"

namespace writegate::proxy {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// A steady clock that moves only when the test says so.
class FakeClock {
 public:
  SteadyClock::time_point now() const { return SteadyClock::time_point(offset_.load()); }
  void advance(SteadyClock::duration by) { offset_.store(offset_.load() + by); }
  SecretCacheClock function() {
    return [this] { return now(); };
  }

 private:
  std::atomic<SteadyClock::duration> offset_{std::chrono::hours(1)};
};

// A gate a fetch can be held at until the test opens it.
class Gate {
 public:
  void close() {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    changed_.notify_all();
  }
  void pass() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = true;
};

// Stands in for Secrets Manager: a password per user, a delay, a failure switch, a gate, and
// counts of what it was asked.
class FakeSecretsManager {
 public:
  void set(const std::string& user, const std::string& password) {
    std::lock_guard lock(mutex_);
    passwords_[user] = password;
  }

  Result<std::string> fetch(const std::string& user) {
    ++calls;
    const int now_in_flight = ++in_flight;
    int seen = max_in_flight.load();
    while (now_in_flight > seen && !max_in_flight.compare_exchange_weak(seen, now_in_flight)) {
    }
    // The password is read when the request arrives, as the service would.
    Result<std::string> answer = Error::not_found("no secret for user " + user);
    {
      std::lock_guard lock(mutex_);
      if (failing) {
        answer = Error::unavailable("Secrets Manager is down");
      } else if (const auto it = passwords_.find(user); it != passwords_.end()) {
        answer = it->second;
      }
    }
    if (during) during(user);
    gate.pass();
    std::this_thread::sleep_for(delay.load());
    --in_flight;
    ++completed;
    return answer;
  }

  SecretFetcher fetcher() {
    return [this](const std::string& user) { return fetch(user); };
  }

  std::atomic<int> calls{0};
  std::atomic<int> completed{0};
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  std::atomic<SteadyClock::duration> delay{SteadyClock::duration::zero()};
  std::atomic<bool> failing{false};
  std::function<void(const std::string&)> during;  // runs inside each fetch
  Gate gate;

 private:
  std::mutex mutex_;
  std::map<std::string, std::string> passwords_;
};

// Waits up to `limit` for `condition`.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = 5s) {
  const auto until = SteadyClock::now() + limit;
  while (!condition()) {
    if (SteadyClock::now() > until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// Whether every call has answered within 30 s (a deadline against a hang, not a time bound:
// the tests hold what the callers must not wait for at a gate until this returns).
template <typename T>
bool all_answered(const std::vector<std::future<T>>& results) {
  const auto deadline = SteadyClock::now() + 30s;
  bool all = true;
  for (const auto& result : results)
    all = result.wait_until(deadline) == std::future_status::ready && all;
  return all;
}

// The default policy, spelled out: the tests below move the clock by these numbers.
SecretCachePolicy default_policy() {
  return {.refresh_after = 24s, .ttl = 30s, .grace = 5min, .retry_after_failure = 1s};
}

class CachingSecretSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manager_.set("lambda_writer", "first");
    source_ = make_caching_secret_source(manager_.fetcher(), "fake secrets", default_policy(),
                                         clock_.function());
  }

  std::string password(const std::string& user = "lambda_writer") {
    auto found = source_->password_for(user);
    EXPECT_TRUE(found.ok()) << found.error().message();
    return found.ok() ? *found : "";
  }

  FakeClock clock_;
  FakeSecretsManager manager_;
  std::unique_ptr<SecretSource> source_;
};

TEST_F(CachingSecretSourceTest, ServesAFreshPasswordFromTheCache) {
  EXPECT_EQ(password(), "first");
  manager_.set("lambda_writer", "second");
  clock_.advance(23s);
  EXPECT_EQ(password(), "first");
  EXPECT_EQ(manager_.calls, 1);
  EXPECT_EQ(source_->describe(), "fake secrets");
}

TEST_F(CachingSecretSourceTest, EightCallersWithNothingCachedShareOneSlowFetch) {
  manager_.delay = 2s;
  std::latch start(8);
  std::vector<std::future<Result<std::string>>> results;
  for (int i = 0; i < 8; ++i) {
    results.push_back(std::async(std::launch::async, [&] {
      start.arrive_and_wait();
      return source_->password_for("lambda_writer");
    }));
  }
  for (auto& result : results) {
    auto found = result.get();
    ASSERT_TRUE(found.ok()) << found.error().message();
    EXPECT_EQ(*found, "first");
  }
  EXPECT_EQ(manager_.calls, 1);
  EXPECT_EQ(manager_.max_in_flight, 1);
}

TEST_F(CachingSecretSourceTest, EightCallersWithACachedPasswordDoNotWaitForTheSlowRefresh) {
  EXPECT_EQ(password(), "first");
  manager_.set("lambda_writer", "second");
  // The refresh cannot finish until the gate opens: every caller must have its answer before
  // that (a caller that waited for the refresh would still be waiting; no clock decides).
  manager_.gate.close();
  clock_.advance(25s);  // past the refresh point, before expiry
  std::latch start(8);
  std::vector<std::future<Result<std::string>>> results;
  for (int i = 0; i < 8; ++i) {
    results.push_back(std::async(std::launch::async, [&] {
      start.arrive_and_wait();
      return source_->password_for("lambda_writer");
    }));
  }
  EXPECT_TRUE(all_answered(results)) << "a caller waited for the refresh";
  EXPECT_TRUE(eventually([&] { return manager_.calls == 2; })) << "no refresh started";
  manager_.gate.open();
  for (auto& result : results) {
    auto found = result.get();
    ASSERT_TRUE(found.ok()) << found.error().message();
    EXPECT_EQ(*found, "first");
  }
  // The one refresh lands; nobody started a second.
  EXPECT_TRUE(
      eventually([&] { return source_->password_for("lambda_writer").value() == "second"; }));
  EXPECT_EQ(manager_.calls, 2);
  EXPECT_EQ(manager_.max_in_flight, 1);
}

TEST_F(CachingSecretSourceTest, ASoftRefreshServesTheCachedPasswordUntilItLands) {
  EXPECT_EQ(password(), "first");
  manager_.set("lambda_writer", "second");
  manager_.gate.close();
  clock_.advance(24s);
  EXPECT_EQ(password(), "first");  // starts the refresh
  ASSERT_TRUE(eventually([&] { return manager_.calls == 2; }));
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(password(), "first");
  EXPECT_EQ(manager_.calls, 2);
  manager_.gate.open();
  EXPECT_TRUE(
      eventually([&] { return source_->password_for("lambda_writer").value() == "second"; }));
  EXPECT_EQ(manager_.calls, 2);
  // The refreshed password is fresh again for the whole refresh interval.
  clock_.advance(23s);
  EXPECT_EQ(password(), "second");
  EXPECT_EQ(manager_.calls, 2);
}

TEST_F(CachingSecretSourceTest, AnExpiredPasswordIsNotServedWhileTheServiceAnswers) {
  EXPECT_EQ(password(), "first");
  manager_.set("lambda_writer", "second");
  clock_.advance(30s);
  EXPECT_EQ(password(), "second");  // waited for the fetch
  EXPECT_EQ(manager_.calls, 2);
}

TEST_F(CachingSecretSourceTest, AfterExpiryAFailingServiceGetsTheStalePasswordWithinTheGrace) {
  EXPECT_EQ(password(), "first");
  manager_.failing = true;
  clock_.advance(31s);
  EXPECT_EQ(password(), "first");  // the fetch failed: stale, within the grace
  EXPECT_EQ(manager_.calls, 2);
  EXPECT_EQ(password(), "first");  // within the retry interval: no new fetch
  EXPECT_EQ(manager_.calls, 2);

  // Later in the grace: served at once, while the retry runs in the background.
  // The retry is held at the gate: a caller that waited for it would not answer at all.
  manager_.gate.close();
  clock_.advance(2min);
  auto answer = std::async(std::launch::async, [&] { return password(); });
  const bool answered = answer.wait_for(30s) == std::future_status::ready;
  if (!answered) manager_.gate.open();
  ASSERT_TRUE(answered) << "the caller waited for the retry";
  EXPECT_EQ(answer.get(), "first");
  ASSERT_TRUE(eventually([&] { return manager_.calls == 3; }));
  EXPECT_EQ(password(), "first");
  manager_.gate.open();
  ASSERT_TRUE(eventually([&] { return manager_.completed == 3; }));

  // Beyond the grace (30 s + 5 min after the fetch): the failure, said as it is.
  clock_.advance(3min);  // age 31 s + 2 min + 3 min = 5 min 31 s
  auto beyond = source_->password_for("lambda_writer");
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(beyond.error().message(),
            "the cached secret expired 301 s ago, beyond the 300 s it may be served stale: "
            "Secrets Manager is down");

  // The service is back: the next fetch after the retry interval succeeds.
  manager_.failing = false;
  manager_.set("lambda_writer", "second");
  clock_.advance(1s);
  EXPECT_EQ(password(), "second");
}

TEST_F(CachingSecretSourceTest, AFailureWithNothingCachedIsReportedAndRetriedAfterTheInterval) {
  manager_.failing = true;
  for (int i = 0; i < 3; ++i) {
    auto found = source_->password_for("lambda_writer");
    ASSERT_FALSE(found.ok());
    EXPECT_EQ(found.error().code(), ErrorCode::kUnavailable);
    EXPECT_EQ(found.error().message(), "Secrets Manager is down");
  }
  EXPECT_EQ(manager_.calls, 1);
  manager_.failing = false;
  clock_.advance(1s);
  EXPECT_EQ(password(), "first");
  EXPECT_EQ(manager_.calls, 2);
}

TEST_F(CachingSecretSourceTest, AFailedRefreshBeforeExpiryKeepsServingAndRetriesAfterTheInterval) {
  EXPECT_EQ(password(), "first");
  manager_.failing = true;
  clock_.advance(25s);
  EXPECT_EQ(password(), "first");
  ASSERT_TRUE(eventually([&] { return manager_.completed == 2; }));
  EXPECT_EQ(password(), "first");
  EXPECT_EQ(manager_.calls, 2);  // not again within the retry interval
  // Expired now, but the service is known to be failing: stale at once, a retry behind it.
  clock_.advance(6s);
  EXPECT_EQ(password(), "first");
  EXPECT_TRUE(eventually([&] { return manager_.calls == 3; }));
}

TEST_F(CachingSecretSourceTest, InvalidateFetchesAfreshAndNeverServesTheOldPasswordAgain) {
  EXPECT_EQ(password(), "first");
  manager_.set("lambda_writer", "second");
  source_->invalidate("lambda_writer");
  EXPECT_EQ(password(), "second");
  EXPECT_EQ(manager_.calls, 2);

  // Not even within the grace of a failing service.
  manager_.failing = true;
  source_->invalidate("lambda_writer");
  auto found = source_->password_for("lambda_writer");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().message(), "Secrets Manager is down");
  // invalidate() also forgets the failure: the next call asks again at once.
  manager_.failing = false;
  source_->invalidate("lambda_writer");
  EXPECT_EQ(password(), "second");
  EXPECT_EQ(manager_.calls, 4);
  source_->invalidate("nobody");  // unknown users are fine
}

TEST_F(CachingSecretSourceTest, InvalidateDuringAFetchDiscardsWhatThatFetchRead) {
  manager_.gate.close();
  auto caller =
      std::async(std::launch::async, [&] { return source_->password_for("lambda_writer"); });
  ASSERT_TRUE(eventually([&] { return manager_.calls == 1; }));
  // The fetch read "first"; meanwhile the database refused it and the secret was rotated.
  manager_.set("lambda_writer", "second");
  source_->invalidate("lambda_writer");
  manager_.gate.open();
  auto found = caller.get();
  ASSERT_TRUE(found.ok()) << found.error().message();
  EXPECT_EQ(*found, "second");
  EXPECT_EQ(manager_.calls, 2);
  EXPECT_EQ(manager_.max_in_flight, 1);
  EXPECT_EQ(password(), "second");
}

TEST_F(CachingSecretSourceTest, TheFetcherRunsWithNoLockHeld) {
  manager_.set("reader", "reader-password");
  // A fetch for one user asks the same source for another user's password.
  manager_.during = [&](const std::string& user) {
    if (user == "lambda_writer") {
      auto other = source_->password_for("reader");
      EXPECT_TRUE(other.ok());
    }
  };
  auto nested =
      std::async(std::launch::async, [&] { return source_->password_for("lambda_writer"); });
  ASSERT_EQ(nested.wait_for(5s), std::future_status::ready) << "deadlock";
  EXPECT_EQ(nested.get().value(), "first");
  EXPECT_EQ(manager_.calls, 2);

  // While one user's fetch hangs, another user's cached password and invalidate() answer.
  manager_.during = nullptr;
  source_->invalidate("lambda_writer");
  manager_.gate.close();
  auto hanging =
      std::async(std::launch::async, [&] { return source_->password_for("lambda_writer"); });
  ASSERT_TRUE(eventually([&] { return manager_.calls == 3; }));
  auto quick = std::async(std::launch::async, [&] {
    source_->invalidate("lambda_writer");
    source_->invalidate("reader");
    manager_.gate.open();  // (only reached if nothing above blocked)
    return true;
  });
  ASSERT_EQ(quick.wait_for(5s), std::future_status::ready) << "invalidate() waited on the fetch";
  EXPECT_TRUE(hanging.get().ok());
}

TEST_F(CachingSecretSourceTest, AFetcherAskingForItsOwnUserGetsAnErrorNotADeadlock) {
  manager_.during = [&](const std::string& user) {
    auto again = source_->password_for(user);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code(), ErrorCode::kFailedPrecondition);
    EXPECT_EQ(again.error().message(),
              "the secret of user lambda_writer was asked for while fetching it (fake secrets)");
  };
  auto caller =
      std::async(std::launch::async, [&] { return source_->password_for("lambda_writer"); });
  ASSERT_EQ(caller.wait_for(5s), std::future_status::ready) << "deadlock";
  EXPECT_EQ(caller.get().value(), "first");
}

TEST(CachingSecretSource, AThrowingFetcherFailsItsCallersInsteadOfHangingThem) {
  auto source = make_caching_secret_source(
      [](const std::string&) -> Result<std::string> { throw std::runtime_error("boom"); },
      "throwing");
  auto found = source->password_for("lambda_writer");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().code(), ErrorCode::kInternal);
  EXPECT_EQ(found.error().message(), "fetching the secret of user lambda_writer threw: boom");
}

TEST(CachingSecretSource, TheDestructorWaitsForARefreshInFlight) {
  FakeClock clock;
  FakeSecretsManager manager;
  manager.set("lambda_writer", "first");
  auto source = make_caching_secret_source(manager.fetcher(), "fake secrets", default_policy(),
                                           clock.function());
  ASSERT_EQ(source->password_for("lambda_writer").value(), "first");
  manager.delay = 300ms;
  clock.advance(25s);
  ASSERT_EQ(source->password_for("lambda_writer").value(), "first");
  ASSERT_TRUE(eventually([&] { return manager.calls == 2; }));
  source.reset();  // joins the refresh thread once its fetch returns
  EXPECT_EQ(manager.completed, 2);
}

// How many threads of this process block SIGTERM (SigBlk in /proc/self/task/*/status).
int threads_blocking_sigterm() {
  int count = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream status(task.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("SigBlk:", 0) != 0) continue;
      const unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
      if (mask & (1ULL << (SIGTERM - 1))) ++count;
    }
  }
  return count;
}

// writegate-proxy makes its secret source before it blocks SIGTERM for its sigwait() thread: a
// refresh thread taking SIGTERM would kill the process instead of stopping it.
TEST(CachingSecretSource, TheRefreshThreadTakesNoProcessSignals) {
  const int before = threads_blocking_sigterm();
  {
    auto source = make_caching_secret_source(
        [](const std::string&) -> Result<std::string> { return std::string("x"); }, "signals");
    EXPECT_EQ(threads_blocking_sigterm(), before + 1);
    sigset_t mine;
    pthread_sigmask(SIG_SETMASK, nullptr, &mine);
    EXPECT_FALSE(sigismember(&mine, SIGTERM));  // the caller's mask is as it was
  }
  EXPECT_EQ(threads_blocking_sigterm(), before);
}

// --- the secrets file ---

class FileSecretSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "wg-secrets-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/passwords.json";
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  void write(const nlohmann::json& doc, mode_t mode = 0600) {
    std::ofstream(path_, std::ios::trunc) << doc.dump();
    ::chmod(path_.c_str(), mode);
  }

  std::string dir_;
  std::string path_;
};

TEST_F(FileSecretSourceTest, ReadsTheFileAndNoticesEveryChange) {
  write({{"lambda_writer", "aaaa"}});
  auto source = make_file_secret_source(path_);
  ASSERT_TRUE(source.ok()) << source.error().message();
  EXPECT_EQ((*source)->password_for("lambda_writer").value(), "aaaa");
  EXPECT_EQ((*source)->describe(), "secrets file " + path_);
  // Same size, same second: still noticed (nanoseconds and inode count too).
  const std::string next = path_ + ".next";
  std::ofstream(next) << nlohmann::json{{"lambda_writer", "bbbb"}}.dump();
  ::chmod(next.c_str(), 0600);
  std::filesystem::rename(next, path_);
  EXPECT_EQ((*source)->password_for("lambda_writer").value(), "bbbb");

  auto missing = (*source)->password_for("reader");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message(), "no secret for user reader");
}

TEST_F(FileSecretSourceTest, RefusesAFileOthersCanRead) {
  write({{"lambda_writer", "aaaa"}}, 0644);
  auto source = make_file_secret_source(path_);
  ASSERT_TRUE(source.ok());
  auto found = (*source)->password_for("lambda_writer");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(found.error().message(),
            "secrets file " + path_ + " is readable by others; chmod 600 it");
}

TEST_F(FileSecretSourceTest, RefusesAFileThatIsNotAnObjectAndAMissingFile) {
  EXPECT_EQ(make_file_secret_source(path_).error().message(), "cannot read secrets file " + path_);
  write(nlohmann::json::array({"lambda_writer"}));
  auto source = make_file_secret_source(path_);
  ASSERT_TRUE(source.ok());
  EXPECT_EQ((*source)->password_for("lambda_writer").error().message(),
            "secrets file " + path_ + " is not a JSON object of user -> password");
}

// --- Secrets Manager on the local AWS endpoint, made slow ---

// Secrets Manager as the endpoint serves it, answering each request only after `delay`.
class SlowSecretsManager : public awslocal::Service {
 public:
  explicit SlowSecretsManager(std::shared_ptr<awslocal::Service> inner)
      : inner_(std::move(inner)) {}
  const awslocal::ServiceRoute& route() const override { return inner_->route(); }
  awslocal::ApiResult handle(const awslocal::ServiceCall& call) override {
    if (call.operation == "GetSecretValue") ++get_secret_value_calls;
    gate.pass();
    std::this_thread::sleep_for(delay.load());
    return inner_->handle(call);
  }

  Gate gate;  // a request waits here while it is closed
  std::atomic<SteadyClock::duration> delay{SteadyClock::duration::zero()};
  std::atomic<int> get_secret_value_calls{0};

 private:
  std::shared_ptr<awslocal::Service> inner_;
};

class SecretsManagerSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = awslocal::testing::make_seeded_state();
    ASSERT_TRUE(state_.store);
    put_password("first-password");
    auto store = iam::IamStore::open(state_.dir);
    ASSERT_TRUE(store.ok()) << store.error().message();
    auto secrets = awslocal::SecretStore::open(state_.dir);
    ASSERT_TRUE(secrets.ok()) << secrets.error().message();
    auto router =
        std::make_shared<awslocal::Router>(std::shared_ptr<iam::IamStore>(std::move(*store)));
    router->add(std::make_shared<awslocal::StsService>());
    slow_ = std::make_shared<SlowSecretsManager>(std::make_shared<awslocal::SecretsManagerService>(
        std::shared_ptr<awslocal::SecretStore>(std::move(*secrets))));
    router->add(slow_);
    awslocal::EndpointOptions options;
    options.state_dir = state_.dir;
    options.threads = 4;  // a slow answer must not hold up the others
    auto endpoint = awslocal::Endpoint::start(options, router);
    ASSERT_TRUE(endpoint.ok()) << endpoint.error().message();
    endpoint_ = std::move(*endpoint);

    const spec::Spec spec;
    config_.state_dir = state_.dir;
    config_.region = spec.region;
    config_.account_id = state_.account();
    config_.secrets_endpoint = endpoint_->url();
    config_.proxy_role = spec.iam.proxy_role;
    config_.writer_user = spec.database.user;
    config_.user_secret_name = spec.database.user_secret;
  }

  void put_password(const std::string& password) {
    auto secrets = awslocal::SecretStore::open(state_.dir);
    ASSERT_TRUE(secrets.ok()) << secrets.error().message();
    auto put = (*secrets)->upsert(
        "lambda-writer-secret",
        awslocal::SecretPayload::text(
            nlohmann::json{{"username", "lambda_writer"}, {"password", password}}.dump()),
        std::chrono::system_clock::now());
    ASSERT_TRUE(put.ok()) << put.error().message();
  }

  awslocal::testing::SeededState state_;
  std::shared_ptr<SlowSecretsManager> slow_;
  std::unique_ptr<awslocal::Endpoint> endpoint_;
  ProxyConfig config_;
};

TEST_F(SecretsManagerSourceTest, ASlowRefreshHoldsUpNoCallerAndRunsOnce) {
  auto source = make_secrets_manager_source(
      config_, {.refresh_after = 300ms, .ttl = 60s, .grace = 5min, .retry_after_failure = 1s});
  ASSERT_TRUE(source.ok()) << source.error().message();
  auto first = (*source)->password_for("lambda_writer");
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_EQ(*first, "first-password");
  EXPECT_EQ(slow_->get_secret_value_calls, 1);

  put_password("second-password");
  // The refresh's request is held at the gate: every caller must answer before it opens.
  slow_->gate.close();
  std::this_thread::sleep_for(400ms);  // past the refresh point
  std::latch start(8);
  std::vector<std::future<Result<std::string>>> results;
  for (int i = 0; i < 8; ++i) {
    results.push_back(std::async(std::launch::async, [&] {
      start.arrive_and_wait();
      return (*source)->password_for("lambda_writer");
    }));
  }
  EXPECT_TRUE(all_answered(results)) << "a caller waited for the refresh";
  EXPECT_TRUE(eventually([&] { return slow_->get_secret_value_calls == 2; }, 10s))
      << "no refresh started";
  slow_->gate.open();
  for (auto& result : results) {
    auto found = result.get();
    ASSERT_TRUE(found.ok()) << found.error().message();
    EXPECT_EQ(*found, "first-password");
  }
  EXPECT_TRUE(eventually(
      [&] { return (*source)->password_for("lambda_writer").value() == "second-password"; }, 10s));
  EXPECT_EQ(slow_->get_secret_value_calls, 2);

  // The database refused the password: the next call fetches the rotated one.
  put_password("third-password");
  slow_->delay = SteadyClock::duration::zero();
  (*source)->invalidate("lambda_writer");
  EXPECT_EQ((*source)->password_for("lambda_writer").value(), "third-password");
  EXPECT_EQ(slow_->get_secret_value_calls, 3);
}

TEST_F(SecretsManagerSourceTest, ServesOnlyTheWriterAndSaysWhatItIs) {
  auto source = make_secrets_manager_source(config_);
  ASSERT_TRUE(source.ok()) << source.error().message();
  auto other = (*source)->password_for("postgres");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(other.error().message(),
            "no secret is configured for user postgres (the proxy serves lambda_writer)");
  EXPECT_EQ(slow_->get_secret_value_calls, 0);
  EXPECT_EQ((*source)->describe(), "Secrets Manager " + endpoint_->url() +
                                       " secret lambda-writer-secret as role " +
                                       config_.proxy_role);
}

TEST_F(SecretsManagerSourceTest, AnUnreachableServiceIsReportedWithWhatWasAsked) {
  endpoint_->stop();
  auto source = make_secrets_manager_source(config_);
  ASSERT_TRUE(source.ok()) << source.error().message();
  auto found = (*source)->password_for("lambda_writer");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(found.error().message().rfind("GetSecretValue lambda-writer-secret: ", 0), 0u)
      << found.error().message();
}

}  // namespace
}  // namespace writegate::proxy
