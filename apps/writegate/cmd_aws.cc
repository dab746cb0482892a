// `writegate endpoint serve`, `writegate credentials`, `writegate secrets put|list`: the local
// AWS endpoint (STS, Secrets Manager, KMS, Lambda, CloudWatch Logs, CloudWatch, RDS) and its
// admin commands on the state folder.
//
// `writegate credentials --role NAME` is the local stand-in for an AWS service assuming its
// role: on AWS, Lambda (lambda.amazonaws.com) or RDS Proxy (rds.amazonaws.com) receives the
// role's temporary credentials from STS because the role's trust policy names that service.
// Here the command plays that service: it checks that the role exists and that its trust policy
// lets a service principal assume it, then mints a fresh STS session in the local store and
// prints it as `export AWS_...=` lines for the aws CLI or the function. Those lines are the one
// place writegate prints credentials, because printing them is the command's purpose.
//
// Compiled only when writegate_awslocal is linked (it defines WRITEGATE_HAVE_AWSLOCAL).
#ifdef WRITEGATE_HAVE_AWSLOCAL

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <vector>

#include "awslocal/endpoint.h"
#include "awslocal/secret_store.h"
#include "awslocal/sts.h"
#include "awslocal/writer_secret.h"
#include "command.h"
#include "common/log_files.h"
#include "common/time.h"
#include "iam/arn.h"
#include "iam/store.h"
#include "spec/spec.h"
#include "stack/rds_service.h"
#include "stack/stack.h"
#include "stack/state.h"
#ifdef WRITEGATE_HAVE_LAMBDA_EMULATOR
#include "lambda/emulator.h"
#endif
#ifdef WRITEGATE_HAVE_OBSERVE
#include "observe/cloudwatch_service.h"
#include "observe/dashboard.h"
#include "observe/logs_service.h"
#include "observe/metrics_sampler.h"
#include "stack/metrics_sources.h"
#endif

namespace {

using writegate::Error;
using writegate::Result;
using writegate::cli::fail;
using writegate::cli::finish;
namespace awslocal = writegate::awslocal;
namespace iam = writegate::iam;

struct ServeArgs {
  std::string state;  // the global --state
  std::string listen = "127.0.0.1:4566";
  std::string tls_cert;
  std::string tls_key;
  int threads = 2;
  bool quiet = false;
  // The local Lambda: served when a bootstrap executable is given.
  std::string function_bootstrap;
  std::vector<std::string> function_env;  // KEY=VALUE
  int function_concurrency = 10;
  int function_timeout = 0;  // seconds; 0: the spec's
  std::string function_log;
  std::string function_log_dir;  // one stream file per execution environment
  std::string function_netns;    // the function's network namespace; empty: none
  std::string function_root;     // the function's own root (an unzipped package); empty: none
  // NS=HOST:PORT: also serve on a socket opened in that network namespace (repeatable).
  std::vector<std::string> listen_netns;
  std::string spec_path;
  int metrics_interval = 5;  // seconds between samples of the stack's metrics
  // This process's stdout/stderr file (as `writegate up` starts it): rotated past the cap.
  std::string output_file;
  int64_t output_max_bytes = writegate::stack::kDaemonOutputMaxBytes;
  // PostgreSQL's log folder, whose oldest files this process removes beyond the stack's cap
  // (default: the stack's, from stack.json).
  bool prune_postgres_logs = true;
};

// "wg3fa2-proxy=127.0.0.1:4566" -> {netns, host, port}.
Result<awslocal::NetnsListener> parse_netns_listener(const std::string& text) {
  const std::size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return Error::invalid_argument("--listen-netns '" + text + "' is not NAMESPACE=HOST:PORT");
  }
  WG_ASSIGN_OR_RETURN(auto address, awslocal::parse_listen_address(text.substr(eq + 1)));
  return awslocal::NetnsListener{text.substr(0, eq), address.host, address.port};
}

