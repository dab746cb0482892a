// The writegate-proxy program as an operator runs it: a spec, a --config file, signals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "common/process.h"
#include "pgclient/pgclient.h"
#include "proxy/proxy_stack.h"

namespace writegate::testing {
namespace {

using ::testing::HasSubstr;

std::string proxy_bin() {
  const char* dir = std::getenv("WRITEGATE_BIN_DIR");
  return std::string(dir ? dir : "bin") + "/writegate-proxy";
}

class ProxyBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = ProxyStack::start();
    ASSERT_NE(stack_, nullptr);
  }
  std::string write_config(const std::string& extra = "") {
    const std::string path = stack_->dir() + "/proxy.yaml";
    std::ofstream(path) << "listen: 127.0.0.1:0\n"
                        << "endpoint_names: [localhost]\n"
                        << "tls_cert: " << stack_->dir() << "/proxy.crt\n"
                        << "tls_key: " << stack_->dir() << "/proxy.key\n"
                        << "state_dir: " << stack_->state_dir() << "\n"
                        << "backend: {host: 127.0.0.1, port: " << stack_->pg().port()
                        << ", ca_file: " << stack_->pg().ca_file() << ", server_name: localhost}\n"
                        << "secrets: {endpoint: '" << stack_->endpoint_url()
                        << "', ca_file: " << stack_->proxy_ca_file() << "}\n"
                        << "log_file: " << stack_->dir() << "/binary.log\n"
                        << extra;
    return path;
  }
  std::unique_ptr<ProxyStack> stack_;
};

TEST_F(ProxyBinaryTest, ServesFromItsConfigFileAndStopsOnSigterm) {
  auto proxy =
      ChildProcess::start({proxy_bin(), "--spec", "/dev/null", "--config", write_config()});
  ASSERT_TRUE(proxy.ok()) << proxy.error().message();
  auto line = (*proxy)->read_line(std::chrono::seconds(20));
  ASSERT_TRUE(line.ok()) << line.error().message();
  EXPECT_THAT(*line, HasSubstr("writegate-proxy listening on 127.0.0.1:"));
  EXPECT_THAT(*line, HasSubstr(stack_->resource_id()));
  const int port = std::stoi(line->substr(line->rfind(':') + 1));
  const std::string token = stack_->token(stack_->role_credentials(), "",
                                          std::chrono::system_clock::now(), "localhost", port);
  std::string dsn = stack_->dsn(token);
  dsn.replace(dsn.find("port=") + 5, std::to_string(stack_->port()).size(), std::to_string(port));
  auto conn = pgclient::Connection::open(dsn);
  ASSERT_TRUE(conn.ok()) << conn.error().message();
  EXPECT_EQ(conn->exec("SELECT current_user AS u")->get(0, "u"), "lambda_writer");
  EXPECT_EQ((*proxy)->stop(), 0) << (*proxy)->output_so_far();
}

