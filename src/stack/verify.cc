#include "stack/verify.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>

#include "awslocal/client.h"
#include "awslocal/secret_store.h"
#include "common/log_files.h"
#include "common/netns.h"
#include "dbadmin/audit.h"
#include "iam/evaluator.h"
#include "iam/lint.h"
#include "iam/seed.h"
#include "iam/store.h"
#include "pgclient/pgclient.h"
#include "sigv4/rds_token.h"
#include "stack/network.h"
#include "stack/stack.h"

namespace writegate::stack {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Outcome = CheckResult::Outcome;

constexpr int kConnectTimeoutSeconds = 5;
constexpr auto kProbeTimeout = std::chrono::milliseconds(3000);

std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  while (text.find("  ") != std::string::npos)
    text.replace(text.find("  "), 2, " ");
  while (!text.empty() && text.back() == ' ')
    text.pop_back();
  return text;
}

// What a login attempt gave: the server's (or the proxy's) answer with its SQLSTATE, or a
// network-level failure (no SQLSTATE: nobody answered, or TLS/refusal before any message).
struct Attempt {
  bool connected = false;
  bool timed_out = false;
  std::string sqlstate;
  std::string message;  // one line, never holds the password
};

// A libpq login with verbose errors (so the SQLSTATE of a refused login is in the message) and
// our own deadline, from inside `netns` (empty: here). Closes the connection again.
Attempt attempt_login(const std::string& netns, const std::string& conninfo) {
  Attempt out;
  auto body = [&] {
    PGconn* conn = PQconnectStart(conninfo.c_str());
    if (!conn) {
      out.message = "libpq could not allocate a connection";
      return;
    }
    PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(kConnectTimeoutSeconds);
    PostgresPollingStatusType poll_status = PGRES_POLLING_WRITING;
    while (PQstatus(conn) != CONNECTION_BAD && poll_status != PGRES_POLLING_OK &&
           poll_status != PGRES_POLLING_FAILED) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        out.timed_out = true;
        break;
      }
      pollfd p{PQsocket(conn),
               static_cast<short>(poll_status == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
      if (p.fd >= 0 && ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
        out.timed_out = true;
        break;
      }
      poll_status = PQconnectPoll(conn);
    }
    out.connected = !out.timed_out && PQstatus(conn) == CONNECTION_OK;
    if (out.timed_out) {
      out.message = "no answer within " + std::to_string(kConnectTimeoutSeconds) + " s";
    } else if (!out.connected) {
      out.message = one_line(PQerrorMessage(conn));
      // Verbose: "FATAL:  28000: no pg_hba.conf entry ..." (the LOCATION line goes).
      static const std::regex code(R"((FATAL|ERROR|PANIC): +([0-9A-Z]{5}): )");
      std::smatch m;
      if (std::regex_search(out.message, m, code)) out.sqlstate = m[2];
      if (auto at = out.message.find(" LOCATION:"); at != std::string::npos) out.message.resize(at);
    }
    PQfinish(conn);
  };
  if (auto entered = run_in_netns(netns, body); !entered) {
    out.message = entered.error().message();
  }
  return out;
}

std::string describe(const Attempt& a) {
  if (a.connected) return "connected";
  return (a.sqlstate.empty() ? "" : "SQLSTATE " + a.sqlstate + ": ") + a.message;
}

Result<pgclient::Connection> connect_in(const std::string& netns, const std::string& conninfo) {
  std::optional<Result<pgclient::Connection>> conn;
  WG_RETURN_IF_ERROR(
      run_in_netns(netns, [&] { conn.emplace(pgclient::Connection::open(conninfo)); }));
  return std::move(*conn);
}

// Longer than common/netns.h's reach_name: says what a refusal means.
std::string reach_text(Reach r) {
  switch (r) {
    case Reach::kConnected:
      return "connected";
    case Reach::kRefused:
      return "refused (RST: reachable, nothing listens)";
    case Reach::kTimedOut:
      return "timed out";
    case Reach::kError:
      return "error";
  }
  return "?";
}

class Verifier {
 public:
  Verifier(const StackState& state, const spec::Spec& spec) : state_(state), spec_(spec) {}

  Result<std::vector<CheckResult>> run();

