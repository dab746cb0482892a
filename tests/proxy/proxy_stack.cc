#include "proxy/proxy_stack.h"

#include <gtest/gtest.h>
#include <openssl/rand.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "awslocal/endpoint.h"
#include "awslocal/secret_store.h"
#include "dbadmin/provision.h"
#include "iam/seed.h"
#include "pgclient/pgclient.h"
#include "pgwire/scram.h"
#include "pki/pki.h"
#include "proxy/secrets.h"
#include "sigv4/rds_token.h"

namespace writegate::testing {
namespace {

std::string random_text(std::size_t n) {
  static const char kAlphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::string out;
  unsigned char byte = 0;
  for (std::size_t i = 0; i < n; ++i) {
    RAND_bytes(&byte, 1);
    out += kAlphabet[byte % (sizeof kAlphabet - 1)];
  }
  return out;
}

#define STACK_CHECK(expr)                                               \
  do {                                                                  \
    const auto& stack_check_ = (expr);                                  \
    if (!stack_check_) {                                                \
      ADD_FAILURE() << #expr << ": " << stack_check_.error().message(); \
      return nullptr;                                                   \
    }                                                                   \
  } while (false)

}  // namespace

std::unique_ptr<ProxyStack> ProxyStack::start() {
  std::unique_ptr<ProxyStack> s(new ProxyStack());
  std::string templ = (std::filesystem::temp_directory_path() / "writegate-proxy-XXXXXX").string();
  if (!::mkdtemp(templ.data())) {
    ADD_FAILURE() << "mkdtemp failed";
    return nullptr;
  }
  s->dir_ = templ;
  s->state_dir_ = s->dir_ + "/state";
  s->log_file_ = s->dir_ + "/proxy.log";

  // Aurora: PostgreSQL with the writer provisioned.
  auto pg = localpg::Cluster::start({});
  STACK_CHECK(pg);
  s->pg_ = std::move(*pg);
  {
    auto admin = pgclient::Connection::open(s->pg_->admin_dsn());
    STACK_CHECK(admin);
    STACK_CHECK(admin->exec("CREATE DATABASE mydb"));
  }
  auto admin = pgclient::Connection::open(s->pg_->admin_dsn("mydb"));
  STACK_CHECK(admin);
  STACK_CHECK(admin->exec(
      "CREATE SCHEMA foo; CREATE SCHEMA bar;"
      "CREATE TABLE foo.test_table (id bigserial PRIMARY KEY, column1 text, column2 text);"
      "CREATE TABLE bar.test_table (id bigserial PRIMARY KEY, column1 text, column2 text)"));
  auto plan = dbadmin::plan_provision(*admin, s->spec_, {.harden_public = true});
  STACK_CHECK(plan);
  STACK_CHECK(dbadmin::apply_provision(*admin, *plan));

  // Standard mode: the writer's own password, known to PostgreSQL only as a SCRAM verifier and
  // to the proxy only through its secret.
  const std::string password = random_text(32);
  auto secret = pgwire::make_scram_secret(password, random_text(16));
  STACK_CHECK(secret);
  STACK_CHECK(admin->exec("ALTER ROLE lambda_writer PASSWORD " +
                          pgclient::quote_literal(pgwire::format_scram_secret(*secret))));
  // IAM: the document's roles, for this spec.
  auto seeded = iam::seed_store(s->spec_, s->state_dir_);
  STACK_CHECK(seeded);
  s->resource_id_ = seeded->proxy_resource_id;
  auto store = iam::IamStore::open(s->state_dir_);
  STACK_CHECK(store);
  s->store_ = std::move(*store);

  // The proxy's certificate for its endpoint name.
  auto ca = pki::CertificateAuthority::create("writegate proxy test CA");
  STACK_CHECK(ca);
  auto cert = ca->issue_server({"localhost"}, {"127.0.0.1"});
  STACK_CHECK(cert);
  s->proxy_ca_file_ = s->dir_ + "/proxy-ca.crt";
  STACK_CHECK(pki::write_file(s->proxy_ca_file_, ca->certificate().cert_pem, 0644));
  STACK_CHECK(pki::write_file(s->dir_ + "/proxy.crt", cert->cert_pem, 0644));
  STACK_CHECK(pki::write_file(s->dir_ + "/proxy.key", cert->key_pem, 0600));

  // The writer's secret in the local Secrets Manager (encrypted at rest under the local KMS
  // key), served over HTTPS by the local AWS endpoint.
  {
    auto secrets = awslocal::SecretStore::open(s->state_dir_);
    STACK_CHECK(secrets);
    STACK_CHECK((*secrets)->upsert(
        s->spec_.database.user_secret,
        awslocal::SecretPayload::text(
            nlohmann::json{{"username", "lambda_writer"}, {"password", password}}.dump()),
        std::chrono::system_clock::now()));
  }
  auto endpoint_cert = ca->issue_server({"localhost"}, {"127.0.0.1"});
  STACK_CHECK(endpoint_cert);
  STACK_CHECK(pki::write_file(s->dir_ + "/endpoint.crt", endpoint_cert->cert_pem, 0644));
  STACK_CHECK(pki::write_file(s->dir_ + "/endpoint.key", endpoint_cert->key_pem, 0600));
  awslocal::EndpointOptions endpoint_options;
  endpoint_options.state_dir = s->state_dir_;
  endpoint_options.tls_cert_file = s->dir_ + "/endpoint.crt";
  endpoint_options.tls_key_file = s->dir_ + "/endpoint.key";
  auto endpoint = awslocal::Endpoint::start(endpoint_options);
  STACK_CHECK(endpoint);
  s->endpoint_ = std::move(*endpoint);

  proxy::ProxyConfig config;
  config.listen_host = "127.0.0.1";
  config.listen_port = 0;
  config.endpoint_names = {"localhost"};
  config.tls_cert_file = s->dir_ + "/proxy.crt";
  config.tls_key_file = s->dir_ + "/proxy.key";
  config.state_dir = s->state_dir_;
  config.region = s->spec_.region;
  config.account_id = s->spec_.account_id;
  config.backend = {"127.0.0.1", s->pg_->port(), s->pg_->ca_file(), "localhost"};
  config.secrets_endpoint = s->endpoint_->url();
  config.secrets_ca_file = s->proxy_ca_file_;
  config.proxy_role = s->spec_.iam.proxy_role;
  config.writer_user = s->spec_.database.user;
  config.user_secret_name = s->spec_.database.user_secret;
  config.log_file = s->log_file_;
  config.auth_timeout_seconds = 10;
  config.database = s->spec_.database.name;
  config.databases = {s->spec_.database.name};
  s->config_ = config;
  auto source = proxy::make_secret_source(config);
  STACK_CHECK(source);
  auto server = proxy::ProxyServer::create(config, std::move(*source));
  STACK_CHECK(server);
  s->server_ = std::move(*server);
  s->thread_ = std::thread([server = s->server_.get()] { server->run(); });
  return s;
}

bool ProxyStack::restart_proxy() {
  const int port = server_->port();
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
  config_.listen_port = port;
  auto source = proxy::make_secret_source(config_);
  if (!source) {
    ADD_FAILURE() << "restart: " << source.error().message();
    return false;
  }
  auto server = proxy::ProxyServer::create(config_, std::move(*source));
  if (!server) {
    ADD_FAILURE() << "restart: " << server.error().message();
    return false;
  }
  server_ = std::move(*server);
  thread_ = std::thread([server = server_.get()] { server->run(); });
  return true;
}

ProxyStack::~ProxyStack() {
  if (server_) {
    server_->stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }
  endpoint_.reset();
  pg_.reset();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

sigv4::Credentials ProxyStack::role_credentials(const std::string& role,
                                                std::chrono::seconds duration,
                                                std::chrono::system_clock::time_point now) {
  const std::string name = role.empty() ? spec_.iam.lambda_role : role;
  auto session =
      store_->create_session(name, "test-" + std::to_string(++session_counter_), duration, now);
  if (!session) {
    ADD_FAILURE() << "create_session(" << name << "): " << session.error().message();
    return {};
  }
  return {session->access_key_id, session->secret_access_key, session->session_token};
}

std::string ProxyStack::token(const sigv4::Credentials& credentials, const std::string& user,
                              std::chrono::system_clock::time_point now, const std::string& host,
                              int port, const std::string& region) {
  auto token =
      sigv4::generate_rds_token({.hostname = host,
                                 .port = static_cast<std::uint16_t>(port ? port : this->port()),
                                 .username = user.empty() ? spec_.database.user : user,
                                 .region = region.empty() ? spec_.region : region},
                                credentials, now);
  if (!token) {
    ADD_FAILURE() << token.error().message();
    return "";
  }
  return *token;
}

std::string ProxyStack::dsn(const std::string& password, const std::string& user,
                            const std::string& sslmode) const {
  return "host=localhost hostaddr=127.0.0.1 port=" + std::to_string(port()) +
         " dbname=mydb user=" + (user.empty() ? spec_.database.user : user) + " password='" +
         password + "' sslmode=" + sslmode + " sslrootcert=" + proxy_ca_file_ +
         " connect_timeout=60";
}

std::string ProxyStack::dsn_for_port(int port, const std::string& password, const std::string& user,
                                     const std::string& database) const {
  return "host=localhost hostaddr=127.0.0.1 port=" + std::to_string(port) + " dbname=" + database +
         " user=" + (user.empty() ? spec_.database.user : user) + " password='" + password +
         "' sslmode=verify-full sslrootcert=" + proxy_ca_file_ + " connect_timeout=60";
}

namespace {
std::vector<std::string> event_lines(const std::string& file, const std::string& event) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  std::string line;
  const std::string needle = "\"event\":\"" + event + "\"";
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) lines.push_back(line);
  }
  return lines;
}

