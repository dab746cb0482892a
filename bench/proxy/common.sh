# shellcheck shell=bash
# The sourcing script sets the variables named below before it calls anything here.
# shellcheck disable=SC2154
# bench/proxy/common.sh — the set-up that bench/proxy/run and bench/proxy/idle-memory share,
# sourced by both: a work folder with clean-up and a watchdog, a CA and a certificate for
# localhost / 127.0.0.1, one PostgreSQL 15, PgBouncer and writegate-proxy with TLS, and RDS IAM
# tokens from the local IAM store.
#
# The sourcing script sets before it calls anything here: repo (the checkout), bin (where the
# writegate programs are), started_at (date +%s), budget (seconds for the watchdog),
# max_connections (PostgreSQL's), pool_size (PgBouncer's).

log() { printf '[%3ds] %s\n' $(($(date +%s) - started_at)) "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# bench_check TOOL...: the tools, PostgreSQL 15's server programs (sets pg_bin) and the writegate
# programs are there.
bench_check() {
  local tool b
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/install-packages installs it)"
  done
  pg_bin=$(pg_config --bindir 2>/dev/null)
  [ -x "$pg_bin/initdb" ] || pg_bin=/usr/lib/postgresql/15/bin
  [ -x "$pg_bin/initdb" ] || die "PostgreSQL 15 server programs not found (package postgresql-15)"
  for b in writegate writegate-proxy; do
    [ -x "$bin/$b" ] || die "$bin/$b not found: build first (scripts/build)"
  done
}