 private:
  void add(std::string section, std::string name, bool pass, std::string evidence) {
    results_.push_back({std::move(section), std::move(name), pass ? Outcome::kPass : Outcome::kFail,
                        std::move(evidence)});
  }
  void skip(std::string section, std::string name, std::string evidence) {
    results_.push_back({std::move(section), std::move(name), Outcome::kSkip, std::move(evidence)});
  }

  bool netns() const { return state_.mode == "netns"; }
  std::string schema() const {
    return spec_.database.schemas.empty() ? std::string("foo") : spec_.database.schemas.front();
  }

  Status prepare();
  Result<pgclient::Connection> admin_connection(const std::string& application);
  // The proxy's conninfo for `user` with `password`, and where to run the client.
  std::string proxy_conninfo(const std::string& user, const std::string& password,
                             const std::string& sslmode = "verify-full") const;
  Result<std::string> token(const std::string& host, int port, const std::string& user,
                            const sigv4::Credentials& credentials,
                            std::chrono::system_clock::time_point when) const;

  void test1_invoke(pgclient::Connection* admin);
  void tests2_to_4();
  void test5_direct();
  void iam_checks();
  void database_checks(pgclient::Connection* admin);
  void network_checks();
  void proxy_checks();
  void log_checks();

  const StackState& state_;
  const spec::Spec& spec_;
  std::vector<CheckResult> results_;
  NetworkPlan plan_;
  const ComponentState* proxy_ = nullptr;
  const ComponentState* aurora_ = nullptr;
  std::string client_netns_;  // where clients of the proxy run (lambda namespace)
  std::string master_password_;
  std::string writer_password_;  // the writer's secret (standard mode); empty when none
  std::string admin_secret_key_;
  sigv4::Credentials admin_credentials_;
  std::unique_ptr<iam::IamStore> iam_;
  std::unique_ptr<awslocal::SecretStore> secrets_;
};

Status Verifier::prepare() {
  if (state_.status != "up") {
    return Error::failed_precondition("the stack in " + state_.state_dir + " is " + state_.status +
                                      "; `writegate up` starts it");
  }
  proxy_ = state_.find("proxy");
  aurora_ = state_.find("aurora");
  const ComponentState* endpoint = state_.find("endpoint");
  for (const auto* c : {proxy_, aurora_, endpoint}) {
    if (!c || !c->running()) {
      return Error::failed_precondition("the stack in " + state_.state_dir +
                                        " is not fully running (`writegate status`)");
    }
  }
  if (netns()) {
    plan_ = plan_network(spec_, state_.stack_id, {});
    client_netns_ = plan_.member(Component::kLambda).netns;
  }
  WG_ASSIGN_OR_RETURN(iam_, iam::IamStore::open(state_.state_dir));
  WG_ASSIGN_OR_RETURN(secrets_, awslocal::SecretStore::open(state_.state_dir));
  WG_ASSIGN_OR_RETURN(auto master, secrets_->get_value(spec_.database.master_secret));
  if (!master.secret_string) {
    return Error::failed_precondition("the secret " + spec_.database.master_secret +
                                      " holds no text");
  }
  try {
    master_password_ =
        json::parse(std::string(master.secret_string->reveal())).at("password").get<std::string>();
  } catch (const json::exception&) {
    return Error::failed_precondition("the secret " + spec_.database.master_secret +
                                      " holds no {\"password\": ...}");
  }
  if (auto writer = secrets_->get_value(spec_.database.user_secret);
      writer && writer->secret_string) {
    try {
      writer_password_ = json::parse(std::string(writer->secret_string->reveal()))
                             .at("password")
                             .get<std::string>();
    } catch (const json::exception&) {
      writer_password_.clear();
    }
  }
  WG_ASSIGN_OR_RETURN(auto key, admin_key(state_.state_dir));
  admin_secret_key_ = std::string(key.secret_access_key.reveal());
  admin_credentials_.access_key_id = key.access_key_id;
  admin_credentials_.secret_access_key = std::move(key.secret_access_key);
  return {};
}

