#include "stack/stack.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "awslocal/secret_store.h"
#include "awslocal/writer_secret.h"
#include "common/log_files.h"
#include "common/netns.h"
#include "common/process.h"
#include "common/time.h"
#include "dbadmin/provision.h"
#include "dbadmin/rotate.h"
#include "iam/arn.h"
#include "iam/evaluator.h"
#include "iam/random.h"
#include "iam/seed.h"
#include "localpg/cluster.h"
#include "pgclient/pgclient.h"
#include "pki/pki.h"
#include "sigv4/crypto.h"
#include "sigv4/rds_token.h"
#include "stack/metrics_sources.h"
#include "stack/network.h"

namespace writegate::stack {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kLowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789";
constexpr const char* kUpperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
constexpr int kEndpointPort = 4566;
constexpr const char* kLoopbackProxySource = "127.0.0.3";
constexpr const char* kAdministratorAccessArn = "arn:aws:iam::aws:policy/AdministratorAccess";

// ---- small helpers ----

std::string abs_path(const std::string& path) {
  return fs::absolute(path).lexically_normal().string();
}

bool port_free(const std::string& host, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// `preferred` when it is free on 127.0.0.1, else a free ephemeral port.
Result<int> loopback_port(int preferred) {
  if (preferred > 0 && port_free("127.0.0.1", preferred)) return preferred;
  return pick_free_port("127.0.0.1");
}

std::string tail_of(const std::string& path, std::size_t lines = 15) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);)
    all.push_back(line);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
    out += "    | " + all[i] + "\n";
  return out;
}

Status make_dir(const std::string& path, unsigned mode) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return Error::io("cannot create " + path + ": " + ec.message());
  if (::chmod(path.c_str(), mode) != 0)
    return Error::io("chmod " + path + ": " + std::strerror(errno));
  return {};
}

// Starts a long-running program detached from this process (its own session, stdin from
// /dev/null, stdout and stderr appended to `out_file`, no other descriptor of ours), so it
// outlives `writegate up`. Returns its pid.
Result<pid_t> spawn_daemon(const std::vector<std::string>& argv, const std::string& out_file,
                           const std::vector<std::string>& extra_env = {}) {
  const int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) return Error::io("cannot open " + out_file + ": " + std::strerror(errno));
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    env_strings.emplace_back(*e);
  for (const auto& e : extra_env)
    env_strings.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args)
    cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out);
    return Error::io(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setsid();
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(cargv[0], cargv.data(), envp.data());
    const std::string message =
        std::string("exec ") + cargv[0] + ": " + std::strerror(errno) + "\n";
    (void)!::write(2, message.data(), message.size());
    ::_exit(127);
  }
  ::close(out);
  return pid;
}

// Every folder from / down to `dir` lets others through (o+x): the postgres account can reach it.
bool others_can_traverse(const std::string& dir) {
  fs::path walked;
  for (const auto& part : fs::path(dir)) {
    walked /= part;
    struct stat st {};
    if (::stat(walked.c_str(), &st) != 0 || (st.st_mode & S_IXOTH) == 0) return false;
  }
  return true;
}

bool pid_alive(pid_t pid) {
  if (pid <= 0) return false;
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == pid) return false;  // our child, just ended
  if (::kill(pid, 0) != 0) return false;
  // A zombie is not alive.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  const auto paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size() || text[paren + 2] != 'Z';
}

bool wait_gone(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (pid_alive(pid)) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return true;
}

// Every descendant of `pid` (children first found through /proc/*/stat's ppid).
std::vector<pid_t> descendants(pid_t root) {
  std::map<pid_t, std::vector<pid_t>> children;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string text;
    std::getline(stat, text);
    const auto paren = text.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(text.substr(paren + 2));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    children[ppid].push_back(std::stoi(name));
  }
  std::vector<pid_t> out;
  std::vector<pid_t> pending = {root};
  while (!pending.empty()) {
    const pid_t p = pending.back();
    pending.pop_back();
    for (pid_t c : children[p]) {
      out.push_back(c);
      pending.push_back(c);
    }
  }
  return out;
}

// SIGTERM, then (after `grace`) SIGTERM again and SIGKILL; true when it is gone.
bool stop_process(pid_t pid, std::chrono::milliseconds grace) {
  if (!pid_alive(pid)) return true;
  ::kill(pid, SIGTERM);
  if (wait_gone(pid, grace)) return true;
  ::kill(pid, SIGTERM);  // writegate-proxy: a second SIGTERM stops without draining
  if (wait_gone(pid, std::chrono::seconds(2))) return true;
  ::kill(pid, SIGKILL);
  return wait_gone(pid, std::chrono::seconds(5));
}

// The size of a file (0 when it does not exist): where a new run's output starts.
std::uintmax_t file_end(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

// Rotates `path` (common/log_files.h) when it has passed `max_bytes`.
Status rotate_if_over(const std::string& path, int64_t max_bytes, int keep) {
  if (file_end(path) <= static_cast<std::uintmax_t>(max_bytes)) return {};
  return rotate_log_file(path, keep);
}

// Waits until `out_file` holds, after byte `from` (what earlier runs wrote), a line containing
// `marker` (the program's "listening on" line) while the process lives; the error carries the
// file's tail.
Status wait_for_line(pid_t pid, const std::string& out_file, std::uintmax_t from,
                     const std::string& marker, std::chrono::seconds limit,
                     const std::string& what) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    std::ifstream in(out_file);
    in.seekg(static_cast<std::streamoff>(from));
    for (std::string line; std::getline(in, line);) {
      if (line.find(marker) != std::string::npos) return {};
    }
    if (!pid_alive(pid)) {
      return Error::unavailable(what + " exited during start-up; " + out_file + " ends with:\n" +
                                tail_of(out_file));
    }
    if (Clock::now() > deadline) {
      return Error::unavailable(what + " did not report ready within " +
                                std::to_string(limit.count()) + " s; " + out_file +
                                " ends with:\n" + tail_of(out_file));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
}

std::string exe_of(pid_t pid) {
  std::error_code ec;
  auto target = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  return ec ? std::string() : target.string();
}

// Our process, as recorded: the program we started, or (between fork and exec, when `up` failed
// at once) a process whose command line names the state folder.
std::string pam_service_name(const std::string& stack_id) {
  return "writegate-" + stack_id;
}
std::string pam_service_path(const std::string& stack_id) {
  return "/etc/pam.d/" + pam_service_name(stack_id);
}

bool is_ours(const ComponentState& c, const std::string& state_dir) {
  if (c.running()) return true;
  if (!pid_alive(c.pid)) return false;
  std::ifstream in("/proc/" + std::to_string(c.pid) + "/cmdline", std::ios::binary);
  const std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return cmdline.find(state_dir) != std::string::npos;
}

std::string stack_id_for(const std::string& state_dir) {
  const auto digest = sigv4::detail::sha256(state_dir);
  return "wg" + sigv4::detail::to_hex(digest).substr(0, 4);
}

Result<std::string> random_of(std::size_t n, const char* alphabet) {
  return iam::random_string(n, alphabet);
}

// Opens a libpq connection from inside a network namespace (empty: here).
Result<pgclient::Connection> connect_in(const std::string& netns, const std::string& conninfo) {
  std::optional<Result<pgclient::Connection>> conn;
  WG_RETURN_IF_ERROR(
      run_in_netns(netns, [&] { conn.emplace(pgclient::Connection::open(conninfo)); }));
  return std::move(*conn);
}

// ---- the layout of the state folder ----

struct Paths {
  std::string root;
  std::string aurora_dir;  // StackState::aurora_dir
  std::string pki() const { return root + "/pki"; }
  std::string ca_cert() const { return pki() + "/ca.crt"; }
  std::string ca_key() const { return pki() + "/ca.key"; }
  std::string proxy_cert() const { return pki() + "/proxy.crt"; }
  std::string proxy_key() const { return pki() + "/proxy.key"; }
  std::string endpoint_cert() const { return pki() + "/endpoint.crt"; }
  std::string endpoint_key() const { return pki() + "/endpoint.key"; }
  std::string aurora() const { return aurora_dir.empty() ? root + "/aurora" : aurora_dir; }
  std::string aurora_data() const { return aurora() + "/data"; }
  std::string aurora_cert() const { return aurora() + "/server.crt"; }
  std::string aurora_key() const { return aurora() + "/server.key"; }
  // The server's stdout/stderr (pg_ctl -l): what it says before its logging collector runs.
  std::string aurora_log() const { return aurora() + "/postgresql.out"; }
  std::string aurora_log_dir() const { return postgres_log_dir(aurora()); }
  std::string proxy_dir() const { return root + "/proxy"; }
  std::string proxy_config() const { return proxy_dir() + "/proxy.yaml"; }
  std::string proxy_settings() const { return proxy_settings_file(root); }
  std::string logs() const { return root + "/logs"; }
  std::string proxy_log() const { return logs() + "/proxy.log"; }
  std::string proxy_out() const { return logs() + "/proxy.out"; }
  std::string endpoint_out() const { return logs() + "/endpoint.out"; }
  // One stream file per execution environment (lambda::FunctionConfig::log_dir).
  std::string function_logs() const { return logs() + "/function"; }
  std::string spec() const { return root + "/spec.yaml"; }
};

}  // namespace