std::string wait_event_line(const std::string& file, const std::string& event, std::size_t index,
                            std::chrono::milliseconds wait) {
  const auto until = std::chrono::steady_clock::now() + wait;
  for (;;) {
    const auto lines = event_lines(file, event);
    if (lines.size() > index) return lines[index];
    if (std::chrono::steady_clock::now() > until) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}
}  // namespace

std::size_t ProxyStack::connect_log_count() const {
  return event_lines(log_file_, "connect").size();
}

std::string ProxyStack::wait_connect_log(std::size_t index) const {
  return wait_event_line(log_file_, "connect", index, std::chrono::seconds(5));
}

void ProxyStack::raise_open_file_limit() {
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = std::max<rlim_t>(limit.rlim_cur, std::min<rlim_t>(limit.rlim_max, 8192));
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

std::unique_ptr<ProxyStack::ExtraProxy> ProxyStack::start_proxy(
    const std::function<void(proxy::ProxyConfig&)>& adjust) {
  proxy::ProxyConfig config = config_;
  config.listen_port = 0;
  config.endpoint_port = 0;
  config.log_file = dir_ + "/proxy-" + std::to_string(++extra_proxies_) + ".log";
  adjust(config);
  std::unique_ptr<ExtraProxy> extra(new ExtraProxy());
  extra->log_file_ = config.log_file;
  auto source = proxy::make_secret_source(config);
  STACK_CHECK(source);
  auto server = proxy::ProxyServer::create(config, std::move(*source));
  STACK_CHECK(server);
  extra->server_ = std::move(*server);
  extra->thread_ = std::thread([server = extra->server_.get()] { server->run(); });
  return extra;
}

ProxyStack::ExtraProxy::~ExtraProxy() {
  stop_and_join();
}

void ProxyStack::ExtraProxy::stop_and_join() {
  if (!server_) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

std::string ProxyStack::ExtraProxy::wait_log(std::size_t index, const std::string& event,
                                             std::chrono::milliseconds wait) const {
  return wait_event_line(log_file_, event, index, wait);
}

std::size_t ProxyStack::ExtraProxy::log_count(const std::string& event) const {
  return event_lines(log_file_, event).size();
}

}  // namespace writegate::testing