Result<pgclient::Connection> Verifier::admin_connection(const std::string& application) {
  const std::string conninfo =
      "host=" + pgclient::quote_conninfo_value(state_.cluster_endpoint) +
      " hostaddr=127.0.0.1 port=" + std::to_string(aurora_->port) +
      " dbname=" + pgclient::quote_conninfo_value(spec_.database.name) +
      " user=" + pgclient::quote_conninfo_value(spec_.database.master_user) +
      " password=" + pgclient::quote_conninfo_value(master_password_) +
      " sslmode=verify-full sslrootcert=" + pgclient::quote_conninfo_value(state_.ca_file) +
      " connect_timeout=" + std::to_string(kConnectTimeoutSeconds) +
      " application_name=" + application;
  auto conn = connect_in(aurora_->netns, conninfo);
  if (!conn) return conn.error().with_context("the master user's connection to the database");
  return conn;
}

std::string Verifier::proxy_conninfo(const std::string& user, const std::string& password,
                                     const std::string& sslmode) const {
  return "host=" + pgclient::quote_conninfo_value(state_.proxy_endpoint) +
         " hostaddr=" + proxy_->address + " port=" + std::to_string(proxy_->port) +
         " dbname=" + pgclient::quote_conninfo_value(spec_.database.name) +
         " user=" + pgclient::quote_conninfo_value(user) +
         " password=" + pgclient::quote_conninfo_value(password) + " sslmode=" + sslmode +
         " sslrootcert=" + pgclient::quote_conninfo_value(state_.ca_file) +
         " connect_timeout=" + std::to_string(kConnectTimeoutSeconds) +
         " application_name=writegate-verify";
}

Result<std::string> Verifier::token(const std::string& host, int port, const std::string& user,
                                    const sigv4::Credentials& credentials,
                                    std::chrono::system_clock::time_point when) const {
  sigv4::RdsTokenRequest request;
  request.hostname = host;
  request.port = static_cast<std::uint16_t>(port);
  request.username = user;
  request.region = state_.region;
  return sigv4::generate_rds_token(request, credentials, when);
}

void Verifier::test1_invoke(pgclient::Connection* admin) {
  const std::string section = "Test 1", name = "Lambda Invoke writes a row";
  if (!admin) {
    add(section, name, false, "no admin connection to check the row");
    return;
  }
  const std::string table = pgclient::quote_ident(schema()) + ".test_table";
  auto before = admin->query("SELECT coalesce(max(id), 0) AS id FROM " + table);
  if (!before) {
    add(section, name, false, "admin: " + before.error().message());
    return;
  }
  const std::string last_id = before->get(0, "id");
  const json payload = {{"schema", schema()},
                        {"table", "test_table"},
                        {"data", {{"column1", "value1"}, {"column2", "value2"}}}};
  awslocal::ClientOptions options;
  options.endpoint_url = state_.endpoint_url;
  options.region = state_.region;
  options.ca_file = state_.ca_file;
  options.timeout = std::chrono::seconds(60);
  sigv4::HttpRequest request;
  request.method = "POST";
  request.path = "/2015-03-31/functions/" + spec_.function.name + "/invocations";
  request.headers.push_back({"Content-Type", "application/json"});
  request.headers.push_back({"X-Amz-Invocation-Type", "RequestResponse"});
  request.body = payload.dump();
  auto response = awslocal::send_signed(options, std::move(request), "lambda", admin_credentials_);
  if (!response) {
    add(section, name, false, "Invoke: " + response.error().message());
    return;
  }
  const std::string body = one_line(response->body);
  if (response->status != 200 || !response->header("X-Amz-Function-Error").empty()) {
    add(section, name, false,
        "HTTP " + std::to_string(response->status) + " " +
            std::string(response->header("X-Amz-Function-Error")) + " " + body);
    return;
  }
  int status_code = 0;
  try {
    status_code = json::parse(response->body).value("statusCode", 0);
  } catch (const json::exception&) {
  }
  auto row = admin->query("SELECT id FROM " + table +
                              " WHERE id > $1::bigint AND column1 = 'value1' AND column2 = "
                              "'value2' ORDER BY id",
                          {pgclient::Value(last_id)});
  if (!row) {
    add(section, name, false, body + "; admin: " + row.error().message());
    return;
  }
  const bool found = row->rows.size() == 1;
  add(section, name, status_code == 200 && found,
      body + "; " +
          (found ? "row id " + row->get(0, "id") + " in " + schema() + ".test_table"
                 : std::to_string(row->rows.size()) + " new matching rows in " + schema() +
                       ".test_table (expected 1)"));
}