std::string postgres_log_dir(const std::string& aurora_dir) {
  return aurora_dir + "/log";
}

namespace {

std::vector<std::string> netns_argv(const std::string& netns, std::vector<std::string> argv) {
  auto prefix = ip_netns_exec_prefix(netns);
  prefix.insert(prefix.end(), argv.begin(), argv.end());
  return prefix;
}

// ---- bringing it up ----

class Bringup {
 public:
  Bringup(const UpOptions& options, StackState state)
      : options_(options),
        spec_(options.spec),
        state_(std::move(state)),
        paths_{state_.state_dir, state_.aurora_dir},
        out_(*options.out) {}

  Result<StackState> run();

 private:
  using StepFn = std::function<Status()>;
  Status step(const std::string& name, const StepFn& fn);

  Status identifiers_and_certificates();
  Status iam_and_secrets();
  Status network();
  Status aurora();
  Status database();
  Status write_pam_service(int port);
  Status endpoint();
  Status proxy();
  Status check_writer_login();

  bool netns() const { return state_.mode == "netns"; }
  // End-to-end IAM (proxy.backend_auth IAM_AUTH): rds_iam members log in at the database with
  // IAM tokens only (pam_writegate.so), and the proxy signs its own.
  bool iam_backend() const { return spec_.proxy.backend_auth == "IAM_AUTH"; }
  // The folder holding iam/ as the PAM module (postgres) reaches it.
  std::string pam_state_dir() const {
    return state_.share_dir.empty() ? state_.state_dir : state_.share_dir;
  }
  std::string ns_of(Component c) const { return netns() ? plan_.member(c).netns : std::string(); }
  std::string address_of(Component c) const {
    return netns() ? plan_.member(c).address : std::string("127.0.0.1");
  }
  Status save() { return state_.save(); }

