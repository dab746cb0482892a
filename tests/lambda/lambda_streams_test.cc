// One log stream per execution environment, as on AWS: two invocations at once need two
// environments, and each writes its own stream file (FunctionConfig::log_dir) named
// "YYYY/MM/DD/[$LATEST]<32 hex>", its AWS_LAMBDA_LOG_STREAM_NAME; each stream holds that
// environment's own lines only (its function output, START/END/REPORT of its invocations). The
// runtime is a small bash script that logs its stream name and request id, then answers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "common/log_files.h"
#include "lambda/bash_runtime.h"
#include "lambda/emulator.h"
#include "observe/logs.h"

namespace writegate::lambda {
namespace {

namespace fs = std::filesystem;

// Logs {"stream":..., "request":...} (the function's own line), waits a second (so two events
// at once need two environments), then answers {"stream":...}.
const std::string kRuntimeScript = bash_runtime(R"(
  echo "{\"timestamp\":\"$(date -u +%Y-%m-%dT%H:%M:%S.000Z)\",\"stream\":\"$AWS_LAMBDA_LOG_STREAM_NAME\",\"request\":\"$id\"}"
  sleep 1
  body="{\"stream\":\"$AWS_LAMBDA_LOG_STREAM_NAME\"}"
)");

class LambdaStreamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("wg-lambda-streams-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    script_ = (dir_ / "bootstrap").string();
    std::ofstream(script_) << kRuntimeScript;
    fs::permissions(script_, fs::perms::owner_all);
  }
  void TearDown() override { fs::remove_all(dir_); }

  FunctionConfig config() const {
    FunctionConfig c;
    c.bootstrap = script_;
    c.max_concurrency = 2;
    c.timeout = std::chrono::seconds(10);
    c.log_dir = (dir_ / "function").string();
    return c;
  }