void Verifier::tests2_to_4() {
  auto login = writer_login(state_, spec_);
  if (!login) {
    for (const char* s : {"Test 2", "Test 3", "Test 4"})
      add(s, "writer login", false, "token: " + login.error().message());
    return;
  }
  const std::string conninfo =
      proxy_conninfo(spec_.database.user, std::string(login->password.reveal()));
  auto conn = connect_in(client_netns_, conninfo);
  const std::string table = pgclient::quote_ident(schema()) + ".test_table";
  auto expect_denied = [&](const std::string& section, const std::string& name,
                           const std::string& sql, const std::string& wanted) {
    if (!conn) {
      add(section, name, false, "login through the proxy: " + conn.error().message());
      return;
    }
    auto r = conn->exec(sql);
    if (r) {
      add(section, name, false, sql + " succeeded: " + r->command_status);
      return;
    }
    const bool ok =
        r.error().subcode() == "42501" && r.error().message().find(wanted) != std::string::npos;
    add(section, name, ok, sql + " -> " + one_line(r.error().message()));
  };
  expect_denied("Test 2", "SELECT is denied", "SELECT * FROM " + table,
                "permission denied for table test_table");
  if (!conn) {
    add("Test 3", "INSERT works", false, "login through the proxy: " + conn.error().message());
  } else {
    const std::string sql = "INSERT INTO " + table + " (column1, column2) VALUES ('test', 'data')";
    auto r = conn->exec(sql);
    add("Test 3", "INSERT works", r && r->command_status == "INSERT 0 1",
        sql + " -> " + (r ? r->command_status : one_line(r.error().message())));
  }
  expect_denied("Test 4", "public schema is denied",
                "INSERT INTO public.some_table (col) VALUES ('data')", "permission denied");
}

void Verifier::test5_direct() {
  const std::string section = "Test 5", name = "no direct path to the database";
  // The document's Test 5: a token login as the writer straight at the cluster endpoint, with a
  // valid token of the function's role, from where the function runs.
  auto session = service_session(state_.state_dir, spec_.iam.lambda_role, std::chrono::minutes(15));
  if (!session) {
    add(section, name, false, "lambda session: " + session.error().message());
    return;
  }
  sigv4::Credentials credentials{session->access_key_id, std::move(session->secret_access_key),
                                 std::move(session->session_token)};
  auto tok = token(state_.cluster_endpoint, aurora_->port, spec_.database.user, credentials,
                   std::chrono::system_clock::now());
  if (!tok) {
    add(section, name, false, "token: " + tok.error().message());
    return;
  }
  const std::string address = netns() ? plan_.member(Component::kAurora).address : "127.0.0.1";
  const std::string conninfo =
      "host=" + pgclient::quote_conninfo_value(state_.cluster_endpoint) + " hostaddr=" + address +
      " port=" + std::to_string(aurora_->port) +
      " dbname=" + pgclient::quote_conninfo_value(spec_.database.name) +
      " user=" + pgclient::quote_conninfo_value(spec_.database.user) +
      " password=" + pgclient::quote_conninfo_value(*tok) +
      " sslmode=verify-full sslrootcert=" + pgclient::quote_conninfo_value(state_.ca_file) +
      " connect_timeout=" + std::to_string(kConnectTimeoutSeconds);
  if (netns()) {
    // The security groups drop it: no answer at all, as on AWS.
    const auto& lambda = plan_.member(Component::kLambda);
    const Attempt a = attempt_login(lambda.netns, conninfo);
    add(section, name, !a.connected && a.timed_out,
        "token login as " + spec_.database.user + " from " + lambda.netns + " to " +
            state_.cluster_endpoint + " (" + address + ":" + std::to_string(aurora_->port) +
            "): " + describe(a) + (a.timed_out ? " (security groups drop it)" : ""));
    return;
  }
  // Loopback: no firewall; the database itself must refuse the writer from anywhere but the
  // proxy's source address, and say so (an answer from the server: pg_hba, not a firewall).
  const Attempt a = attempt_login("", conninfo);
  const bool hba =
      a.sqlstate == "28000" && (a.message.find("no pg_hba.conf entry") != std::string::npos ||
                                a.message.find("rejects connection") != std::string::npos);
  add(section, name, !a.connected && hba,
      "loopback mode: token login as " + spec_.database.user +
          " at 127.0.0.1:" + std::to_string(aurora_->port) + " -> " + describe(a) +
          (hba ? " (the database's pg_hba refused it; no firewall in loopback mode)" : ""));
}