  const UpOptions& options_;
  spec::Spec spec_;
  StackState state_;
  Paths paths_;
  std::ostream& out_;
  NetworkPlan plan_;
  std::optional<RunAs> postgres_account_;
  std::string master_password_;
  int step_number_ = 0;
  int step_count_ = 0;
};

Status Bringup::step(const std::string& name, const StepFn& fn) {
  ++step_number_;
  out_ << "  [" << step_number_ << "/" << step_count_ << "] " << name << " ... " << std::flush;
  const auto start = Clock::now();
  Status result = fn();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  if (!result) {
    out_ << "FAILED (" << ms << " ms)" << std::endl;
    return result.error().with_context(name);
  }
  out_ << "ok (" << ms << " ms)" << std::endl;
  return {};
}

Status Bringup::identifiers_and_certificates() {
  if (state_.dns_code.empty()) {
    WG_ASSIGN_OR_RETURN(state_.dns_code, random_of(12, kLowerAlnum));
  }
  state_.region = spec_.region;
  state_.account_id = spec_.account_id;
  state_.proxy_endpoint =
      spec_.proxy.name + ".proxy-" + state_.dns_code + "." + spec_.region + ".rds.amazonaws.com";
  state_.cluster_endpoint = spec_.database.cluster + ".cluster-" + state_.dns_code + "." +
                            spec_.region + ".rds.amazonaws.com";
  if (netns()) {
    plan_ = plan_network(spec_, state_.stack_id,
                         {{state_.proxy_endpoint, ""}, {state_.cluster_endpoint, ""}});
    plan_.hosts = {{state_.proxy_endpoint, plan_.member(Component::kProxy).address},
                   {state_.cluster_endpoint, plan_.member(Component::kAurora).address}};
  }
  WG_RETURN_IF_ERROR(make_dir(paths_.pki(), 0755));
  pki::Certificate ca_files;
  if (fs::exists(paths_.ca_cert()) && fs::exists(paths_.ca_key())) {
    std::ifstream c(paths_.ca_cert()), k(paths_.ca_key());
    std::stringstream cs, ks;
    cs << c.rdbuf();
    ks << k.rdbuf();
    ca_files = {cs.str(), ks.str()};
  }
  auto ca = ca_files.cert_pem.empty()
                ? pki::CertificateAuthority::create("writegate local CA (plays the RDS CA bundle)")
                : pki::CertificateAuthority::load(ca_files);
  if (!ca) return ca.error().with_context("the local CA");
  if (ca_files.cert_pem.empty()) {
    WG_RETURN_IF_ERROR(pki::write_file(paths_.ca_cert(), ca->certificate().cert_pem, 0644));
    WG_RETURN_IF_ERROR(pki::write_file(paths_.ca_key(), ca->certificate().key_pem, 0600));
  }
  state_.ca_file = paths_.ca_cert();
  auto issue = [&](std::vector<std::string> names, std::vector<std::string> ips,
                   const std::string& cert, const std::string& key) -> Status {
    WG_ASSIGN_OR_RETURN(auto issued, ca->issue_server(names, ips));
    WG_RETURN_IF_ERROR(pki::write_file(cert, issued.cert_pem, 0644));
    return pki::write_file(key, issued.key_pem, 0600);
  };
  WG_RETURN_IF_ERROR(issue({state_.proxy_endpoint, "localhost"},
                           {"127.0.0.1", address_of(Component::kProxy)}, paths_.proxy_cert(),
                           paths_.proxy_key()));
  WG_RETURN_IF_ERROR(
      issue({"localhost"}, {"127.0.0.1"}, paths_.endpoint_cert(), paths_.endpoint_key()));
  WG_RETURN_IF_ERROR(make_dir(paths_.aurora(), 0700));
  if (state_.aurora_dir != state_.state_dir + "/aurora") {
    out_ << "(Aurora's data in " << paths_.aurora() << ": postgres cannot reach "
         << state_.state_dir << ") " << std::flush;
  }
  WG_RETURN_IF_ERROR(chown_to(paths_.aurora(), postgres_account_));
  WG_RETURN_IF_ERROR(issue({state_.cluster_endpoint, "localhost"},
                           {"127.0.0.1", address_of(Component::kAurora)}, paths_.aurora_cert(),
                           paths_.aurora_key()));
  WG_RETURN_IF_ERROR(chown_to(paths_.aurora_cert(), postgres_account_));
  WG_RETURN_IF_ERROR(chown_to(paths_.aurora_key(), postgres_account_));
  return save();
}

Status Bringup::iam_and_secrets() {
  WG_ASSIGN_OR_RETURN(auto seeded, iam::seed_store(spec_, state_.state_dir));
  state_.proxy_resource_id = seeded.proxy_resource_id;
  state_.cluster_resource_id = seeded.cluster_resource_id;  // the store keeps it
  if (iam_backend() && postgres_account_) {
    // The database's PAM module (run by postgres) reads the store to verify tokens.
    WG_RETURN_IF_ERROR(
        iam::IamStore::share_read_with_group(pam_state_dir(), postgres_account_->gid));
  }
  WG_ASSIGN_OR_RETURN(auto store, iam::IamStore::open(state_.state_dir));
  if (!store->user(kAdminUser)) {
    WG_RETURN_IF_ERROR(store->create_user(kAdminUser, {{"writegate", "local administrator"}}));
  }
  const auto admin = *store->user(kAdminUser);
  if (std::find(admin.attached_policy_arns.begin(), admin.attached_policy_arns.end(),
                kAdministratorAccessArn) == admin.attached_policy_arns.end()) {
    WG_RETURN_IF_ERROR(store->attach_user_policy(kAdminUser, kAdministratorAccessArn));
  }
  if (store->access_keys(kAdminUser).empty()) {
    WG_RETURN_IF_ERROR(store->create_access_key(kAdminUser, std::chrono::system_clock::now()));
  }
  // The master user's secret, as RDS keeps it: made once, its password set by initdb.
  WG_ASSIGN_OR_RETURN(auto secrets, awslocal::SecretStore::open(state_.state_dir));
  auto master = secrets->get_value(spec_.database.master_secret);
  if (master && master->secret_string) {
    try {
      master_password_ = json::parse(std::string(master->secret_string->reveal()))
                             .at("password")
                             .get<std::string>();
    } catch (const json::exception&) {
      return Error::failed_precondition("the secret " + spec_.database.master_secret +
                                        " holds no {\"password\": ...}");
    }
    return save();
  }
  if (master.error().code() != ErrorCode::kNotFound) return master.error();
  if (fs::exists(paths_.aurora_data() + "/PG_VERSION")) {
    return Error::failed_precondition("the database in " + paths_.aurora_data() +
                                      " exists but the secret " + spec_.database.master_secret +
                                      " does not; `writegate down --purge` starts afresh");
  }
  WG_ASSIGN_OR_RETURN(master_password_, dbadmin::generate_password());
  const json value = {{"username", spec_.database.master_user},
                      {"password", master_password_},
                      {"engine", "postgres"},
                      {"host", state_.cluster_endpoint},
                      {"port", spec_.database.port},
                      {"dbClusterIdentifier", spec_.database.cluster}};
  WG_RETURN_IF_ERROR(secrets->create(
      spec_.database.master_secret, awslocal::SecretPayload::text(SecretString(value.dump())),
      "master user of " + spec_.database.cluster, std::chrono::system_clock::now()));
  return save();
}

Status Bringup::network() {
  WG_RETURN_IF_ERROR(create_network(plan_, spec_));
  state_.made.push_back("network");
  return save();
}

Status Bringup::aurora() {
  WG_ASSIGN_OR_RETURN(const std::string bin, localpg::server_bin_dir());
  auto& c = state_.component("aurora");
  c.netns = ns_of(Component::kAurora);
  c.address = address_of(Component::kAurora);
  c.log_file = paths_.aurora_log();
  if (netns()) {
    c.port = spec_.database.port;
  } else if (c.port == 0 || !port_free("127.0.0.1", c.port)) {
    WG_ASSIGN_OR_RETURN(c.port, pick_free_port("127.0.0.1"));
  }
  ProcessOptions as_server;
  as_server.run_as = postgres_account_;
  as_server.extra_env = {"LC_ALL=C.UTF-8", "TZ=UTC"};
  if (!fs::exists(paths_.aurora_data() + "/PG_VERSION")) {
    const std::string pwfile = paths_.aurora() + "/pwfile";
    WG_RETURN_IF_ERROR(pki::write_file(pwfile, master_password_ + "\n", 0600));
    WG_RETURN_IF_ERROR(chown_to(pwfile, postgres_account_));
    auto initdb = run_process(
        {bin + "/initdb", "-D", paths_.aurora_data(), "-U", spec_.database.master_user,
         "--auth=scram-sha-256", "--pwfile=" + pwfile, "-E", "UTF8", "--locale=C.UTF-8"},
        as_server);
    fs::remove(pwfile);
    if (!initdb) return initdb.error().with_context("initdb");
    if (initdb->exit_code != 0) return Error::internal("initdb failed:\n" + initdb->output);
  }
  {
    // Aurora forces TLS (rds.force_ssl); who reaches the port is the security groups' business.
    // Without namespaces there is no security group: the writer may then log in only from the
    // proxy's source address, and that is pg_hba's doing (any local process could bind it).
    std::ofstream hba(paths_.aurora_data() + "/pg_hba.conf", std::ios::trunc);
    hba << "# written by writegate up (" << state_.mode << " mode)\n";
    if (iam_backend()) {
      // As on Aurora: members of rds_iam log in with IAM tokens only, never a password.
      hba << "hostssl " << (netns() ? "all" : spec_.database.name) << " +rds_iam "
          << (netns() ? std::string("0.0.0.0/0") : std::string(kLoopbackProxySource) + "/32")
          << " pam pamservice=" << pam_service_name(state_.stack_id) << "\n";
      hba << "host all +rds_iam 0.0.0.0/0 reject\n";
    }
    if (netns()) {
      hba << "hostssl all all 0.0.0.0/0 scram-sha-256\n";
    } else {
      hba << "hostssl all " << spec_.database.master_user << " 127.0.0.1/32 scram-sha-256\n";
      hba << "hostssl " << spec_.database.name << " " << spec_.database.user << " "
          << kLoopbackProxySource << "/32 scram-sha-256\n";
    }
    hba << "host all all 0.0.0.0/0 reject\n";
    hba << "host all all ::/0 reject\n";
  }
  {
    std::ofstream conf(paths_.aurora_data() + "/postgresql.auto.conf", std::ios::trunc);
    conf << "# written by writegate up\n"
         << "listen_addresses = '" << (netns() ? c.address + ",127.0.0.1" : c.address) << "'\n"
         << "port = " << c.port
         << "\n"
         // TCP only: pg_hba has no `local` line, so a socket would serve no one, and a socket
         // path over 107 bytes (a clone deep in a home folder) stops PostgreSQL from starting.
         << "unix_socket_directories = ''\n"
         << "ssl = on\n"
         << "ssl_cert_file = '" << paths_.aurora_cert() << "'\n"
         << "ssl_key_file = '" << paths_.aurora_key() << "'\n"
         << "ssl_min_protocol_version = 'TLSv1.2'\n"
         << "password_encryption = 'scram-sha-256'\n"
         << "max_connections = 200\n"
         << "log_connections = on\n"
         << "log_line_prefix = '%m [%p] %q%u@%d '\n";
    // The log rotates by size, 0600 (the log group's reader follows the files).
    for (const std::string& line :
         localpg::rotating_log_config(paths_.aurora_log_dir(), kPostgresLogRotationKb))
      conf << line << "\n";
    conf
        // For the metrics (src/stack/metrics_sources.h): CommitLatency from pg_stat_wal's
        // timed WAL flushes, DMLLatency from pg_stat_statements.
        << "track_wal_io_timing = on\n"
        << "shared_preload_libraries = 'pg_stat_statements'\n"
        << "pg_stat_statements.track = top\n";
  }
  if (iam_backend()) WG_RETURN_IF_ERROR(write_pam_service(c.port));
  WG_RETURN_IF_ERROR(chown_to(paths_.aurora_data() + "/pg_hba.conf", postgres_account_));
  WG_RETURN_IF_ERROR(chown_to(paths_.aurora_data() + "/postgresql.auto.conf", postgres_account_));
  {
    // The server's output before its collector runs: 0600, the server account's (pg_ctl
    // appends to it). The collector's folder: 0700, the server account's.
    WG_ASSIGN_OR_RETURN(const int fd, open_log_file(paths_.aurora_log(), 0600));
    ::close(fd);
    WG_RETURN_IF_ERROR(chown_to(paths_.aurora_log(), postgres_account_));
    WG_RETURN_IF_ERROR(make_dir(paths_.aurora_log_dir(), 0700));
    WG_RETURN_IF_ERROR(chown_to(paths_.aurora_log_dir(), postgres_account_));
    WG_RETURN_IF_ERROR(prune_postgres_logs(paths_.aurora_log_dir(), kPostgresLogKeep));
  }
  std::vector<std::string> pg_ctl = {
      bin + "/pg_ctl", "-D", paths_.aurora_data(), "-l", paths_.aurora_log(), "-w", "-t", "60",
      "start"};
  Result<ProcessOutput> started = Error::internal("not run");
  if (netns() && postgres_account_) {
    // `ip netns exec` needs root; the server then drops to the postgres account.
    std::vector<std::string> argv = {"runuser", "-u", "postgres", "--"};
    argv.insert(argv.end(), pg_ctl.begin(), pg_ctl.end());
    ProcessOptions as_root;
    as_root.extra_env = as_server.extra_env;
    started = run_process(netns_argv(c.netns, argv), as_root);
  } else {
    started = run_process(netns_argv(c.netns, pg_ctl), as_server);
  }
  if (!started) return started.error().with_context("pg_ctl start");
  if (started->exit_code != 0) {
    std::string log_tail = tail_of(paths_.aurora_log());
    if (const auto files = postgres_log_segments(paths_.aurora_log_dir()); !files.empty()) {
      log_tail += tail_of(files.back().path);
    }
    return Error::unavailable("PostgreSQL did not start:\n" + started->output + log_tail);
  }
  std::ifstream pidfile(paths_.aurora_data() + "/postmaster.pid");
  pidfile >> c.pid;
  c.exe = exe_of(c.pid);
  return save();
}

// PostgreSQL's PAM service for rds_iam members: pam_writegate.so verifies each token against the
// IAM store for the cluster endpoint and the cluster's dbuser ARN.
Status Bringup::write_pam_service(int port) {
  std::string module = fs::weakly_canonical(options_.bin_dir + "/../lib/pam_writegate.so");
  if (!fs::exists(module)) return Error::not_found("the PAM module " + module + " is not built");
  if (!state_.share_dir.empty()) {
    // postgres loads the module itself: a copy where it can reach it, root's, 0644.
    const std::string copy = state_.share_dir + "/pam_writegate.so";
    std::error_code ec;
    fs::copy_file(module, copy + ".tmp", fs::copy_options::overwrite_existing, ec);
    if (!ec) fs::permissions(copy + ".tmp", fs::perms(0644), ec);
    if (!ec) fs::rename(copy + ".tmp", copy, ec);
    if (ec) return Error::io("cannot copy the PAM module to " + copy + ": " + ec.message());
    module = copy;
  }
  const std::string args =
      " state=" + pam_state_dir() + " region=" + spec_.region + " account=" + spec_.account_id +
      " resource=" + state_.cluster_resource_id + " host=" + state_.cluster_endpoint +
      " port=" + std::to_string(port) + " report_to_conversation";
  const std::string text = "# written by writegate up for " + state_.state_dir +
                           "; removed by writegate down\n"
                           "auth required " +
                           module + args + "\naccount required " + module + "\n";
  WG_RETURN_IF_ERROR(pki::write_file(pam_service_path(state_.stack_id), text, 0644));
  state_.made.push_back("pam");
  return save();
}

Status Bringup::database() {
  const auto& c = state_.component("aurora");
  auto admin_conninfo = [&](const std::string& db) {
    return "host=" + pgclient::quote_conninfo_value(state_.cluster_endpoint) +
           " hostaddr=127.0.0.1 port=" + std::to_string(c.port) +
           " dbname=" + pgclient::quote_conninfo_value(db) +
           " user=" + pgclient::quote_conninfo_value(spec_.database.master_user) +
           " password=" + pgclient::quote_conninfo_value(master_password_) +
           " sslmode=verify-full sslrootcert=" + pgclient::quote_conninfo_value(paths_.ca_cert()) +
           " connect_timeout=10 application_name=writegate-up";
  };
  {
    WG_ASSIGN_OR_RETURN(auto admin, connect_in(c.netns, admin_conninfo("postgres")));
    // pg_stat_statements (cluster-wide) for the DMLLatency metric, in a schema of the postgres
    // database that PUBLIC cannot use: the writer's database gets no new readable view.
    WG_RETURN_IF_ERROR(admin.exec(
        "CREATE SCHEMA IF NOT EXISTS " + std::string(kMonitorSchema) + "; REVOKE ALL ON SCHEMA " +
        kMonitorSchema + " FROM PUBLIC; CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA " +
        kMonitorSchema));
    WG_ASSIGN_OR_RETURN(auto exists, admin.query("SELECT 1 FROM pg_database WHERE datname = $1",
                                                 {pgclient::Value(spec_.database.name)}));
    if (exists.rows.empty()) {
      WG_RETURN_IF_ERROR(
          admin.exec("CREATE DATABASE " + pgclient::quote_ident(spec_.database.name)));
    }
  }
  WG_ASSIGN_OR_RETURN(auto admin, connect_in(c.netns, admin_conninfo(spec_.database.name)));
  // The document's test table (section 10), in each writer schema, and a table in public for
  // its Test 4.
  for (const auto& schema : spec_.database.schemas) {
    const std::string s = pgclient::quote_ident(schema);
    WG_RETURN_IF_ERROR(admin.exec("CREATE SCHEMA IF NOT EXISTS " + s +
                                  "; CREATE TABLE IF NOT EXISTS " + s +
                                  ".test_table (id bigserial PRIMARY KEY, column1 text, "
                                  "column2 text, created_at timestamptz NOT NULL DEFAULT now())"));
  }
  WG_RETURN_IF_ERROR(admin.exec("CREATE TABLE IF NOT EXISTS public.some_table (col text)"));
  WG_ASSIGN_OR_RETURN(auto plan, dbadmin::plan_provision(admin, spec_, {}));
  WG_RETURN_IF_ERROR(dbadmin::apply_provision(admin, plan));
  if (spec_.proxy.backend_auth == "SECRETS") {
    // Standard mode: the proxy logs in with the writer's own secret. A fresh password on every
    // `up`, set on the database and in the secret in one step.
    WG_ASSIGN_OR_RETURN(auto secret,
                        awslocal::WriterSecret::open(state_.state_dir, spec_.database.user_secret));
    const std::string& user = spec_.database.user;
    auto rotated = dbadmin::rotate_writer_password(
        admin, spec_,
        {.store = [&](const std::string& fresh) { return secret.store(user, fresh); },
         .restore = [&] { return secret.restore(); }});
    if (!rotated) return rotated.error().with_context("the writer's password");
  }
  return {};
}

Status Bringup::endpoint() {
  auto& c = state_.component("endpoint");
  c.netns.clear();
  c.address = "127.0.0.1";
  WG_ASSIGN_OR_RETURN(c.port, loopback_port(c.port > 0 ? c.port : kEndpointPort));
  c.log_file = paths_.endpoint_out();
  const auto& proxy = state_.component("proxy");
  std::vector<std::string> argv = {
      options_.bin_dir + "/writegate",
      "endpoint",
      "serve",
      "--state",
      state_.state_dir,
      "--spec",
      paths_.spec(),
      "--listen",
      "127.0.0.1:" + std::to_string(c.port),
      "--tls-cert",
      paths_.endpoint_cert(),
      "--tls-key",
      paths_.endpoint_key(),
      "--function-bootstrap",
      options_.bin_dir + "/bootstrap",
      "--function-log-dir",
      paths_.function_logs(),
      "--function-env",
      "PROXY_ENDPOINT=" + state_.proxy_endpoint,
      "--function-env",
      "DB_PORT=" + std::to_string(proxy.port),
      "--function-env",
      "DB_NAME=" + spec_.database.name,
      "--function-env",
      "DB_REGION=" + spec_.region,
      "--function-env",
      "DB_CA_BUNDLE=" + paths_.ca_cert(),
  };
  std::string schemas;
  for (const auto& s : spec_.database.schemas)
    schemas += (schemas.empty() ? "" : ",") + s;
  argv.insert(argv.end(), {"--function-env", "ALLOWED_SCHEMAS=" + schemas});
  if (netns()) {
    // The function runs in the lambda namespace; the proxy reaches Secrets Manager on its own
    // loopback (as RDS Proxy does through the AWS network, not through its security group).
    argv.insert(argv.end(),
                {"--function-netns", ns_of(Component::kLambda), "--listen-netns",
                 ns_of(Component::kProxy) + "=127.0.0.1:" + std::to_string(kEndpointPort)});
  } else {
    argv.insert(argv.end(), {"--function-env", "DB_HOSTADDR=127.0.0.1"});
  }
  // The program the process becomes (known before it runs, so `down` recognizes it however early
  // this run fails).
  c.exe = fs::canonical(argv.front()).string();
  // Its own output rotates past the cap (the process does it); a full file from earlier runs
  // is rotated now, so the wait below reads a file the new process will not rotate at once.
  argv.insert(argv.end(), {"--output-file", c.log_file, "--output-max-bytes",
                           std::to_string(kDaemonOutputMaxBytes)});
  const auto listen_at =
      static_cast<std::size_t>(std::find(argv.begin(), argv.end(), "--listen") - argv.begin() + 1);
  for (int attempt = 0;; ++attempt) {
    WG_RETURN_IF_ERROR(rotate_if_over(c.log_file, kDaemonOutputMaxBytes, kDaemonOutputKeep));
    const auto from = file_end(c.log_file);
    WG_ASSIGN_OR_RETURN(c.pid, spawn_daemon(argv, c.log_file));
    WG_RETURN_IF_ERROR(save());
    Status listening = wait_for_line(c.pid, c.log_file, from, "writegate endpoint listening on",
                                     std::chrono::seconds(30), "the local AWS endpoint");
    if (listening.ok()) break;
    // Another `up` took the port between the check above and the endpoint's listen (two stacks
    // starting at once both found 4566 free): once more, on a free ephemeral port.
    if (attempt > 0 ||
        listening.error().message().find("Address already in use") == std::string::npos) {
      return listening;
    }
    WG_ASSIGN_OR_RETURN(c.port, pick_free_port("127.0.0.1"));
    argv[listen_at] = "127.0.0.1:" + std::to_string(c.port);
  }
  state_.endpoint_url = "https://127.0.0.1:" + std::to_string(c.port);
  return save();
}

Status Bringup::proxy() {
  auto& c = state_.component("proxy");
  const auto& aurora = state_.component("aurora");
  c.log_file = paths_.proxy_out();
  WG_RETURN_IF_ERROR(make_dir(paths_.proxy_dir(), 0700));
  int admin_port = 9187;
  if (!netns()) {
    WG_ASSIGN_OR_RETURN(admin_port, pick_free_port("127.0.0.1"));
  }
  std::ostringstream yaml;
  yaml << "# written by writegate up\n"
       << "listen: " << c.address << ":" << c.port << "\n"
       << "endpoint_names: [" << state_.proxy_endpoint << "]\n"
       << "endpoint_port: " << c.port << "\n"
       << "tls_cert: " << paths_.proxy_cert() << "\n"
       << "tls_key: " << paths_.proxy_key() << "\n"
       << "state_dir: " << state_.state_dir << "\n"
       << "resource_id: " << state_.proxy_resource_id << "\n"
       << "databases: [" << spec_.database.name << "]\n"
       << "backend:\n"
       << "  host: " << (netns() ? state_.cluster_endpoint : std::string("127.0.0.1")) << "\n"
       << "  port: " << aurora.port << "\n"
       << "  ca_file: " << paths_.ca_cert() << "\n"
       << "  server_name: " << state_.cluster_endpoint << "\n";
  if (!netns()) yaml << "  source_address: " << kLoopbackProxySource << "\n";
  if (iam_backend()) {
    yaml << "  auth: iam\n";  // a fresh token of the proxy role for each backend connection
  } else {
    yaml << "secrets: {endpoint: 'https://127.0.0.1:"
         << (netns() ? kEndpointPort : state_.component("endpoint").port)
         << "', ca_file: " << paths_.ca_cert() << "}\n";
  }
  // Debug logging starts off, as RDS Proxy's does; `aws rds modify-db-proxy` changes it.
  state_.proxy_debug_logging = false;
  state_.proxy_updated.clear();
  WG_RETURN_IF_ERROR(pki::write_file(paths_.proxy_settings(), proxy_settings_json(false), 0600));
  yaml << "log_file: " << paths_.proxy_log() << "\n"
       << "log_max_bytes: " << kProxyLogMaxBytes << "\n"
       << "log_keep: " << kProxyLogKeep << "\n"
       << "settings_file: " << paths_.proxy_settings() << "\n"
       << "admin_listen: 127.0.0.1:" << admin_port << "\n"
       << "shutdown_grace: 5\n";
  c.admin_port = admin_port;  // the endpoint's metrics sampler scrapes it
  WG_RETURN_IF_ERROR(pki::write_file(paths_.proxy_config(), yaml.str(), 0600));
  const std::vector<std::string> argv =
      netns_argv(c.netns, {options_.bin_dir + "/writegate-proxy", "--config", paths_.proxy_config(),
                           "--spec", paths_.spec(), "--output-file", c.log_file,
                           "--output-max-bytes", std::to_string(kDaemonOutputMaxBytes)});
  c.exe = fs::canonical(options_.bin_dir + "/writegate-proxy").string();
  WG_RETURN_IF_ERROR(rotate_if_over(c.log_file, kDaemonOutputMaxBytes, kDaemonOutputKeep));
  const auto from = file_end(c.log_file);
  WG_ASSIGN_OR_RETURN(c.pid, spawn_daemon(argv, c.log_file));
  WG_RETURN_IF_ERROR(save());
  WG_RETURN_IF_ERROR(wait_for_line(c.pid, c.log_file, from, "writegate-proxy listening on",
                                   std::chrono::seconds(30), "writegate-proxy"));
  return save();
}

Status Bringup::check_writer_login() {
  WG_ASSIGN_OR_RETURN(auto login, writer_login(state_, spec_));
  const auto& proxy = state_.component("proxy");
  const std::string conninfo =
      login.conninfo + " hostaddr=" + proxy.address +
      " password=" + pgclient::quote_conninfo_value(std::string(login.password.reveal())) +
      " connect_timeout=10 application_name=writegate-up";
  WG_ASSIGN_OR_RETURN(auto conn, connect_in(login.netns, conninfo));
  WG_ASSIGN_OR_RETURN(auto who, conn.query("SELECT current_user"));
  if (who.rows.size() != 1 || who.get(0, "current_user") != spec_.database.user) {
    return Error::internal("a login through the proxy is not " + spec_.database.user);
  }
  return {};
}

Result<StackState> Bringup::run() {
  WG_ASSIGN_OR_RETURN(postgres_account_, unprivileged_account_if_root());
  auto& proxy_state = state_.component("proxy");
  step_count_ = netns() ? 8 : 7;
  out_ << "writegate up: " << state_.mode << " network, state " << state_.state_dir << std::endl;
  if (!netns()) {
    out_
        << "  note: loopback mode (not root, or --network loopback) loses what the network gives:\n"
           "        no security groups: any local process can reach the proxy and the database "
           "ports;\n"
           "        the database refuses "
        << spec_.database.user << " except from the proxy's source address " << kLoopbackProxySource
        << " (pg_hba),\n"
           "        which any local process could also bind; Test 5 then fails at pg_hba, not "
           "by a timeout.\n";
  }
  Status result =
      step("certificates and endpoint names", [&] { return identifiers_and_certificates(); });
  if (result)
    result = step("IAM roles, administrator and secrets", [&] { return iam_and_secrets(); });
  if (result && netns()) {
    result = step("network namespaces and security groups (nftables)", [&] { return network(); });
  }
  if (result) {
    proxy_state.netns = ns_of(Component::kProxy);
    proxy_state.address = address_of(Component::kProxy);
    if (netns()) {
      proxy_state.port = spec_.proxy.port;
    } else {
      auto port = loopback_port(proxy_state.port > 0 ? proxy_state.port : 0);
      if (!port) return port.error();
      proxy_state.port = *port;
    }
    result = step("Aurora (PostgreSQL 15, TLS only)", [&] { return aurora(); });
  }
  if (result) result = step("database, provision, writer", [&] { return database(); });
  if (result) result = step("local AWS endpoint and Lambda", [&] { return endpoint(); });
  if (result) result = step("writegate-proxy", [&] { return proxy(); });
  if (result)
    result = step("a writer login through the proxy", [&] { return check_writer_login(); });
  if (!result) {
    out_ << "writegate up failed: " << result.error().message() << "\n"
         << "undoing what this run started..." << std::endl;
    state_.status = "failed";
    (void)state_.save();
    std::ostringstream down_log;
    if (auto undone = down({.state_dir = state_.state_dir, .purge = false, .out = &down_log});
        !undone) {
      out_ << down_log.str();
      return result.error().with_context(
          "writegate up (and undoing it failed too: " + undone.error().message() + ")");
    }
    out_ << "nothing is left running." << std::endl;
    return result.error();
  }
  state_.status = "up";
  WG_RETURN_IF_ERROR(save());
  (void)remember_current(state_.state_dir);
  return state_;
}

std::string component_line(const ComponentState& c) {
  std::ostringstream line;
  line << (c.running() ? "running" : "stopped") << "  pid " << c.pid;
  if (c.port) line << "  " << c.address << ":" << c.port;
  if (!c.netns.empty()) line << "  netns " << c.netns;
  return line.str();
}

}  // namespace