# --- work folder, clean-up, watchdog ---------------------------------------------------------
pids=()      # processes this script started (writegate-proxy, load generators)
pidfiles=()  # daemons that write their own pid (pgbouncer -d)
stop_pids() {  # PID...: TERM, up to 5 s to exit, then KILL
  local p
  for p in "$@"; do kill "$p" 2>/dev/null; done
  for _ in $(seq 50); do
    local alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return
    sleep 0.1
  done
  for p in "$@"; do kill -9 "$p" 2>/dev/null; done
}
cleanup() {
  trap - EXIT INT TERM
  # The watchdog's sleep too: it would hold the script's stdout open (bench/proxy/run | tee).
  if [ -n "${watchdog:-}" ]; then
    pkill -P "$watchdog" 2>/dev/null
    kill "$watchdog" 2>/dev/null
    wait "$watchdog" 2>/dev/null  # no "Terminated" from the shell
  fi
  [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null
  local all=("${pids[@]}") f
  for f in "${pidfiles[@]}"; do [ -s "$f" ] && all+=("$(cat "$f")"); done
  [ ${#all[@]} -gt 0 ] && stop_pids "${all[@]}"
  if [ -f "$work/data/postmaster.pid" ]; then
    timeout 30 "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "work folder kept: $work"; else rm -rf "$work"; fi
}

# bench_workdir: makes $work, sets as_pg (root runs PostgreSQL and PgBouncer as postgres),
# cleans up at exit and stops the run after $budget seconds.
bench_workdir() {
  work=$(mktemp -d /tmp/writegate-bench-XXXXXX)
  chmod 0711 "$work"
  as_pg=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs a postgres user"
    as_pg=(runuser -u postgres --)
  fi
  trap cleanup EXIT
  trap 'log "interrupted"; exit 130' INT
  trap 'log "watchdog: the run took longer than ${budget}s, stopped"; pkill -P $$ 2>/dev/null; exit 124' TERM
  # && : a sleep killed by cleanup() ends the watchdog without firing it.
  ( sleep "$budget" && kill -TERM $$ 2>/dev/null ) &
  watchdog=$!
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
password() { openssl rand -hex 16; }

# --- certificates: a CA of this run, one server certificate for localhost / 127.0.0.1 ---------
bench_certificates() {
  log "certificates"
  (
    cd "$work" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj "/CN=writegate bench CA" -keyout ca.key -out ca.crt 2>/dev/null &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
      -keyout server.key -out server.csr 2>/dev/null &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >san.ext &&
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile san.ext -out server.crt 2>/dev/null
  ) || die "openssl could not make the certificates"
  mkdir -p "$work/pg" && cp "$work/server.crt" "$work/server.key" "$work/pg/"
  chmod 0600 "$work/pg/server.key" "$work/server.key"
  [ ${#as_pg[@]} -gt 0 ] && chown -R postgres: "$work/pg"
}

# --- PostgreSQL 15 ----------------------------------------------------------------------------
# bench_postgres: initdb + start on a free port (sets pg_port); the writer lambda_writer owning
# mydb and one login per PgBouncer (pgb_trust, pgb_scram), each with a password of this run.
bench_postgres() {
  log "PostgreSQL: initdb"
  mkdir -p "$work/data" "$work/run" && chmod 0700 "$work/data"
  [ ${#as_pg[@]} -gt 0 ] && chown postgres: "$work/data" "$work/run"
  timeout 120 "${as_pg[@]}" "$pg_bin/initdb" -D "$work/data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >"$work/initdb.log" 2>&1 ||
    die "initdb: $(tail -5 "$work/initdb.log")"
  pg_port=$(free_port)
  cat >>"$work/data/postgresql.auto.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$work/run'
ssl = on
ssl_cert_file = '$work/pg/server.crt'
ssl_key_file = '$work/pg/server.key'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
max_connections = $max_connections
shared_buffers = '128MB'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  printf 'local all postgres trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhost all all all reject\n' \
    >"$work/data/pg_hba.conf"
  timeout 90 "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/data" -l "$work/data/server.log" -w -t 60 \
    start >/dev/null 2>&1 || die "PostgreSQL did not start: $(tail -5 "$work/data/server.log")"

  writer=lambda_writer
  writer_pw=$(password)
  trust_user=pgb_trust
  trust_pw=$(password)
  scram_user=pgb_scram
  scram_pw=$(password)
  admin -d postgres -c "CREATE ROLE $writer LOGIN PASSWORD '$writer_pw'" \
    -c "CREATE ROLE $trust_user LOGIN PASSWORD '$trust_pw'" \
    -c "CREATE ROLE $scram_user LOGIN PASSWORD '$scram_pw'" \
    -c "CREATE DATABASE mydb OWNER $writer" >/dev/null || die "creating the roles and database"
}
admin() { timeout 60 psql -X -q -v ON_ERROR_STOP=1 -h "$work/run" -p "$pg_port" -U postgres "$@"; }

# --- PgBouncer: one process per auth variant, transaction pooling, TLS on both sides ----------
# start_pgbouncer NAME AUTH_TYPE USER PASSWORD [MAX_CLIENT_CONN] -> sets pgb_port_NAME (dashes
# as underscores)
start_pgbouncer() {
  local name=$1 auth=$2 user=$3 pw=$4 max_client=${5:-4000} port dir="$work/$1"
  port=$(free_port)
  mkdir -p "$dir"
  cp "$work/server.crt" "$work/server.key" "$work/ca.crt" "$dir/"
  printf '"%s" "%s"\n' "$user" "$pw" >"$dir/userlist.txt"
  cat >"$dir/pgbouncer.ini" <<EOF
[databases]
mydb = host=127.0.0.1 port=$pg_port dbname=mydb user=$user
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = $auth
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = $pool_size
max_db_connections = $pool_size
max_client_conn = $max_client
client_tls_sslmode = require
client_tls_cert_file = $dir/server.crt
client_tls_key_file = $dir/server.key
server_tls_sslmode = verify-full
server_tls_ca_file = $dir/ca.crt
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
log_connections = 0
log_disconnections = 0
EOF
  chmod 0600 "$dir/server.key" "$dir/userlist.txt"
  [ ${#as_pg[@]} -gt 0 ] && chown -R postgres: "$dir"
  pidfiles+=("$dir/pgbouncer.pid")
  # runuser goes through PAM, which sets the open file limit back to 1024 (soft): PgBouncer would
  # refuse its 1013th client (accept(): Too many open files). It gets this script's limit.
  # shellcheck disable=SC2016  # $1 and $2 are sh's
  timeout 30 "${as_pg[@]}" sh -c 'ulimit -n "$1" && exec pgbouncer -d "$2"' sh "$(ulimit -n)" \
    "$dir/pgbouncer.ini" >"$dir/stdout.log" 2>&1 ||
    die "pgbouncer $name (open file limit $(ulimit -n)): $(tail -5 "$dir/stdout.log" "$dir/pgbouncer.log" 2>/dev/null)"
  for _ in $(seq 50); do
    if PGPASSWORD="$pw" PGSSLMODE=verify-full PGSSLROOTCERT="$work/ca.crt" PGCONNECT_TIMEOUT=5 \
      timeout 10 psql -X -Atq -h localhost -p "$port" -U "$user" -d mydb -c "SELECT 1" \
      >/dev/null 2>&1; then
      printf -v "pgb_port_${name//-/_}" '%s' "$port"
      return 0
    fi
    sleep 0.2
  done
  die "$name did not start: $(tail -5 "$dir/pgbouncer.log" "$dir/stdout.log" 2>/dev/null)"
}

# --- writegate-proxy: the local IAM store, a secrets file, a fresh token per run --------------
# start_writegate [YAML]: YAML (caps, pool settings) is appended to proxy.yaml. Sets wg_port and
# wg_pid.
start_writegate() {
  local dir="$work/writegate"
  mkdir -p "$dir"
  timeout 60 "$bin/writegate" --spec /dev/null iam seed --state "$dir/state" >"$dir/seed.log" 2>&1 ||
    die "writegate iam seed: $(cat "$dir/seed.log")"
  printf '{"%s": "%s"}\n' "$writer" "$writer_pw" >"$dir/secrets.json"
  chmod 0600 "$dir/secrets.json"
  cat >"$dir/proxy.yaml" <<EOF
listen: 127.0.0.1:0
endpoint_names: [localhost]
tls_cert: $work/server.crt
tls_key: $work/server.key
state_dir: $dir/state
backend: {host: 127.0.0.1, port: $pg_port, ca_file: $work/ca.crt, server_name: localhost}
secrets_file: $dir/secrets.json
log_file: $dir/proxy.log
EOF
  [ -n "${1:-}" ] && printf '%s\n' "$1" >>"$dir/proxy.yaml"
  "$bin/writegate-proxy" --spec /dev/null --config "$dir/proxy.yaml" >"$dir/stdout.log" 2>&1 &
  wg_pid=$!
  pids+=("$wg_pid")
  for _ in $(seq 100); do
    wg_port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/stdout.log" | head -1)
    [ -n "$wg_port" ] && break
    sleep 0.1
  done
  [ -n "${wg_port:-}" ] || die "writegate-proxy did not start: $(tail -5 "$dir/stdout.log")"
}

writegate_token() {  # a session of the Lambda role, then an RDS token for the proxy endpoint
  (
    eval "$(timeout 30 "$bin/writegate" --spec /dev/null credentials \
      --role lambda-aurora-writer-role --state "$work/writegate/state")" &&
      timeout 30 "$bin/writegate" --spec /dev/null token --hostname localhost --port "$wg_port" \
        --username "$writer" --region us-east-1
  )
}