void Verifier::iam_checks() {
  const std::string section = "iam";
  // Lint: every policy of every role (inline and attached managed).
  {
    std::vector<std::string> problems;
    int linted = 0;
    const auto managed = iam_->managed_policies();
    for (const auto& role : iam_->roles()) {
      auto lint = [&](const std::string& label, const std::string& document) {
        ++linted;
        // End-to-end IAM: the proxy role connects to the cluster itself, so its ARN names the
        // cluster's resource id (the rule is for the function's policy, which must name the
        // proxy).
        iam::LintOptions options;
        if (role.name == spec_.iam.proxy_role && spec_.proxy.backend_auth == "IAM_AUTH")
          options.backend_cluster_resource_id = iam_->settings().cluster_resource_id;
        for (const auto& f : iam::lint_policy(document, options)) {
          problems.push_back(one_line(iam::format_finding(label, f)));
        }
      };
      for (const auto& [policy, document] : role.inline_policies)
        lint("role " + role.name + " policy " + policy, document);
      for (const auto& arn : role.attached_policy_arns) {
        for (const auto& m : managed)
          if (m.arn == arn) lint("role " + role.name + " " + arn, m.document);
      }
    }
    std::string evidence = std::to_string(linted) + " role policies linted, " +
                           std::to_string(problems.size()) + " findings";
    for (const auto& p : problems)
      evidence += "; " + p;
    add(section, "lint of the roles' policies: no findings", problems.empty() && linted > 0,
        evidence);
  }
  const auto now = std::chrono::system_clock::now();
  auto simulate = [&](const std::string& name, const std::string& principal,
                      const std::string& action, const std::string& resource, bool want_allowed) {
    auto found = iam_->find_principal(principal);
    if (!found) {
      add(section, name, false, found.error().message());
      return;
    }
    iam::RequestContext request;
    request.principal = found->principal;
    request.action = action;
    request.resource = resource;
    iam::add_global_keys(request, now);
    const auto result = iam::evaluate(found->policies, request);
    add(section, name, result.allowed() == want_allowed,
        principal + " " + action + " on " + resource + ": " + result.describe());
  };
  const std::string dbuser_prefix =
      "arn:aws:rds-db:" + state_.region + ":" + state_.account_id + ":dbuser:";
  const std::string& lambda = spec_.iam.lambda_role;
  const std::string& proxy = spec_.iam.proxy_role;
  const std::string other_proxy = state_.proxy_resource_id == "prx-0123456789abcdef0"
                                      ? "prx-fedcba9876543210f"
                                      : "prx-0123456789abcdef0";
  auto secret_arn = [&](const std::string& name) {
    auto d = secrets_->describe(name);
    return d ? d->arn : secrets_->partial_arn(name);
  };
  const std::string writer_secret = secret_arn(spec_.database.user_secret);
  const std::string master_secret = secret_arn(spec_.database.master_secret);
  simulate("lambda may connect as " + spec_.database.user, lambda, "rds-db:connect",
           dbuser_prefix + state_.proxy_resource_id + "/" + spec_.database.user, true);
  simulate("lambda may not connect as " + spec_.database.master_user, lambda, "rds-db:connect",
           dbuser_prefix + state_.proxy_resource_id + "/" + spec_.database.master_user, false);
  simulate("lambda may not connect to another proxy", lambda, "rds-db:connect",
           dbuser_prefix + other_proxy + "/" + spec_.database.user, false);
  simulate("lambda may not read the writer secret", lambda, "secretsmanager:GetSecretValue",
           writer_secret, false);
  simulate("lambda may not read the master secret", lambda, "secretsmanager:GetSecretValue",
           master_secret, false);
  if (spec_.proxy.backend_auth == "IAM_AUTH") {
    // End-to-end IAM: the proxy logs in to the cluster with its own token, as the writer only.
    const std::string cluster = iam_->settings().cluster_resource_id;
    simulate("proxy may connect to the cluster as " + spec_.database.user, proxy, "rds-db:connect",
             dbuser_prefix + cluster + "/" + spec_.database.user, true);
    simulate("proxy may not connect to the cluster as " + spec_.database.master_user, proxy,
             "rds-db:connect", dbuser_prefix + cluster + "/" + spec_.database.master_user, false);
  } else {
    simulate("proxy may read its secret", proxy, "secretsmanager:GetSecretValue", writer_secret,
             true);
  }
  simulate("proxy may not read the master secret", proxy, "secretsmanager:GetSecretValue",
           master_secret, false);
  simulate("proxy may not rds-db:connect", proxy, "rds-db:connect",
           dbuser_prefix + state_.proxy_resource_id + "/" + spec_.database.user, false);
}