int run_serve(const ServeArgs& args) {
  auto listen = awslocal::parse_listen_address(args.listen);
  if (!listen) fail(listen.error());
  awslocal::EndpointOptions options;
  options.state_dir = args.state;
  options.listen_host = listen->host;
  options.port = listen->port;
  options.tls_cert_file = args.tls_cert;
  options.tls_key_file = args.tls_key;
  options.threads = args.threads;
  for (const std::string& text : args.listen_netns) {
    auto extra = parse_netns_listener(text);
    if (!extra) fail(extra.error());
    options.extra_listeners.push_back(*extra);
  }
  if (!args.quiet) {
    options.router.access_log = [](const awslocal::AccessLogEntry& e) {
      std::ostringstream line;
      line << "request " << e.request_id << " from " << e.remote_address << " " << e.service << "."
           << e.operation << " by " << e.principal << " -> " << e.status;
      if (!e.error_code.empty()) line << " " << e.error_code;
      if (!e.detail.empty()) line << " (" << e.detail << ")";
      line << "\n";
      std::cerr << line.str() << std::flush;
    };
  }
  // Block SIGINT/SIGTERM before the server threads start, so they inherit the mask and this
  // thread receives the signal in sigwait().
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto router = awslocal::make_default_router(options.state_dir, options.router);
  if (!router) fail(router.error());
  std::string lambda_note;
#ifdef WRITEGATE_HAVE_OBSERVE
  namespace observe = writegate::observe;
  // The stack's metrics: one bounded store, fed by the sampler (proxy, database) and by the
  // local Lambda's invocations, read by CloudWatch and the Prometheus page.
  auto metrics = std::make_shared<observe::MetricStore>();
#endif
#ifdef WRITEGATE_HAVE_LAMBDA_EMULATOR
  if (!args.function_bootstrap.empty()) {
    auto spec = writegate::spec::load_for_cli(args.spec_path);
    if (!spec) fail(spec.error());
    writegate::lambda::FunctionConfig function;
    function.name = spec->function.name;
    function.role_name = spec->iam.lambda_role;
    function.memory_mb = spec->function.memory_mb;
    function.timeout = std::chrono::seconds(
        args.function_timeout > 0 ? args.function_timeout : spec->function.timeout_seconds);
    function.bootstrap = args.function_bootstrap;
    function.max_concurrency = static_cast<std::size_t>(std::max(1, args.function_concurrency));
    function.log_file = args.function_log;
    function.log_dir = args.function_log_dir;
    function.netns = args.function_netns;
    function.root = args.function_root;
    for (const std::string& kv : args.function_env) {
      const std::size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        fail(Error::invalid_argument("--function-env '" + kv + "' is not KEY=VALUE"));
      }
      function.environment.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    // Every running invocation holds an endpoint thread while it waits for its environment.
    options.threads = std::max(options.threads, args.function_concurrency + 2);
#ifdef WRITEGATE_HAVE_OBSERVE
    function.observer = [metrics,
                         name = function.name](const writegate::lambda::InvocationEvent& e) {
      const std::vector<observe::Dimension> dims = {{"FunctionName", name}};
      const observe::EpochMs now = observe::epoch_ms_now();
      metrics->record({"AWS/Lambda", "ConcurrentExecutions", dims}, now,
                      static_cast<double>(e.concurrent), "Count");
      if (!e.finished) return;
      metrics->record({"AWS/Lambda", "Invocations", dims}, now, 1, "Count");
      metrics->record({"AWS/Lambda", "Errors", dims}, now, e.error ? 1 : 0, "Count");
      metrics->record({"AWS/Lambda", "Duration", dims}, now, e.duration_ms, "Milliseconds");
    };
#endif
    lambda_note = ", function " + function.name;
    (*router)->add(std::make_shared<writegate::lambda::LambdaService>(std::move(function)));
  }
#endif
#ifdef WRITEGATE_HAVE_OBSERVE
  {
    // CloudWatch Logs over the stack's log files, found again per request (Aurora's folder is in
    // stack.json). The function's log is where this endpoint writes it.
    auto spec = writegate::spec::load_for_cli(args.spec_path);
    if (!spec) fail(spec.error());
    (*router)->add(std::make_shared<writegate::observe::LogsService>(
        [state = args.state, spec = *spec, function_log = args.function_log,
         function_log_dir = args.function_log_dir] {
          auto layout = writegate::cli::stack_log_layout(state, spec);
          if (!function_log.empty()) layout.function_log = function_log;
          if (!function_log_dir.empty()) layout.function_log_dir = function_log_dir;
          return writegate::observe::stack_log_groups(layout);
        }));
  }
#endif
  {
    // RDS's DescribeDBProxies / ModifyDBProxy (debug logging) for the stack's proxy.
    auto spec = writegate::spec::load_for_cli(args.spec_path);
    if (!spec) fail(spec.error());
    (*router)->add(std::make_shared<writegate::stack::RdsProxyService>(args.state, *spec));
  }
#ifdef WRITEGATE_HAVE_OBSERVE
  std::unique_ptr<observe::MetricsSampler> sampler;
  {
    (*router)->add(std::make_shared<observe::CloudWatchService>(metrics));
    (*router)->add_public_get(
        writegate::stack::kPrometheusPath, [metrics](const awslocal::Request&) {
          awslocal::Response r;
          r.headers.push_back({"Content-Type", "text/plain; version=0.0.4; charset=utf-8"});
          r.body = metrics->render_prometheus();
          return r;
        });
    auto spec = writegate::spec::load_for_cli(args.spec_path);
    if (!spec) fail(spec.error());
    // The dashboard: the page, its script and style, and its data (the charts' series and the
    // last refused logins of the proxy's log group).
    (*router)->add_public_get("/dashboard",
                              [](const awslocal::Request&) { return observe::dashboard_page(); });
    (*router)->add_public_get("/dashboard/app.js",
                              [](const awslocal::Request&) { return observe::dashboard_script(); });
    (*router)->add_public_get("/dashboard/app.css",
                              [](const awslocal::Request&) { return observe::dashboard_style(); });
    (*router)->add_public_get("/dashboard/data", [metrics, state = args.state,
                                                  spec = *spec](const awslocal::Request&) {
      const auto layout = writegate::cli::stack_log_layout(state, spec);
      const auto groups = observe::stack_log_groups(layout);
      std::vector<observe::RefusedLogin> refused;
      if (const auto* proxy = observe::find_group(groups, "/aws/rds/proxy/" + spec.proxy.name)) {
        refused = observe::refused_logins(*proxy, 10);
      }
      return observe::dashboard_json(observe::dashboard_data(*metrics,
                                                             {.proxy = spec.proxy.name,
                                                              .cluster = spec.database.cluster,
                                                              .function = spec.function.name},
                                                             observe::epoch_ms_now(), refused));
    });
    sampler = std::make_unique<observe::MetricsSampler>(
        metrics, std::chrono::seconds(std::clamp(args.metrics_interval, 1, 3600)),
        writegate::stack::stack_metric_sources(args.state, *spec));
    sampler->start();
  }
#endif
  // Housekeeping each second: this process's own output under its cap, and PostgreSQL's log
  // files (which its collector rotates but never removes) capped at the stack's count.
  std::optional<writegate::LogKeeper> keeper;
  if (!args.output_file.empty() || args.prune_postgres_logs) {
    keeper.emplace(std::chrono::seconds(1), [&args] {
      if (!args.output_file.empty()) {
        (void)writegate::rotate_output_if_full(args.output_file,
                                               static_cast<uint64_t>(args.output_max_bytes),
                                               writegate::stack::kDaemonOutputKeep);
      }
      if (args.prune_postgres_logs) {
        // Aurora's folder as stack.json says now (a stack may come up after this process).
        std::string aurora = args.state + "/aurora";
        if (auto state = writegate::stack::StackState::load(args.state);
            state && !state->aurora_dir.empty()) {
          aurora = state->aurora_dir;
        }
        (void)writegate::prune_postgres_logs(writegate::stack::postgres_log_dir(aurora),
                                             writegate::stack::kPostgresLogKeep);
      }
    });
  }
  auto endpoint = awslocal::Endpoint::start(options, std::move(*router));
  if (!endpoint) fail(endpoint.error());
  std::cout << "writegate endpoint listening on " << (*endpoint)->url() << " (state " << args.state
            << lambda_note << ")" << std::endl;
  const std::vector<uint16_t> extra_ports = (*endpoint)->extra_ports();
  for (std::size_t i = 0; i < extra_ports.size(); ++i) {
    const auto& extra = options.extra_listeners[i];
    std::cout << "writegate endpoint also listening on " << extra.host << ":" << extra_ports[i]
              << " in network namespace " << extra.netns << std::endl;
  }
  int received = 0;
  sigwait(&signals, &received);
#ifdef WRITEGATE_HAVE_OBSERVE
  sampler->stop();
#endif
  (*endpoint)->stop();
  keeper.reset();
  std::cout << "writegate endpoint stopped (" << (received == SIGINT ? "SIGINT" : "SIGTERM") << ")"
            << std::endl;
  return 0;
}