Result<NetworkMode> parse_network_mode(std::string_view text) {
  if (text == "auto") return NetworkMode::kAuto;
  if (text == "netns") return NetworkMode::kNetns;
  if (text == "loopback") return NetworkMode::kLoopback;
  return Error::invalid_argument("--network '" + std::string(text) +
                                 "' is not allowed; use auto | netns | loopback");
}

Result<StackState> up(const UpOptions& options) {
  const std::string dir = abs_path(options.state_dir);
  auto existing = StackState::load(dir);
  StackState state;
  if (existing) {
    state = std::move(*existing);
    if (state.status == "up") {
      std::vector<std::string> stopped;
      for (const auto& [name, c] : state.components)
        if (!c.running()) stopped.push_back(name);
      if (stopped.empty()) {
        *options.out << "writegate up: the stack in " << dir << " is up already; nothing changed\n";
        return state;
      }
      std::string list;
      for (const auto& s : stopped)
        list += (list.empty() ? "" : ", ") + s;
      return Error::failed_precondition("the stack in " + dir + " is partly running (" + list +
                                        " stopped); run `writegate down` first");
    }
    if (state.status != "down") {
      return Error::failed_precondition("the stack in " + dir + " is '" + state.status +
                                        "'; run `writegate down` first");
    }
  } else if (existing.error().code() != ErrorCode::kNotFound) {
    return existing.error();
  }
  const bool root = ::geteuid() == 0;
  NetworkMode mode = options.network;
  // A stack brought up again keeps its network mode unless told otherwise.
  if (mode == NetworkMode::kAuto && state.mode == "loopback") mode = NetworkMode::kLoopback;
  if (mode == NetworkMode::kAuto && state.mode == "netns") mode = NetworkMode::kNetns;
  if (mode == NetworkMode::kAuto) mode = root ? NetworkMode::kNetns : NetworkMode::kLoopback;
  if (mode == NetworkMode::kNetns && !root) {
    return Error::permission_denied(
        "--network netns needs root (network namespaces and nftables); run as root or use "
        "--network loopback");
  }
  if (options.spec.proxy.backend_auth == "IAM_AUTH" && !root) {
    return Error::permission_denied(
        "end-to-end IAM (proxy.backend_auth: IAM_AUTH, the default) needs root: the database "
        "checks rds_iam members' tokens through a PAM service, which goes in /etc/pam.d; run "
        "as root, or choose RDS Proxy's standard mode with proxy.backend_auth: SECRETS in the "
        "spec (the proxy then logs in with the writer's password from its secret)");
  }
  state.state_dir = dir;
  state.status = "starting";
  state.mode = mode == NetworkMode::kNetns ? "netns" : "loopback";
  state.stack_id = stack_id_for(dir);
  state.made.clear();
  for (const char* name : {"aurora", "endpoint", "proxy"}) {
    auto& c = state.component(name);
    c.pid = 0;
    c.exe.clear();
  }
  WG_RETURN_IF_ERROR(make_dir(dir, root ? 0711 : 0700));
  if (state.aurora_dir.empty()) {
    state.aurora_dir = dir + "/aurora";
    // As root the server runs as postgres, which must be able to walk down to its folder, and
    // its PAM module to the IAM store and to the module itself.
    if (root && !others_can_traverse(dir)) {
      state.aurora_dir = "/var/lib/writegate/" + state.stack_id;
      if (!fs::exists(dir + "/iam")) {
        state.share_dir = "/var/lib/writegate/" + state.stack_id + "-share";
      }
    }
  }
  if (!state.share_dir.empty()) {
    // The store lives in the shared folder; STATE/iam leads there, so every other part finds
    // it where it always is.
    WG_RETURN_IF_ERROR(make_dir("/var/lib/writegate", 0711));
    WG_RETURN_IF_ERROR(make_dir(state.share_dir, 0711));
    WG_RETURN_IF_ERROR(make_dir(state.share_dir + "/iam", 0700));
    std::error_code ec;
    if (!fs::is_symlink(dir + "/iam", ec)) {
      fs::create_directory_symlink(state.share_dir + "/iam", dir + "/iam", ec);
      if (ec)
        return Error::io("cannot link " + dir + "/iam to " + state.share_dir + ": " + ec.message());
    }
  }
  const Paths paths{dir, state.aurora_dir};
  WG_RETURN_IF_ERROR(make_dir(paths.logs(), 0700));
  state.spec_file = paths.spec();
  WG_RETURN_IF_ERROR(pki::write_file(paths.spec(), spec::to_yaml(options.spec), 0600));
  WG_RETURN_IF_ERROR(state.save());
  return Bringup(options, std::move(state)).run();
}