void Verifier::database_checks(pgclient::Connection* admin) {
  const std::string name = "audit of " + spec_.database.user + ": no findings";
  if (!admin) {
    add("database", name, false, "no admin connection");
    return;
  }
  dbadmin::AuditOptions options;
  options.proxy_may_connect =
      [this](const std::string& user) -> Result<dbadmin::AuditOptions::ConnectAnswer> {
    WG_ASSIGN_OR_RETURN(auto d, iam::proxy_cluster_connect(*iam_, spec_, user));
    return dbadmin::AuditOptions::ConnectAnswer{d.allowed, d.resource + ": " + d.describe};
  };
  auto report = dbadmin::audit(*admin, spec_, options);
  if (!report) {
    add("database", name, false, "the audit could not run: " + report.error().message());
    return;
  }
  std::string evidence = std::to_string(report->relations_checked) + " relations checked, " +
                         std::to_string(report->findings.size()) + " findings";
  for (const auto& f : report->findings)
    evidence += "; [" + f.check + "] " + f.object + ": " + one_line(f.message);
  add("database", name, report->findings.empty(), evidence);

  // End-to-end IAM, as on Aurora: rds_iam makes the writer IAM-only, so no password logs it in,
  // even from the database's own host.
  if (spec_.proxy.backend_auth != "IAM_AUTH") return;
  const std::string pw_name = "a password login as " + spec_.database.user + " is refused";
  const std::string conninfo = "host=" + pgclient::quote_conninfo_value(state_.cluster_endpoint) +
                               " hostaddr=127.0.0.1 port=" + std::to_string(aurora_->port) +
                               " dbname=" + pgclient::quote_conninfo_value(spec_.database.name) +
                               " user=" + pgclient::quote_conninfo_value(spec_.database.user) +
                               " password=not-a-token sslmode=verify-full sslrootcert=" +
                               pgclient::quote_conninfo_value(state_.ca_file) +
                               " connect_timeout=" + std::to_string(kConnectTimeoutSeconds);
  const Attempt a = attempt_login(aurora_->netns, conninfo);
  add("database", pw_name, !a.connected && (a.sqlstate == "28P01" || a.sqlstate == "28000"),
      "from the database's host: " + describe(a));
}

