// A throwaway PostgreSQL 15 server: initdb into a temporary folder, an ephemeral port on
// loopback, TLS on with certificates made here (verify-full works), scram-sha-256 logins, and
// teardown in the destructor even when a test fails. Tests use it; so does `writegate demo`
// and, later, the local stack.
//
//   auto pg = writegate::localpg::Cluster::start({});
//   if (!pg) FAIL() << pg.error().message();
//   auto admin = pgclient::Connection::open((*pg)->admin_dsn());
//   (*pg)->dsn_for("lambda_writer", "", "mydb");   // a user's connection string
//
// When run as root, the server runs as the `postgres` account (PostgreSQL refuses root).
// Set WRITEGATE_KEEP_TEST_DB=1 to keep the folder after teardown for a post-mortem.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/process.h"
#include "common/result.h"

namespace writegate::localpg {

struct ClusterOptions {
  std::string parent_dir;  // where the temporary folder goes; default $TMPDIR or /tmp
  std::string superuser = "postgres";
  std::string listen_address = "127.0.0.1";
  int port = 0;  // 0: an ephemeral port
  // pg_hba.conf lines; default: TLS + scram-sha-256 from loopback, everything else rejected.
  std::vector<std::string> hba_lines;
  std::vector<std::string> extra_config;     // more postgresql.conf lines
  std::vector<std::string> extra_dns_names;  // more names on the server certificate
};

class Cluster {
 public:
  static Result<std::unique_ptr<Cluster>> start(const ClusterOptions& options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Connection strings (TLS, verify-full against the cluster's CA).
  std::string admin_dsn(const std::string& database = "postgres") const;
  std::string dsn_for(const std::string& user, const std::string& password,
                      const std::string& database = "postgres") const;

  const std::string& host() const { return host_; }
  int port() const { return port_; }
  const std::string& superuser() const { return superuser_; }
  const std::string& superuser_password() const { return password_; }
  const std::string& dir() const { return dir_; }
  std::string ca_file() const { return dir_ + "/ca.crt"; }
  std::string ca_key_file() const { return dir_ + "/ca.key"; }
  std::string data_dir() const { return dir_ + "/data"; }
  std::string log_file() const { return dir_ + "/postgres.log"; }

  // Runs a client program (psql, pgbench...) with extra environment entries.
  Result<ProcessOutput> run_tool(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& env = {}) const;
  // The last lines of the server log, for failure messages.
  std::string log_tail(std::size_t lines = 30) const;

  // `mode`: immediate (as a crash would; the default, for teardown), fast (sessions are told
  // 57P01 and closed) or smart.
  Status stop(const std::string& mode = "immediate");
  // Starts a stopped server again on the same port and data.
  Status start_again();
  // stop(mode) then start_again(): a restart, or a failover, as clients see it.
  Status restart(const std::string& mode = "fast");

 private:
  Cluster() = default;
  std::string dir_;
  std::string host_;
  int port_ = 0;
  std::string superuser_;
  std::string password_;
  std::string bin_dir_;
  std::optional<RunAs> run_as_;
  bool running_ = false;
};

// postgresql.conf lines for PostgreSQL's own log rotation, as the log-group reader follows it
// (common/log_files.h, postgres_log_segments): the logging collector writes
// DIR/postgresql-YYYY-MM-DD_HHMMSS.log (times in UTC), each file 0600, and starts a new one when
// one passes `rotation_kb` (at most one a second), never by age. Old files are not removed by
// the server: prune_postgres_logs() caps them.
std::vector<std::string> rotating_log_config(const std::string& dir, int rotation_kb);

// The folder of PostgreSQL's server programs (initdb, pg_ctl, postgres): pg_config --bindir,
// else /usr/lib/postgresql/15/bin.
Result<std::string> server_bin_dir();

}  // namespace writegate::localpg