Status down(const DownOptions& options) {
  const std::string dir = abs_path(options.state_dir);
  std::ostream& out = *options.out;
  auto loaded = StackState::load(dir);
  if (!loaded) {
    if (loaded.error().code() == ErrorCode::kNotFound && options.purge && fs::exists(dir)) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      out << "writegate down: no stack in " << dir << "; removed the folder\n";
      return {};
    }
    return loaded.error();
  }
  StackState state = std::move(*loaded);
  out << "writegate down: " << dir << std::endl;
  std::vector<std::string> problems;
  // The proxy first (clients see a clean close), then the endpoint with its function
  // environments, then Aurora.
  if (auto* c = state.find("proxy"); c && c->pid > 0) {
    const bool gone = !is_ours(*c, dir) || stop_process(c->pid, std::chrono::seconds(8));
    out << "  writegate-proxy (pid " << c->pid << ") " << (gone ? "stopped" : "STILL RUNNING")
        << std::endl;
    if (!gone) problems.push_back("writegate-proxy pid " + std::to_string(c->pid));
  }
  if (auto* c = state.find("endpoint"); c && c->pid > 0) {
    const bool ours = is_ours(*c, dir);
    std::vector<pid_t> children = ours ? descendants(c->pid) : std::vector<pid_t>{};
    const bool gone = !ours || stop_process(c->pid, std::chrono::seconds(8));
    for (pid_t child : children) {
      if (pid_alive(child)) ::kill(child, SIGKILL);
    }
    for (pid_t child : children) {
      if (!wait_gone(child, std::chrono::seconds(3))) {
        problems.push_back("function environment pid " + std::to_string(child));
      }
    }
    out << "  local AWS endpoint and Lambda (pid " << c->pid << ", " << children.size()
        << " function environments) " << (gone ? "stopped" : "STILL RUNNING") << std::endl;
    if (!gone) problems.push_back("endpoint pid " + std::to_string(c->pid));
  }
  if (auto* c = state.find("aurora"); c && c->pid > 0) {
    bool gone = !c->running();
    if (!gone) {
      auto bin = localpg::server_bin_dir();
      auto account = unprivileged_account_if_root();
      if (bin && account) {
        ProcessOptions as_server;
        as_server.run_as = *account;
        std::vector<std::string> argv = {*bin + "/pg_ctl",
                                         "-D",
                                         Paths{dir, state.aurora_dir}.aurora_data(),
                                         "-m",
                                         "fast",
                                         "-w",
                                         "-t",
                                         "30",
                                         "stop"};
        (void)run_process(argv, as_server);
      }
      gone = wait_gone(c->pid, std::chrono::seconds(10));
      if (!gone) {
        ::kill(c->pid, SIGQUIT);
        gone = wait_gone(c->pid, std::chrono::seconds(5));
      }
    }
    out << "  Aurora (postmaster pid " << c->pid << ") " << (gone ? "stopped" : "STILL RUNNING")
        << std::endl;
    if (!gone) problems.push_back("postgres pid " + std::to_string(c->pid));
  }
  if (state.mode == "netns") {
    auto spec = stack_spec(state);
    const NetworkPlan plan = plan_network(spec ? *spec : spec::Spec{}, state.stack_id, {});
    // Anything still inside the namespaces (a `writegate exec` shell, say) goes with them.
    for (const auto& member : plan.members) {
      auto pids = run_process({"ip", "netns", "pids", member.netns});
      if (!pids || pids->exit_code != 0) continue;
      std::istringstream list(pids->output);
      for (pid_t pid = 0; list >> pid;) {
        ::kill(pid, SIGKILL);
        out << "  killed pid " << pid << " left in " << member.netns << std::endl;
      }
    }
    if (auto removed = remove_network(plan); !removed) {
      problems.push_back(removed.error().message());
    }
    for (const auto& left : network_leftovers(plan))
      problems.push_back(left);
    out << "  network namespaces, bridge and nftables rules "
        << (network_leftovers(plan).empty() ? "removed" : "NOT ALL REMOVED") << std::endl;
  }
  if (std::error_code ec; fs::exists(pam_service_path(state.stack_id), ec)) {
    fs::remove(pam_service_path(state.stack_id), ec);
    if (ec) problems.push_back("cannot remove " + pam_service_path(state.stack_id));
    out << "  PAM service " << pam_service_path(state.stack_id) << " removed" << std::endl;
  }
  for (auto& [name, c] : state.components) {
    if (c.running())
      problems.push_back(name + " still running (pid " + std::to_string(c.pid) + ")");
    c.pid = 0;
  }
  state.made.clear();
  state.status = problems.empty() ? "down" : "failed";
  if (!problems.empty()) {
    (void)state.save();
    std::string list;
    for (const auto& p : problems)
      list += "\n  " + p;
    return Error::internal("writegate down left something behind:" + list);
  }
  forget_current(dir);
  if (options.purge) {
    std::error_code ec;
    if (!state.aurora_dir.empty()) fs::remove_all(state.aurora_dir, ec);
    if (!state.share_dir.empty()) fs::remove_all(state.share_dir, ec);
    fs::remove_all(dir, ec);
    if (ec) return Error::io("cannot remove " + dir + ": " + ec.message());
    out << "  state folder removed (--purge)" << std::endl;
  } else {
    WG_RETURN_IF_ERROR(state.save());
    out << "  data kept in " << dir << " (`writegate down --purge` deletes it)" << std::endl;
  }
  out << "nothing is left running." << std::endl;
  return {};
}