void Verifier::network_checks() {
  // Every ordered pair of the three namespaces, on the database port (the proxy's and Aurora's
  // own port where they listen) and on a port nothing in the spec allows. The probes run at once:
  // each denied pair waits out its 3 s.
  struct Probe {
    std::string name;
    Component from, to;
    std::string address;
    int port = 0;
    bool allowed = false;
    bool listens = false;
    std::future<Result<Reach>> reach;
  };
  const Component all[] = {Component::kLambda, Component::kProxy, Component::kAurora};
  std::vector<Probe> probes;
  for (int port : {5432, 22}) {
    for (Component from : all) {
      for (Component to : all) {
        if (from == to) continue;
        Probe p;
        p.from = from;
        p.to = to;
        p.port = port;
        p.listens = port == 5432 && (to == Component::kProxy || to == Component::kAurora);
        if (netns() && port == 5432 && to == Component::kProxy) p.port = proxy_->port;
        if (netns() && port == 5432 && to == Component::kAurora) p.port = aurora_->port;
        p.name = std::string(component_name(from)) + " -> " + std::string(component_name(to)) +
                 " tcp/" + std::to_string(p.port);
        probes.push_back(std::move(p));
      }
    }
  }
  if (!netns()) {
    for (const auto& p : probes)
      skip("network", p.name, "not proven (loopback mode: no security groups)");
    return;
  }
  for (auto& p : probes) {
    p.allowed = security_groups_allow(spec_, plan_, p.from, p.to, p.port);
    p.address = plan_.member(p.to).address;
    p.reach = std::async(std::launch::async, probe_tcp, plan_.member(p.from).netns, p.address,
                         p.port, kProbeTimeout);
  }
  for (auto& p : probes) {
    const auto reach = p.reach.get();
    if (!reach) {
      add("network", p.name, false, "probe: " + reach.error().message());
      continue;
    }
    bool pass = false;
    if (!p.allowed) {
      pass = *reach == Reach::kTimedOut;
    } else if (p.listens) {
      pass = *reach == Reach::kConnected;
    } else {
      pass = *reach == Reach::kConnected || *reach == Reach::kRefused;
    }
    add("network", p.name, pass,
        std::string("security groups ") + (p.allowed ? "allow" : "deny") + "; " + p.address + ":" +
            std::to_string(p.port) + " " + reach_text(*reach) +
            (p.allowed && p.listens ? " (listening)" : ""));
  }
}

void Verifier::proxy_checks() {
  const std::string section = "proxy";
  const std::string& writer = spec_.database.user;
  const std::string& master = spec_.database.master_user;
  auto refused = [&](const std::string& name, const std::string& user, const std::string& password,
                     const std::string& sslmode = "verify-full") {
    const Attempt a = attempt_login(client_netns_, proxy_conninfo(user, password, sslmode));
    add(section, name, !a.connected && !a.timed_out, describe(a));
  };
  auto login = writer_login(state_, spec_);
  if (!login) {
    add(section, "writer token", false, login.error().message());
    return;
  }
  const std::string good(login->password.reveal());
  refused("a connection without TLS is refused", writer, good, "disable");
  refused("a plain password is refused", writer,
          writer_password_.empty() ? std::string("not-a-token") : writer_password_);
  auto session = service_session(state_.state_dir, spec_.iam.lambda_role, std::chrono::hours(1));
  if (!session) {
    add(section, "lambda session", false, session.error().message());
    return;
  }
  sigv4::Credentials lambda{session->access_key_id, std::move(session->secret_access_key),
                            std::move(session->session_token)};
  const auto now = std::chrono::system_clock::now();
  auto expired =
      token(state_.proxy_endpoint, proxy_->port, writer, lambda, now - std::chrono::minutes(20));
  if (expired) {
    refused("an expired token is refused", writer, *expired);
  } else {
    add(section, "an expired token is refused", false, expired.error().message());
  }
  // A token for the master user, signed by the administrator (who may connect as anyone), so
  // only the user mismatch can refuse it.
  auto for_master = token(state_.proxy_endpoint, proxy_->port, master, admin_credentials_, now);
  if (for_master) {
    refused("a token for " + master + " is refused for " + writer, writer, *for_master);
  } else {
    add(section, "a token for " + master + " is refused for " + writer, false,
        for_master.error().message());
  }
  refused("a token for " + writer + " is refused for " + master, master, good);
  auto conn = connect_in(client_netns_, proxy_conninfo(writer, good));
  if (!conn) {
    add(section, "current_user is the writer", false, conn.error().message());
    return;
  }
  auto who = conn->query("SELECT current_user, session_user");
  add(section, "current_user is the writer",
      who && who->get(0, "current_user") == writer && who->get(0, "session_user") == writer,
      who ? "current_user " + who->get(0, "current_user") + ", session_user " +
                who->get(0, "session_user") + (conn->uses_tls() ? ", TLS" : ", no TLS")
          : who.error().message());
}