struct CredentialsArgs {
  std::string state;   // the global --state
  std::string region;  // the spec's region, exported as AWS_REGION and AWS_DEFAULT_REGION
  std::string role;
  int duration = 3600;
  std::string session_name;
};

// The AWS services the role's trust policy lets assume it (Allow statements naming a Service).
std::vector<std::string> trusted_services(const iam::NamedPolicy& trust) {
  std::vector<std::string> out;
  for (const auto& statement : trust.policy->statements) {
    if (statement.effect != iam::Effect::kAllow || !statement.principal ||
        statement.not_principal) {
      continue;
    }
    for (const auto& service : statement.principal->service)
      out.push_back(service);
  }
  return out;
}

// The local administrator's long-term key: the identity a person uses for the document's CLI
// steps (printed as the command's purpose, like `aws iam create-access-key`).
// What the aws CLI needs to reach the running stack's endpoint: its CA, and its URL for the CLIs
// that read AWS_ENDPOINT_URL (aws CLI v2.13+, v1.29+; Debian 12's 2.9 needs --endpoint-url).
void print_stack_endpoint(const std::string& state_dir) {
  auto state = writegate::stack::StackState::load(state_dir);
  if (!state || state->status != "up") return;
  std::cout << "export AWS_CA_BUNDLE=" << state->ca_file << "\n"
            << "export AWS_ENDPOINT_URL=" << state->endpoint_url << "\n"
            << "# older aws CLIs: aws --endpoint-url " << state->endpoint_url << " ...\n";
}

