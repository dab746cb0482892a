#include "localpg/cluster.h"

#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/log_files.h"
#include "pgclient/pgclient.h"
#include "pki/pki.h"

namespace writegate::localpg {
namespace fs = std::filesystem;
namespace {

std::string random_password() {
  unsigned char bytes[18];
  RAND_bytes(bytes, sizeof bytes);
  static const char kAlphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::string out;
  for (unsigned char b : bytes)
    out += kAlphabet[b % (sizeof kAlphabet - 1)];
  return out;
}

}  // namespace

Result<std::string> server_bin_dir() {
  if (auto pg_config = find_program("pg_config", {"/usr/lib/postgresql/15/bin"})) {
    auto out = run_process({*pg_config, "--bindir"});
    if (out && out->exit_code == 0) {
      std::string dir = out->output;
      while (!dir.empty() && (dir.back() == '\n' || dir.back() == '\r'))
        dir.pop_back();
      if (fs::exists(dir + "/initdb")) return dir;
    }
  }
  for (const char* dir : {"/usr/lib/postgresql/15/bin", "/usr/local/pgsql/bin"}) {
    if (fs::exists(std::string(dir) + "/initdb")) return std::string(dir);
  }
  return Error::not_found(
      "PostgreSQL server programs not found (initdb); install postgresql-15 (scripts/setup)");
}

Result<std::unique_ptr<Cluster>> Cluster::start(const ClusterOptions& options) {
  std::unique_ptr<Cluster> cluster(new Cluster());
  WG_ASSIGN_OR_RETURN(cluster->bin_dir_, server_bin_dir());
  WG_ASSIGN_OR_RETURN(cluster->run_as_, unprivileged_account_if_root());
  cluster->superuser_ = options.superuser;
  cluster->host_ = options.listen_address;
  cluster->password_ = random_password();

  std::string parent = options.parent_dir;
  if (parent.empty()) parent = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  std::string templ = parent + "/writegate-pg-XXXXXX";
  if (!::mkdtemp(templ.data())) {
    return Error::io("cannot make a temporary folder in " + parent + ": " + std::strerror(errno));
  }
  cluster->dir_ = templ;
  const std::string& dir = cluster->dir_;
  ::chmod(dir.c_str(), 0711);
  WG_RETURN_IF_ERROR(chown_to(dir, cluster->run_as_));

  // Certificates: a CA of this cluster's own, and a server certificate for its names.
  WG_ASSIGN_OR_RETURN(auto ca, pki::CertificateAuthority::create("writegate test CA"));
  std::vector<std::string> names = {"localhost"};
  names.insert(names.end(), options.extra_dns_names.begin(), options.extra_dns_names.end());
  WG_ASSIGN_OR_RETURN(auto server, ca.issue_server(names, {options.listen_address}));
  WG_RETURN_IF_ERROR(pki::write_file(dir + "/ca.crt", ca.certificate().cert_pem, 0644));
  WG_RETURN_IF_ERROR(pki::write_file(dir + "/ca.key", ca.certificate().key_pem, 0600));
  WG_RETURN_IF_ERROR(pki::write_file(dir + "/server.crt", server.cert_pem, 0644));
  WG_RETURN_IF_ERROR(pki::write_file(dir + "/server.key", server.key_pem, 0600));
  WG_RETURN_IF_ERROR(chown_to(dir + "/server.key", cluster->run_as_));
  WG_RETURN_IF_ERROR(chown_to(dir + "/server.crt", cluster->run_as_));

  const std::string pwfile = dir + "/pwfile";
  WG_RETURN_IF_ERROR(pki::write_file(pwfile, cluster->password_ + "\n", 0600));
  WG_RETURN_IF_ERROR(chown_to(pwfile, cluster->run_as_));

  ProcessOptions as_server;
  as_server.run_as = cluster->run_as_;
  as_server.extra_env = {"LC_ALL=C.UTF-8", "TZ=UTC"};
  auto initdb = run_process(
      {cluster->bin_dir_ + "/initdb", "-D", cluster->data_dir(), "-U", options.superuser,
       "--auth=scram-sha-256", "--pwfile=" + pwfile, "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"},
      as_server);
  fs::remove(pwfile);
  if (!initdb) return initdb.error().with_context("initdb");
  if (initdb->exit_code != 0) return Error::internal("initdb failed:\n" + initdb->output);

  {
    std::ofstream hba(cluster->data_dir() + "/pg_hba.conf", std::ios::trunc);
    hba << "# written by writegate localpg\n";
    if (options.hba_lines.empty()) {
      hba << "hostssl all all 127.0.0.1/32 scram-sha-256\n";
      hba << "hostssl all all ::1/128 scram-sha-256\n";
      hba << "host all all all reject\n";
    } else {
      for (const auto& line : options.hba_lines)
        hba << line << "\n";
    }
  }

  for (int attempt = 0; attempt < 5; ++attempt) {
    int port = options.port;
    if (port == 0) {
      WG_ASSIGN_OR_RETURN(port, pick_free_port(options.listen_address));
    }
    {
      std::ofstream conf(cluster->data_dir() + "/postgresql.auto.conf", std::ios::trunc);
      conf << "listen_addresses = '" << options.listen_address << "'\n"
           << "port = " << port << "\n"
           << "unix_socket_directories = '" << dir << "'\n"
           << "ssl = on\n"
           << "ssl_cert_file = '" << dir << "/server.crt'\n"
           << "ssl_key_file = '" << dir << "/server.key'\n"
           << "ssl_min_protocol_version = 'TLSv1.2'\n"
           << "password_encryption = 'scram-sha-256'\n"
           << "max_connections = 300\n"
           << "shared_buffers = '64MB'\n"
           << "fsync = off\n"
           << "synchronous_commit = off\n"
           << "full_page_writes = off\n"
           << "log_line_prefix = '%m [%p] %q%u@%d '\n";
      for (const auto& line : options.extra_config)
        conf << line << "\n";
    }
    WG_RETURN_IF_ERROR(chown_to(cluster->data_dir() + "/postgresql.auto.conf", cluster->run_as_));
    const std::string log = cluster->log_file();
    std::ofstream(log, std::ios::app).close();
    WG_RETURN_IF_ERROR(chown_to(log, cluster->run_as_));
    auto started = run_process({cluster->bin_dir_ + "/pg_ctl", "-D", cluster->data_dir(), "-l", log,
                                "-w", "-t", "60", "start"},
                               as_server);
    if (!started) return started.error().with_context("pg_ctl start");
    if (started->exit_code == 0) {
      cluster->port_ = port;
      cluster->running_ = true;
      return cluster;
    }
    const std::string tail = cluster->log_tail();
    const bool port_taken = tail.find("could not bind") != std::string::npos ||
                            tail.find("Address already in use") != std::string::npos;
    if (!port_taken || options.port != 0) {
      return Error::internal("PostgreSQL did not start:\n" + started->output + tail);
    }
  }
  return Error::unavailable("PostgreSQL did not start: no free port found after 5 tries");
}

std::vector<std::string> rotating_log_config(const std::string& dir, int rotation_kb) {
  return {
      "logging_collector = on",        "log_destination = 'stderr'",
      "log_directory = '" + dir + "'", "log_filename = '" + std::string(kPostgresLogFilename) + "'",
      "log_file_mode = 0600",          "log_rotation_size = " + std::to_string(rotation_kb),
      "log_rotation_age = 0",          "log_truncate_on_rotation = off",
      "log_timezone = 'UTC'"};
}

Cluster::~Cluster() {
  (void)stop();
  const char* keep = std::getenv("WRITEGATE_KEEP_TEST_DB");
  if (!dir_.empty() && !(keep && std::string(keep) == "1")) {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
}

Status Cluster::stop(const std::string& mode) {
  if (!running_) return {};
  ProcessOptions as_server;
  as_server.run_as = run_as_;
  if (mode != "fast" && mode != "immediate" && mode != "smart") {
    return Error::invalid_argument("stop mode must be smart, fast or immediate");
  }
  auto out =
      run_process({bin_dir_ + "/pg_ctl", "-D", data_dir(), "-m", mode, "-w", "stop"}, as_server);
  running_ = false;
  if (!out) return out.error();
  if (out->exit_code != 0) return Error::internal("pg_ctl stop failed: " + out->output);
  return {};
}

Status Cluster::start_again() {
  if (running_) return {};
  ProcessOptions as_server;
  as_server.run_as = run_as_;
  auto out = run_process(
      {bin_dir_ + "/pg_ctl", "-D", data_dir(), "-l", log_file(), "-w", "-t", "60", "start"},
      as_server);
  if (!out) return out.error().with_context("pg_ctl start");
  if (out->exit_code != 0)
    return Error::internal("pg_ctl start failed: " + out->output + log_tail());
  running_ = true;
  return {};
}

Status Cluster::restart(const std::string& mode) {
  WG_RETURN_IF_ERROR(stop(mode));
  return start_again();
}

std::string Cluster::admin_dsn(const std::string& database) const {
  return dsn_for(superuser_, password_, database);
}

std::string Cluster::dsn_for(const std::string& user, const std::string& password,
                             const std::string& database) const {
  std::ostringstream dsn;
  dsn << "host=" << host_ << " port=" << port_
      << " dbname=" << pgclient::quote_conninfo_value(database)
      << " user=" << pgclient::quote_conninfo_value(user);
  if (!password.empty()) dsn << " password=" << pgclient::quote_conninfo_value(password);
  dsn << " sslmode=verify-full sslrootcert=" << pgclient::quote_conninfo_value(ca_file())
      << " connect_timeout=10";
  return dsn.str();
}

Result<ProcessOutput> Cluster::run_tool(const std::vector<std::string>& argv,
                                        const std::vector<std::string>& env) const {
  ProcessOptions options;
  options.extra_env = env;
  return run_process(argv, options);
}

std::string Cluster::log_tail(std::size_t lines) const {
  std::ifstream in(log_file());
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line))
    all.push_back(line);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += all[i] + "\n";
  }
  return out;
}

}  // namespace writegate::localpg