void Verifier::log_checks() {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(state_.state_dir + "/logs", ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) files.push_back(it->path().string());
  }
  // PostgreSQL's: its output before the collector, and the collector's rotated files.
  const std::string aurora =
      state_.aurora_dir.empty() ? state_.state_dir + "/aurora" : state_.aurora_dir;
  if (fs::exists(aurora + "/postgresql.out")) files.push_back(aurora + "/postgresql.out");
  for (const LogSegment& s : postgres_log_segments(postgres_log_dir(aurora)))
    files.push_back(s.path);
  struct Needle {
    std::string what;
    std::string text;
  };
  std::vector<Needle> needles = {{"the master password", master_password_},
                                 {"the administrator's secret access key", admin_secret_key_},
                                 {"a token (X-Amz-Signature=)", "X-Amz-Signature="}};
  if (!writer_password_.empty()) needles.push_back({"the writer's password", writer_password_});
  std::vector<std::string> hits;
  std::uintmax_t bytes = 0;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    const std::string content = text.str();
    bytes += content.size();
    for (const auto& n : needles) {
      if (!n.text.empty() && content.find(n.text) != std::string::npos) {
        hits.push_back(n.what + " in " + file);
      }
    }
  }
  std::string evidence = std::to_string(files.size()) + " files (" + std::to_string(bytes) +
                         " bytes) searched for " + std::to_string(needles.size()) + " secrets";
  for (const auto& h : hits)
    evidence += "; FOUND " + h;
  add("logs", "no secret or token in any log", hits.empty() && !files.empty(), evidence);
}

Result<std::vector<CheckResult>> Verifier::run() {
  WG_RETURN_IF_ERROR(prepare());
  auto admin = admin_connection("writegate-verify");
  if (!admin) return admin.error();  // nothing about the database can be proven
  test1_invoke(&*admin);
  tests2_to_4();
  test5_direct();
  iam_checks();
  database_checks(&*admin);
  network_checks();
  proxy_checks();
  log_checks();  // last: it sees what the other checks made the components log
  return std::move(results_);
}

}  // namespace

std::string_view outcome_name(CheckResult::Outcome outcome) {
  switch (outcome) {
    case CheckResult::kPass:
      return "PASS";
    case CheckResult::kFail:
      return "FAIL";
    case CheckResult::kSkip:
      return "SKIP";
  }
  return "?";
}

Result<std::vector<CheckResult>> verify_stack(const StackState& state, const spec::Spec& spec) {
  return Verifier(state, spec).run();
}

bool verify_failed(const std::vector<CheckResult>& results) {
  for (const auto& r : results)
    if (r.outcome == CheckResult::kFail) return true;
  return false;
}

namespace {
std::array<int, 3> counts(const std::vector<CheckResult>& results) {
  std::array<int, 3> n{};
  for (const auto& r : results)
    ++n[static_cast<std::size_t>(r.outcome)];
  return n;
}
}  // namespace

std::string verify_text(const StackState& state, const std::vector<CheckResult>& results) {
  std::ostringstream out;
  out << "writegate verify: " << state.state_dir << " (" << state.mode << " network)\n";
  std::size_t width = 0;
  for (const auto& r : results)
    width = std::max(width, r.section.size() + 2 + r.name.size());
  for (const auto& r : results) {
    const std::string label = r.section + "  " + r.name;
    out << "  " << outcome_name(r.outcome) << "  " << label
        << std::string(width - label.size() + 2, ' ') << r.evidence << "\n";
  }
  const auto n = counts(results);
  out << n[0] << " passed, " << n[1] << " failed, " << n[2] << " skipped\n";
  return out.str();
}

std::string verify_json(const StackState& state, const std::vector<CheckResult>& results) {
  json checks = json::array();
  for (const auto& r : results) {
    checks.push_back({{"section", r.section},
                      {"name", r.name},
                      {"outcome", std::string(outcome_name(r.outcome))},
                      {"evidence", r.evidence}});
  }
  const auto n = counts(results);
  const json j = {{"state_dir", state.state_dir},
                  {"mode", state.mode},
                  {"passed", n[0]},
                  {"failed", n[1]},
                  {"skipped", n[2]},
                  {"checks", checks}};
  return j.dump(2) + "\n";
}

}  // namespace writegate::stack