  fs::path dir_;
  std::string script_;
};

const EnvironmentCredentials kCredentials = [] {
  return Result<sigv4::Credentials>(sigv4::Credentials{"AKIDEXAMPLE", "secret", "token"});
};
constexpr const char* kArn = "arn:aws:lambda:us-east-1:000000000000:function:aurora-writer-lambda";

std::string stream_of(const std::string& payload) {
  auto j = nlohmann::json::parse(payload, nullptr, false);
  return j.is_object() && j.contains("stream") ? j["stream"].get<std::string>() : "";
}

TEST_F(LambdaStreamsTest, TwoEnvironmentsAtOnceWriteTwoStreamsOfTheirOwn) {
  FunctionPool pool(config());
  // Two at once (each takes a second): two environments.
  auto a = std::async(std::launch::async,
                      [&] { return pool.invoke("req-a", "{}", kCredentials, kArn); });
  auto b = std::async(std::launch::async,
                      [&] { return pool.invoke("req-b", "{}", kCredentials, kArn); });
  auto ra = a.get();
  auto rb = b.get();
  ASSERT_TRUE(ra.ok()) << ra.error().message();
  ASSERT_TRUE(rb.ok()) << rb.error().message();
  // A third, after both: a warm environment, no new stream.
  auto rc = pool.invoke("req-c", "{}", kCredentials, kArn);
  ASSERT_TRUE(rc.ok()) << rc.error().message();
  EXPECT_EQ(pool.environments_started(), 2u);
  const std::string stream_a = stream_of(ra->payload);
  const std::string stream_b = stream_of(rb->payload);
  const std::string stream_c = stream_of(rc->payload);
  const std::regex lambda_stream(R"(\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32})");
  EXPECT_TRUE(std::regex_match(stream_a, lambda_stream)) << stream_a;
  EXPECT_TRUE(std::regex_match(stream_b, lambda_stream)) << stream_b;
  EXPECT_NE(stream_a, stream_b);
  EXPECT_TRUE(stream_c == stream_a || stream_c == stream_b) << stream_c;
  pool.shutdown();

  // The group as CloudWatch Logs shows it: two streams, each with its environment's lines.
  observe::StackLogLayout layout;
  layout.function_log_dir = config().log_dir;
  const auto groups = observe::stack_log_groups(layout);
  const observe::LogGroupSource* group =
      observe::find_group(groups, "/aws/lambda/aurora-writer-lambda");
  ASSERT_NE(group, nullptr);
  ASSERT_EQ(group->streams.size(), 2u);
  std::set<std::string> names;
  std::map<std::string, std::string> request_stream;  // request id -> stream of its lines
  for (const auto& s : group->streams) {
    names.insert(s.name);
    struct stat st {};
    ASSERT_EQ(::stat(s.path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << s.path;
    auto chunk = observe::read_events(s, {});
    ASSERT_TRUE(chunk.ok());
    ASSERT_FALSE(chunk->events.empty()) << s.name;
    for (const auto& e : chunk->events) {
      std::smatch m;
      static const std::regex request(R"(RequestId: (req-\w))");
      if (!e.message.empty() && e.message.front() == '{') {
        // The function's own line names the stream it was written to.
        auto j = nlohmann::json::parse(e.message);
        EXPECT_EQ(j["stream"], s.name) << e.message;
        request_stream[j["request"].get<std::string>() + "/own"] = s.name;
      } else if (std::regex_search(e.message, m, request)) {
        const std::string id = m[1];
        if (request_stream.contains(id)) {
          EXPECT_EQ(request_stream[id], s.name) << "request " << id << " in two streams";
        }
        request_stream[id] = s.name;
      }
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{stream_a, stream_b}));
  // START/END/REPORT of each request are in the stream of the environment that served it.
  EXPECT_EQ(request_stream["req-a"], stream_a);
  EXPECT_EQ(request_stream["req-b"], stream_b);
  EXPECT_EQ(request_stream["req-c"], stream_c);
  EXPECT_EQ(request_stream["req-a/own"], stream_a);
  EXPECT_EQ(request_stream["req-b/own"], stream_b);
  EXPECT_EQ(request_stream["req-c/own"], stream_c);
}

TEST_F(LambdaStreamsTest, AStreamAtItsCapRetiresItsEnvironment) {
  FunctionConfig c = config();
  c.log_stream_max_bytes = 100;  // the first invocation's lines pass it
  c.log_streams_kept = 1;        // and only the newest stream file stays
  FunctionPool pool(c);
  auto first = pool.invoke("req-1", "{}", kCredentials, kArn);
  ASSERT_TRUE(first.ok()) << first.error().message();
  auto second = pool.invoke("req-2", "{}", kCredentials, kArn);
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_EQ(pool.environments_started(), 2u);
  EXPECT_NE(stream_of(first->payload), stream_of(second->payload));
  pool.shutdown();
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(c.log_dir))
    files.push_back(e.path().filename().string());
  EXPECT_EQ(files, std::vector<std::string>{lambda_stream_file_name(stream_of(second->payload))});
}

// Retention never removes the stream of an environment that still runs: with one stream kept
// and two environments running, both files stay and the first environment's file keeps every
// line it wrote, before and after the second one started.
TEST_F(LambdaStreamsTest, ARunningEnvironmentsStreamIsNeverRemoved) {
  FunctionConfig c = config();
  c.log_streams_kept = 1;  // fewer than the environments that run at once
  FunctionPool pool(c);
  auto first = pool.invoke("req-1", "{}", kCredentials, kArn);
  ASSERT_TRUE(first.ok()) << first.error().message();
  const std::string stream_1 = stream_of(first->payload);
  // Two at once: the idle environment takes one, a second environment starts for the other
  // (and, starting, applies the retention).
  auto a = std::async(std::launch::async,
                      [&] { return pool.invoke("req-2", "{}", kCredentials, kArn); });
  auto b = std::async(std::launch::async,
                      [&] { return pool.invoke("req-3", "{}", kCredentials, kArn); });
  auto ra = a.get();
  auto rb = b.get();
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(pool.environments_started(), 2u);
  const std::set<std::string> streams = {stream_of(ra->payload), stream_of(rb->payload)};
  ASSERT_EQ(streams.size(), 2u);
  ASSERT_TRUE(streams.contains(stream_1));
  // Both environments are still up (idle): both files are there.
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(c.log_dir))
    files.insert(e.path().filename().string());
  std::set<std::string> expected;
  for (const auto& s : streams)
    expected.insert(lambda_stream_file_name(s));
  EXPECT_EQ(files, expected);
  // And the first one's file has all of its lines: req-1 and the request it served next.
  const std::string second_request = stream_of(ra->payload) == stream_1 ? "req-2" : "req-3";
  std::ifstream in(fs::path(c.log_dir) / lambda_stream_file_name(stream_1));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const std::string& id : {std::string("req-1"), second_request}) {
    EXPECT_THAT(text, ::testing::HasSubstr("START RequestId: " + id)) << text;
    EXPECT_THAT(text, ::testing::HasSubstr("REPORT RequestId: " + id)) << text;
  }
  pool.shutdown();
}

TEST(LambdaStreamNames, FileNamesRoundTripAndRefuseOthers) {
  const std::string stream = "2026/11/30/[$LATEST]0123456789abcdef0123456789abcdef";
  EXPECT_EQ(lambda_stream_file_name(stream), "2026-11-30.0123456789abcdef0123456789abcdef.log");
  EXPECT_EQ(lambda_stream_name_of_file(lambda_stream_file_name(stream)), stream);
  EXPECT_EQ(lambda_stream_file_name("2026/11/30/[$LATEST]../../etc/passwd"), "");
  EXPECT_EQ(lambda_stream_name_of_file("function.log"), "");
  EXPECT_EQ(lambda_stream_name_of_file("2026-11-30.0123456789ABCDEF0123456789abcdef.log"), "");
  EXPECT_EQ(lambda_stream_name_of_file("2026-11-30.0123456789abcdef0123456789abcdef.log.1"), "");
}

}  // namespace
}  // namespace writegate::lambda