int run_admin_credentials(const CredentialsArgs& args) {
  auto key = writegate::stack::admin_key(args.state);
  if (!key) fail(key.error());
  std::cout << "# access key of the local administrator " << writegate::stack::kAdminUser
            << " (AdministratorAccess)\n"
            << "export AWS_ACCESS_KEY_ID=" << key->access_key_id << "\n"
            << "export AWS_SECRET_ACCESS_KEY=" << key->secret_access_key.reveal() << "\n"
            << "unset AWS_SESSION_TOKEN\n"
            << "export AWS_REGION=" << args.region << "\n"
            << "export AWS_DEFAULT_REGION=" << args.region << "\n";
  print_stack_endpoint(args.state);
  return 0;
}

int run_credentials(const CredentialsArgs& args) {
  if (args.role.empty()) return run_admin_credentials(args);
  auto store = iam::IamStore::open(args.state);
  if (!store) fail(store.error());
  if (!(*store)->role(args.role)) {
    fail(Error::not_found("no role " + args.role + " in " + iam::IamStore::file_path(args.state) +
                          "; `writegate iam seed` creates the document's roles"));
  }
  auto trust = (*store)->trust_policy(args.role);
  if (!trust) fail(trust.error());
  const std::string role_arn = iam::role_arn((*store)->settings().account_id, args.role);
  std::string service_used;
  for (const std::string& service : trusted_services(*trust)) {
    iam::AssumeRoleCaller caller;
    caller.principal.type = iam::PrincipalInfo::Type::kService;
    caller.principal.service = service;
    caller.principal.arn = service;
    if (iam::authorize_assume_role(caller, role_arn, *trust).allowed) {
      service_used = service;
      break;
    }
  }
  if (service_used.empty()) {
    fail(Error::permission_denied(
        "the trust policy of " + role_arn +
        " lets no AWS service assume it; use `aws sts assume-role` with a user's key instead"));
  }
  const auto now = std::chrono::system_clock::now();
  std::string session_name = args.session_name;
  if (session_name.empty()) {
    session_name =
        "writegate-" +
        std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  }
  auto session =
      (*store)->create_session(args.role, session_name, std::chrono::seconds(args.duration), now);
  if (!session) fail(session.error());
  std::cout << "# STS session " << session_name << " of " << role_arn << " (as " << service_used
            << "), expires " << writegate::format_iso8601(session->expiration) << "\n"
            << "export AWS_ACCESS_KEY_ID=" << session->access_key_id << "\n"
            << "export AWS_SECRET_ACCESS_KEY=" << session->secret_access_key.reveal() << "\n"
            << "export AWS_SESSION_TOKEN=" << session->session_token.reveal() << "\n"
            << "export AWS_REGION=" << args.region << "\n"
            << "export AWS_DEFAULT_REGION=" << args.region << "\n";
  print_stack_endpoint(args.state);
  return 0;
}