Result<spec::Spec> stack_spec(const StackState& state) {
  return spec::load_file(state.spec_file.empty() ? state.state_dir + "/spec.yaml"
                                                 : state.spec_file);
}

std::string status_text(const StackState& state) {
  std::ostringstream out;
  out << "stack " << state.state_dir << ": " << state.status << " (" << state.mode
      << " network, id " << state.stack_id << ")\n";
  for (const char* name : {"aurora", "proxy", "endpoint"}) {
    const ComponentState* c = state.find(name);
    out << "  " << name << std::string(10 - std::strlen(name), ' ')
        << (c ? component_line(*c) : std::string("not started")) << "\n";
  }
  out << "  proxy endpoint     " << state.proxy_endpoint << "\n"
      << "  cluster endpoint   " << state.cluster_endpoint << "\n"
      << "  proxy resource id  " << state.proxy_resource_id << "\n"
      << "  proxy debug log    " << (state.proxy_debug_logging ? "on" : "off")
      << "   (aws rds modify-db-proxy --[no-]debug-logging)\n"
      << "  CA bundle          " << state.ca_file << "\n"
      << "  AWS endpoint       " << state.endpoint_url << "   (aws --endpoint-url "
      << state.endpoint_url << " --ca-bundle " << state.ca_file << ")\n"
      << "  Prometheus         " << state.endpoint_url << kPrometheusPath
      << "   (the whole stack's metrics; --cacert " << state.ca_file << ")\n"
      << "  Dashboard          " << state.endpoint_url << kDashboardPath
      << "   (live charts and refused logins; no token: loopback only)\n"
      << "  region             " << state.region << ", account " << state.account_id << "\n";
  return out.str();
}