TEST_F(ProxyBinaryTest, SigtermDrainsTransactionsInFlightFinishAndIdleClientsHear57P01) {
  auto proxy = ChildProcess::start(
      {proxy_bin(), "--spec", "/dev/null", "--config", write_config("shutdown_grace: 20\n")});
  ASSERT_TRUE(proxy.ok()) << proxy.error().message();
  auto line = (*proxy)->read_line(std::chrono::seconds(20));
  ASSERT_TRUE(line.ok()) << line.error().message();
  ASSERT_THAT(*line, HasSubstr("listening on 127.0.0.1:"));
  const int port = std::stoi(line->substr(line->rfind(':') + 1));
  const std::string token = stack_->token(stack_->role_credentials(), "",
                                          std::chrono::system_clock::now(), "localhost", port);
  std::string dsn = stack_->dsn(token);
  dsn.replace(dsn.find("port=") + 5, std::to_string(stack_->port()).size(), std::to_string(port));
  auto busy = pgclient::Connection::open(dsn);
  ASSERT_TRUE(busy.ok());
  PGconn* idle = PQconnectdb(dsn.c_str());
  ASSERT_EQ(PQstatus(idle), CONNECTION_OK) << PQerrorMessage(idle);
  ASSERT_TRUE(busy->exec("BEGIN").ok());
  ASSERT_TRUE(busy->exec("INSERT INTO foo.test_table (column1) VALUES ('drain')").ok());

  ASSERT_EQ(::kill((*proxy)->pid(), SIGTERM), 0);
  // Wait until the proxy's FATAL reaches the idle client (its socket turns readable) before
  // sending on it: a query sent while the proxy closes would race the close (an RST can drop
  // the FATAL, as with PostgreSQL itself). A fixed 300 ms was too short once under TSan on a
  // loaded machine.
  pollfd readable{PQsocket(idle), POLLIN, 0};
  ASSERT_EQ(::poll(&readable, 1, 10'000), 1) << "no word from the draining proxy within 10 s";
  // The idle client was told, as PostgreSQL's fast shutdown tells it (libpq then also says the
  // connection closed, as it does after PostgreSQL's own FATAL and close_notify).
  PGresult* refused = PQexec(idle, "INSERT INTO foo.test_table (column1) VALUES ('late')");
  EXPECT_NE(PQresultStatus(refused), PGRES_COMMAND_OK);
  EXPECT_THAT(std::string(PQerrorMessage(idle)),
              HasSubstr("FATAL:  terminating connection due to administrator command"));
  PQclear(refused);
  PQfinish(idle);
  // No new client gets in.
  EXPECT_FALSE(pgclient::Connection::open(dsn).ok());
  // The transaction in flight finishes.
  EXPECT_TRUE(busy->exec("INSERT INTO foo.test_table (column1) VALUES ('drain')").ok());
  EXPECT_TRUE(busy->exec("COMMIT").ok());
  // Then its client is let go, and the proxy exits well within the grace.
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 100 && (*proxy)->running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE((*proxy)->running()) << (*proxy)->output_so_far();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(6));
  EXPECT_EQ((*proxy)->stop(), 0);
  auto admin = pgclient::Connection::open(stack_->pg().admin_dsn("mydb"));
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(
      admin->exec("SELECT count(*) AS n FROM foo.test_table WHERE column1 = 'drain'")->get(0, "n"),
      "2");
  // And no backend of the proxy is left at the database.
  EXPECT_EQ(admin
                ->exec("SELECT count(*) AS n FROM pg_stat_activity WHERE usename = "
                       "'lambda_writer'")
                ->get(0, "n"),
            "0");
}

TEST_F(ProxyBinaryTest, SighupReopensTheLogFileAfterRotation) {
  auto proxy =
      ChildProcess::start({proxy_bin(), "--spec", "/dev/null", "--config", write_config()});
  ASSERT_TRUE(proxy.ok()) << proxy.error().message();
  auto line = (*proxy)->read_line(std::chrono::seconds(20));
  ASSERT_TRUE(line.ok()) << line.error().message();
  const int port = std::stoi(line->substr(line->rfind(':') + 1));
  const std::string log = stack_->dir() + "/binary.log";
  const std::string rotated = log + ".1";
  ASSERT_EQ(::rename(log.c_str(), rotated.c_str()), 0);
  ASSERT_EQ(::kill((*proxy)->pid(), SIGHUP), 0);
  // The new file appears with the reopen line; a login is logged there, not in the old one.
  for (int i = 0; i < 100 && !std::filesystem::exists(log); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(std::filesystem::exists(log));
  std::string dsn = stack_->dsn(stack_->token(stack_->role_credentials(), "",
                                              std::chrono::system_clock::now(), "localhost", port));
  dsn.replace(dsn.find("port=") + 5, std::to_string(stack_->port()).size(), std::to_string(port));
  ASSERT_TRUE(pgclient::Connection::open(dsn).ok());
  auto read_all = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  std::string fresh;
  for (int i = 0; i < 100 && fresh.find("\"outcome\":\"ok\"") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    fresh = read_all(log);
  }
  EXPECT_THAT(fresh, HasSubstr("\"event\":\"log_reopened\",\"ok\":true"));
  EXPECT_THAT(fresh, HasSubstr("\"outcome\":\"ok\""));
  EXPECT_THAT(read_all(rotated), HasSubstr("\"event\":\"start\""));
  EXPECT_THAT(read_all(rotated), ::testing::Not(HasSubstr("\"outcome\":\"ok\"")));
  EXPECT_EQ((*proxy)->stop(), 0) << (*proxy)->output_so_far();
}

TEST_F(ProxyBinaryTest, SecretsManagerDecidesWithTheProxyRolesPolicy) {
  // Without its secrets policy the proxy role may not read the writer's secret: the IAM login
  // succeeds, the backend login cannot happen, and the client is told so without details.
  ASSERT_TRUE(
      stack_->store().delete_role_policy("rds-proxy-role", "rds-proxy-secrets-policy").ok());
  const std::size_t before = stack_->connect_log_count();
  auto conn = pgclient::Connection::open(stack_->dsn(stack_->token(stack_->role_credentials())));
  ASSERT_FALSE(conn.ok());
  EXPECT_THAT(conn.error().message(),
              HasSubstr("the proxy could not get the database credentials of user"));
  const std::string line = stack_->wait_connect_log(before);
  EXPECT_THAT(line, HasSubstr("\"reason\":\"secret_unavailable\""));
  EXPECT_THAT(line, HasSubstr("AccessDenied"));
}

TEST_F(ProxyBinaryTest, ABadConfigSaysWhatAndWhere) {
  const std::string path = write_config("tls_min: 1.0\n");
  auto out = run_process({proxy_bin(), "--spec", "/dev/null", "--config", path});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->exit_code, 2);
  EXPECT_THAT(out->output, HasSubstr(path + ":9:1: tls_min: unknown key"));
  auto missing = run_process({proxy_bin(), "--spec", "/dev/null", "--config", "/nonexistent.yaml"});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->exit_code, 2);
  EXPECT_THAT(missing->output, HasSubstr("cannot read proxy config /nonexistent.yaml"));
}

}  // namespace
}  // namespace writegate::testing