struct SecretsPutArgs {
  std::string state;  // the global --state
  std::string name;
  std::string secret_string;
  std::string secret_file;
};

int run_secrets_put(const SecretsPutArgs& args) {
  std::string value = args.secret_string;
  if (args.secret_file == "-") {
    std::ostringstream text;
    text << std::cin.rdbuf();
    if (std::cin.bad()) fail(Error::io("cannot read the secret from stdin"));
    value = text.str();
  } else if (!args.secret_file.empty()) {
    std::ifstream in(args.secret_file, std::ios::binary);
    if (!in) fail(Error::io("cannot read " + args.secret_file));
    std::ostringstream text;
    text << in.rdbuf();
    value = text.str();
  }
  if (value.empty()) fail(Error::invalid_argument("the secret value is empty"));
  auto secrets = awslocal::SecretStore::open(args.state);
  if (!secrets) fail(secrets.error());
  auto meta = (*secrets)->upsert(args.name, awslocal::SecretPayload::text(std::move(value)),
                                 std::chrono::system_clock::now());
  if (!meta) fail(meta.error());
  std::cout << "stored " << meta->arn << " version " << meta->versions.front().version_id
            << " (encrypted under " << meta->kms_key_arn << ")\n";
  return 0;
}

int run_secrets_list(const std::string& state) {
  auto secrets = awslocal::SecretStore::open(state);
  if (!secrets) fail(secrets.error());
  for (const auto& meta : (*secrets)->list()) {
    std::cout << meta.name << "\t" << meta.arn << "\n";
  }
  return 0;
}