std::string status_json(const StackState& state) {
  json j = {{"state_dir", state.state_dir},
            {"status", state.status},
            {"mode", state.mode},
            {"stack_id", state.stack_id},
            {"region", state.region},
            {"account_id", state.account_id},
            {"proxy_endpoint", state.proxy_endpoint},
            {"cluster_endpoint", state.cluster_endpoint},
            {"proxy_resource_id", state.proxy_resource_id},
            {"proxy_debug_logging", state.proxy_debug_logging},
            {"cluster_resource_id", state.cluster_resource_id},
            {"ca_bundle", state.ca_file},
            {"endpoint_url", state.endpoint_url},
            {"prometheus_url", state.endpoint_url + kPrometheusPath},
            {"dashboard_url", state.endpoint_url + kDashboardPath}};
  json components = json::object();
  for (const auto& [name, c] : state.components) {
    components[name] = {{"state", c.running() ? "running" : "stopped"},
                        {"pid", c.pid},
                        {"netns", c.netns},
                        {"address", c.address},
                        {"port", c.port},
                        {"log", c.log_file}};
  }
  j["components"] = components;
  return j.dump(2) + "\n";
}

Result<iam::Session> service_session(const std::string& state_dir, const std::string& role,
                                     std::chrono::seconds duration) {
  WG_ASSIGN_OR_RETURN(auto store, iam::IamStore::open(state_dir));
  if (!store->role(role)) return Error::not_found("no role " + role + " in the IAM store");
  WG_ASSIGN_OR_RETURN(auto trust, store->trust_policy(role));
  const std::string arn = iam::role_arn(store->settings().account_id, role);
  for (const auto& statement : trust.policy->statements) {
    if (statement.effect != iam::Effect::kAllow || !statement.principal) continue;
    for (const auto& service : statement.principal->service) {
      iam::AssumeRoleCaller caller;
      caller.principal.type = iam::PrincipalInfo::Type::kService;
      caller.principal.service = service;
      caller.principal.arn = service;
      if (!iam::authorize_assume_role(caller, arn, trust).allowed) continue;
      const auto now = std::chrono::system_clock::now();
      const std::string session_name =
          "writegate-" +
          std::to_string(
              std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
      return store->create_session(role, session_name, duration, now);
    }
  }
  return Error::permission_denied("the trust policy of " + arn + " lets no AWS service assume it");
}

Result<iam::AccessKey> admin_key(const std::string& state_dir) {
  WG_ASSIGN_OR_RETURN(auto store, iam::IamStore::open(state_dir));
  for (auto& key : store->access_keys(kAdminUser)) {
    if (key.status == iam::KeyStatus::kActive) return std::move(key);
  }
  return Error::not_found("the local administrator " + std::string(kAdminUser) +
                          " has no active access key (`writegate up` makes one)");
}

Result<WriterLogin> writer_login(const StackState& state, const spec::Spec& spec) {
  const ComponentState* proxy = state.find("proxy");
  if (!proxy || proxy->port == 0) return Error::failed_precondition("the stack has no proxy");
  WG_ASSIGN_OR_RETURN(auto session, service_session(state.state_dir, spec.iam.lambda_role,
                                                    std::chrono::seconds(900)));
  sigv4::Credentials credentials{session.access_key_id, std::move(session.secret_access_key),
                                 std::move(session.session_token)};
  sigv4::RdsTokenRequest request;
  request.hostname = state.proxy_endpoint;
  request.port = static_cast<std::uint16_t>(proxy->port);
  request.username = spec.database.user;
  request.region = state.region;
  WG_ASSIGN_OR_RETURN(auto token, sigv4::generate_rds_token(request, credentials,
                                                            std::chrono::system_clock::now()));
  WriterLogin login;
  login.conninfo =
      "host=" + pgclient::quote_conninfo_value(state.proxy_endpoint) +
      " port=" + std::to_string(proxy->port) +
      " dbname=" + pgclient::quote_conninfo_value(spec.database.name) +
      " user=" + pgclient::quote_conninfo_value(spec.database.user) +
      " sslmode=verify-full sslrootcert=" + pgclient::quote_conninfo_value(state.ca_file);
  login.password = SecretString(std::move(token));
  login.netns = state.mode == "netns" ? state.stack_id + "-lambda" : std::string();
  return login;
}

Result<std::vector<std::string>> in_component(const StackState& state, const std::string& component,
                                              std::vector<std::string> argv) {
  if (component != "lambda" && component != "proxy" && component != "aurora") {
    return Error::invalid_argument("'" + component +
                                   "' is not a component; use lambda | proxy | aurora");
  }
  if (state.mode != "netns") return argv;
  return netns_argv(state.stack_id + "-" + component, std::move(argv));
}

}  // namespace writegate::stack