void install(CLI::App& root, writegate::cli::Globals& globals) {
  auto* endpoint = root.add_subcommand(
      "endpoint",
      "The local AWS endpoint (STS, Secrets Manager, KMS, Lambda, CloudWatch Logs, CloudWatch, "
      "RDS)");
  endpoint->require_subcommand(1);
  static ServeArgs serve;
  auto* serve_cmd = endpoint->add_subcommand(
      "serve", "Serve the local AWS endpoint in the foreground (SIGINT/SIGTERM stop it)");
  serve_cmd->add_option("--listen", serve.listen, "HOST:PORT (port 0: an ephemeral port)")
      ->default_str(serve.listen);
  serve_cmd->add_option("--tls-cert", serve.tls_cert, "PEM certificate chain: serve HTTPS");
  serve_cmd->add_option("--tls-key", serve.tls_key, "PEM private key of --tls-cert");
  serve_cmd->add_option("--threads", serve.threads, "Server threads")->default_str("2");
  serve_cmd->add_flag("--quiet", serve.quiet, "No access log on stderr");
  serve_cmd->add_option("--output-file", serve.output_file,
                        "The file this process's stdout and stderr append to: rotated "
                        "(FILE.<offset>, 2 kept) when it passes --output-max-bytes");
  serve_cmd->add_option("--output-max-bytes", serve.output_max_bytes, "Cap of --output-file")
      ->default_str(std::to_string(serve.output_max_bytes));
  serve_cmd->add_flag("!--no-prune-postgres-logs", serve.prune_postgres_logs,
                      "Leave PostgreSQL's old log files of the stack alone (they are capped at " +
                          std::to_string(writegate::stack::kPostgresLogKeep) + " by default)");
  serve_cmd->add_option("--listen-netns", serve.listen_netns,
                        "NAMESPACE=HOST:PORT: also serve on a socket in that network namespace "
                        "(repeatable; needs root)");
  serve_cmd
      ->add_option("--metrics-interval", serve.metrics_interval,
                   "Seconds between samples of the stack's metrics (1..3600)")
      ->default_str("5");
#ifdef WRITEGATE_HAVE_LAMBDA_EMULATOR
  serve_cmd->add_option("--function-bootstrap", serve.function_bootstrap,
                        "Serve Lambda Invoke for the spec's function with this bootstrap");
  serve_cmd->add_option("--function-env", serve.function_env,
                        "KEY=VALUE for the function's environment (repeatable)");
  serve_cmd
      ->add_option("--function-concurrency", serve.function_concurrency,
                   "Execution environments at once")
      ->default_str("10");
  serve_cmd->add_option("--function-timeout", serve.function_timeout,
                        "Function timeout in seconds (default: the spec's)");
  serve_cmd->add_option("--function-log", serve.function_log,
                        "File for the function's output and REPORT lines (default stderr)");
  serve_cmd->add_option("--function-log-dir", serve.function_log_dir,
                        "Folder with one log stream file per execution environment, as Lambda "
                        "has one stream per environment (instead of --function-log)");
  serve_cmd->add_option("--function-netns", serve.function_netns,
                        "Run the function in this network namespace (needs root)");
  serve_cmd->add_option("--function-root", serve.function_root,
                        "Run the function chrooted to this folder in a mount namespace of its "
                        "own, as Lambda runs the zip: ROOT/var/task holds the unzipped "
                        "`writegate package`, ROOT/proc must exist, and --function-bootstrap "
                        "names the executable inside ROOT (/var/task/bootstrap); needs root");
#endif
  serve_cmd->callback([&globals] {
    serve.state = globals.state_dir;
    serve.spec_path = globals.spec_path;
    finish(run_serve(serve));
  });

  static CredentialsArgs creds;
  auto* creds_cmd = root.add_subcommand(
      "credentials",
      "Print export lines with a fresh STS session of a role (as the AWS service it trusts)");
  creds_cmd->add_option("--role", creds.role,
                        "Role name, e.g. rds-proxy-role; without it: the local administrator's "
                        "key (AdministratorAccess, made by `writegate up`)");
  creds_cmd->add_option("--duration", creds.duration, "Session length in seconds (900..43200)")
      ->default_str("3600");
  creds_cmd->add_option("--session-name", creds.session_name, "Role session name");
  creds_cmd->callback([&globals] {
    auto spec = writegate::cli::effective_spec(globals);
    if (!spec) fail(spec.error());
    creds.state = globals.state_dir;
    creds.region = spec->region;
    finish(run_credentials(creds));
  });

  auto* secrets = root.add_subcommand("secrets", "Secrets of the local Secrets Manager (admin)");
  secrets->require_subcommand(1);
  static SecretsPutArgs put;
  auto* put_cmd = secrets->add_subcommand(
      "put", "Create a secret or store a new AWSCURRENT value (encrypted with the local KMS key)");
  put_cmd->add_option("--name", put.name, "Secret name, e.g. aurora-master-secret")->required();
  auto* file_opt = put_cmd->add_option(
      "--secret-file", put.secret_file,
      "Read the value from this file as is (- for stdin); keeps it out of ps and shell history");
  auto* string_opt = put_cmd->add_option(
      "--secret-string", put.secret_string,
      "The value on the command line (visible in ps and shell history; prefer --secret-file)");
  string_opt->excludes(file_opt);
  put_cmd->callback([string_opt, file_opt, &globals] {
    put.state = globals.state_dir;
    if (string_opt->count() == 0 && file_opt->count() == 0) {
      fail(Error::invalid_argument("give --secret-file FILE (or - for stdin) or --secret-string"));
    }
    finish(run_secrets_put(put));
  });
  auto* list_cmd = secrets->add_subcommand("list", "Names and ARNs of the secrets (no values)");
  list_cmd->callback([&globals] { finish(run_secrets_list(globals.state_dir)); });
  writegate::cli::install_rotate_writer(*secrets, globals);
}

const bool kRegistered = writegate::cli::register_command(install);

}  // namespace

#endif  // WRITEGATE_HAVE_AWSLOCAL
