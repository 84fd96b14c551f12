#!/usr/bin/env bash
# A whole chat cluster on this machine, to try the cluster mode or test against it: a private
# MariaDB, a one-node etcd, two logic nodes, two brokers and nginx in front of the brokers, all
# on free 127.0.0.1 ports, with every data file, log and PID file under one folder.
#
#   deploy/local-cluster.sh up DIR           start everything, wait until each part is ready,
#                                            write DIR/cluster.env (addresses, PIDs and the
#                                            cluster's secret; mode 600) and print the web address
#   deploy/local-cluster.sh down DIR         stop everything it started (by the PIDs in DIR/run);
#                                            safe to run twice
#   deploy/local-cluster.sh status DIR       which parts are alive (exit 0 only if all are)
#   deploy/local-cluster.sh stop DIR PART    stop one part; PART is one of:
#                                            mariadb etcd logic1 logic2 broker1 broker2 nginx
#   deploy/local-cluster.sh start DIR PART   start one part again on its ports, wait until ready
#
# Environment:
#   CHAT_DLL      chat.dll to run (default: src/Chat.Host built in Release, built here if needed)
#   DOTNET        the dotnet host to run it with (default: dotnet on PATH)
#   STOP_TIMEOUT  seconds a part gets to stop after SIGTERM before SIGKILL (default 30)
#
# Only processes this script started are ever signalled, by the PIDs it wrote down, and only
# while their command line still names DIR (so a PID reused by another program is left alone).
# deploy/README.md explains the parts, the ports and what each setting is for.

set -euo pipefail

readonly PARTS=(mariadb etcd logic1 logic2 broker1 broker2 nginx)
readonly STOP_TIMEOUT=${STOP_TIMEOUT:-30}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO
readonly GRANTS="SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, REFERENCES, CREATE ROUTINE, ALTER ROUTINE, EXECUTE"

# Bounds, in seconds, on each wait (2 cores: four .NET processes starting at once take a while).
readonly MARIADB_START_LIMIT=60
readonly ETCD_START_LIMIT=30
readonly LOGIC_START_LIMIT=120
readonly BROKER_START_LIMIT=90
readonly NGINX_START_LIMIT=15

say() { printf 'local-cluster: %s\n' "$*"; }
fail() {
  printf 'local-cluster: error: %s\n' "$*" >&2
  exit 1
}

# usage [EXIT_CODE]: the comment at the top of this file.
usage() {
  sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

# --- where things are -------------------------------------------------------------------------

# set_dir DIR [create]: the cluster's folder, made absolute (PIDs are recognised by it).
set_dir() {
  [[ -n ${1:-} ]] || usage
  if [[ ${2:-} == create ]]; then
    mkdir -p -- "$1"
  elif [[ ! -d $1 ]]; then
    fail "$1 does not exist: no cluster there"
  fi
  DIR=$(cd -- "$1" && pwd -P)
  # Paths go into nginx's config, command lines and cluster.env unquoted: keep them plain.
  [[ $DIR =~ ^[A-Za-z0-9._/+-]+$ ]] || fail "DIR must be a path of letters, digits and ._/+- only (got '$DIR')"
  RUN=$DIR/run
  LOGS=$DIR/logs
  SECRETS=$DIR/secrets
  CONFIG=$RUN/config.env
}

log_of() { printf '%s/%s.log' "$LOGS" "$1"; }

# --- processes ----------------------------------------------------------------------------------

pid_of() {
  local file=$RUN/$1.pid
  [[ -r $file ]] && cat -- "$file"
}

# Ours: running (not a zombie), and its command line names DIR.
is_ours() {
  local pid=$1 cmdline
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmdline == *"$DIR/"* ]]
}

alive() {
  local pid
  pid=$(pid_of "$1") && is_ours "$pid"
}

# Any process with this PID that has not exited (whoever's it is).
exists() {
  local stat
  stat=$(cat 2>/dev/null "/proc/$1/stat") || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# Starts a program in the background with its output appended to its log; keeps its PID.
launch() {
  local part=$1 log pid deadline
  shift
  log=$(log_of "$part")
  printf '\n=== %s local-cluster: starting %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$part" >>"$log"
  "$@" </dev/null >>"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$RUN/$part.pid"
  # Until the child has become the program, its command line is this script's: wait for that
  # (briefly), so the first "is it still alive?" does not take it for someone else's process.
  deadline=$((SECONDS + 5))
  while ! is_ours "$pid" && exists "$pid" && ((SECONDS < deadline)); do
    sleep 0.05
  done
}

# SIGTERM, then waits up to STOP_TIMEOUT s, then SIGKILL. Quiet about parts that are not running.
stop_parts() {
  local part pid entry waiting=() deadline killed
  for part in "$@"; do
    if pid=$(pid_of "$part") && is_ours "$pid"; then
      say "stopping $part (PID $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      waiting+=("$part:$pid")
    fi
  done

  deadline=$((SECONDS + STOP_TIMEOUT))
  for entry in "${waiting[@]}"; do
    part=${entry%%:*}
    pid=${entry#*:}
    while is_ours "$pid" && ((SECONDS < deadline)); do
      sleep 0.1
    done
    if is_ours "$pid"; then
      say "$part (PID $pid) did not stop within ${STOP_TIMEOUT} s of SIGTERM: SIGKILL (see $(log_of "$part"))"
      kill -KILL "$pid" 2>/dev/null || true
      killed=$((SECONDS + 10))
      while is_ours "$pid" && ((SECONDS < killed)); do
        sleep 0.1
      done
    fi
  done

  # A PID file goes only with its process, so a part that would not die is still found next time.
  for part in "$@"; do
    if alive "$part"; then
      say "$part (PID $(pid_of "$part")) is still running after SIGKILL" >&2
    else
      rm -f -- "$RUN/$part.pid"
    fi
  done
}

# Polls CHECK until it succeeds; fails naming the log if the part dies or LIMIT s pass.
wait_until() {
  local part=$1 limit=$2 what=$3 deadline
  shift 3
  deadline=$((SECONDS + limit))
  until "$@"; do
    if ! alive "$part"; then
      tail -n 20 -- "$(log_of "$part")" >&2 || true
      fail "$part exited before it was $what; read $(log_of "$part")"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 20 -- "$(log_of "$part")" >&2 || true
      fail "$part was not $what within $limit s; read $(log_of "$part")"
    fi
    sleep 0.2
  done
}

http_ok() {
  if command -v curl >/dev/null; then
    curl -fsS -o /dev/null --max-time 3 -- "$1" 2>/dev/null
  else
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' "$1" 2>/dev/null
  fi
}

# N ports free on 127.0.0.1 now, below the ephemeral range (so no outgoing connection takes one
# between now and the moment its program binds it).
free_ports() {
  if command -v python3 >/dev/null; then
    python3 - "$1" <<'PY'
import random, socket, sys
wanted, ports, held = int(sys.argv[1]), [], []
candidates = random.sample(range(20000, 32000), 2000)
for port in candidates:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    held.append(s)
    ports.append(port)
    if len(ports) == wanted:
        break
print(" ".join(map(str, ports)))
PY
  else
    # Without python3: a port nothing answers on is taken as free.
    local ports=() port
    while ((${#ports[@]} < $1)); do
      port=$((20000 + RANDOM % 12000))
      if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && [[ " ${ports[*]} " != *" $port "* ]]; then
        ports+=("$port")
      fi
    done
    echo "${ports[*]}"
  fi
}

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# --- the parts ------------------------------------------------------------------------------------

find_chat() {
  DOTNET=${DOTNET:-dotnet}
  command -v "$DOTNET" >/dev/null || fail "dotnet not found (set DOTNET=/path/to/dotnet)"
  if [[ -n ${CHAT_DLL:-} ]]; then
    [[ -f $CHAT_DLL ]] || fail "CHAT_DLL=$CHAT_DLL does not exist"
    CHAT_DLL=$(cd "$(dirname "$CHAT_DLL")" && pwd -P)/$(basename "$CHAT_DLL")
    return
  fi

  CHAT_DLL=$REPO/src/Chat.Host/bin/Release/net10.0/chat.dll
  if [[ ! -f $CHAT_DLL ]] || [[ -n $(find "$REPO/src" -type f -newer "$CHAT_DLL" -not -path '*/bin/*' -not -path '*/obj/*' -print -quit) ]]; then
    say "building chat (Release) ..."
    "$DOTNET" build -c Release "$REPO/src/Chat.Host" -nologo >"$LOGS/build.log" 2>&1 ||
      fail "the build failed; read $LOGS/build.log"
  fi
}

start_mariadb() {
  local data=$DIR/mariadb/data user_args=()
  if ((EUID == 0)); then user_args=(--user=root); fi
  if [[ ! -d $data/mysql ]]; then
    mkdir -p "$data"
    mariadb-install-db --no-defaults "${user_args[@]}" --datadir="$data" --auth-root-authentication-method=normal \
      --skip-test-db --innodb-log-file-size=16M >>"$(log_of mariadb)" 2>&1 ||
      fail "mariadb-install-db failed; read $(log_of mariadb)"
  fi
  launch mariadb mariadbd --no-defaults "${user_args[@]}" --datadir="$data" --socket="$DIR/mariadb/mariadb.sock" \
    --port="$MARIADB_PORT" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$DIR/mariadb/mariadbd.pid" \
    --log-error="$(log_of mariadb)" --skip-log-bin --innodb-buffer-pool-size=64M --innodb-log-file-size=16M \
    --max-connections=500
}

mariadb_root() { mariadb --no-defaults --socket="$DIR/mariadb/mariadb.sock" -uroot "$@"; }
mariadb_answers() { mariadb_root -e 'SELECT 1' >/dev/null 2>&1; }

# Database `chat` and user `chat` (a new random password each time) with exactly the grants the
# chat needs; the connection string goes into a file only the owner reads.
create_database() {
  local password
  password=$(random_hex 18)
  mariadb_root >>"$(log_of mariadb)" 2>&1 <<SQL || fail "creating database chat failed; read $(log_of mariadb)"
CREATE DATABASE IF NOT EXISTS chat CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'chat'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER 'chat'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT $GRANTS ON chat.* TO 'chat'@'127.0.0.1';
SQL
  (
    umask 077
    printf 'Server=127.0.0.1;Port=%s;User=chat;Password=%s;Database=chat\n' "$MARIADB_PORT" "$password" >"$SECRETS/store-connection"
  )
}

start_etcd() {
  local peer=http://127.0.0.1:$ETCD_PEER_PORT
  # etcd holds only leases that end within seconds: start it empty every time.
  rm -rf -- "$DIR/etcd"
  mkdir -p "$DIR/etcd"
  launch etcd etcd --name default --data-dir "$DIR/etcd/data" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "default=$peer" \
    --log-level warn
}

logic_nodes_in_etcd() {
  command -v etcdctl >/dev/null || return 0 # nothing to ask with: the brokers' /readyz will do
  local count
  count=$(ETCDCTL_API=3 etcdctl --endpoints="$ETCD_URL" get --prefix services/logic/ --keys-only 2>/dev/null | grep -c .) || true
  ((count >= 2))
}

# `chat logic` or `chat broker`, with the settings both share. The secret and the connection
# string are read from files, so they never appear on a command line (ps shows those).
# Four .NET nodes share this machine's cores (two, on the machines it was measured on): a thread
# pool thread that spins waiting for work burns CPU another node needs. With spinning off, the
# cluster delivered 20-30 % more closed-loop messages at less CPU each (docs/benchmarks.md); an
# all-in-one server did not move. On servers that run one node each, leave it unset.
start_chat() {
  local part=$1 role=$2 http_port=$3 grpc_port=$4
  shift 4
  DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=${DOTNET_ThreadPool_UnfairSemaphoreSpinLimit-0} \
    launch "$part" "$DOTNET" "$CHAT_DLL" "$role" \
    --urls="http://127.0.0.1:$http_port" \
    --Chat:Cluster:GrpcUrl="http://127.0.0.1:$grpc_port" \
    --Chat:Cluster:SecretFile="$SECRETS/cluster-secret" \
    --Chat:Cluster:Etcd="$ETCD_URL" \
    --Logging:Console:FormatterName=simple \
    --Logging:Console:FormatterOptions:TimestampFormat="yyyy-MM-ddTHH:mm:ss.fffZ " \
    --Logging:Console:FormatterOptions:UseUtcTimestamp=true \
    "$@"
}

start_logic() {
  local n=$1 http grpc silo
  http=LOGIC${n}_HTTP_PORT grpc=LOGIC${n}_GRPC_PORT silo=LOGIC${n}_SILO_PORT
  start_chat "logic$n" logic "${!http}" "${!grpc}" \
    --Chat:Store:Kind=mariadb \
    --Chat:Store:ConnectionStringFile="$SECRETS/store-connection" \
    --Chat:Silo:Port="${!silo}" \
    --Chat:Silo:ClusterId=chat
}

start_broker() {
  local n=$1 http grpc
  http=BROKER${n}_HTTP_PORT grpc=BROKER${n}_GRPC_PORT
  start_chat "broker$n" broker "${!http}" "${!grpc}" --Chat:Cluster:TrustedProxies=127.0.0.1
}

write_nginx_config() {
  local conf=$DIR/nginx/nginx.conf
  mkdir -p "$DIR/nginx/tmp"
  cat >"$conf" <<NGINX
# Written by deploy/local-cluster.sh for the cluster in $DIR only.
# The production shape (TLS, a real server name) is deploy/nginx.conf.example.
daemon off;
worker_processes 1;
pid $DIR/nginx/nginx.pid;
error_log $LOGS/nginx-error.log warn;

events {
    worker_connections 1024;
}

http {
    # Which broker each request went to (a socket's line is written when it closes).
    log_format chat '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent '
                    'broker=\$upstream_addr broker_status=\$upstream_status time=\$request_time';
    access_log $LOGS/nginx-access.log chat;
    client_body_temp_path $DIR/nginx/tmp/body;
    proxy_temp_path $DIR/nginx/tmp/proxy;
    fastcgi_temp_path $DIR/nginx/tmp/fastcgi;
    uwsgi_temp_path $DIR/nginx/tmp/uwsgi;
    scgi_temp_path $DIR/nginx/tmp/scgi;

    # "Connection: upgrade" for WebSocket handshakes, "close" for everything else.
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      close;
    }

    upstream chat_brokers {
        least_conn;
        # max_fails=0: a broker that refused a connection is tried again on the next request (it
        # may be back already); proxy_next_upstream below skips it while it is down.
        server 127.0.0.1:$BROKER1_HTTP_PORT max_fails=0;
        server 127.0.0.1:$BROKER2_HTTP_PORT max_fails=0;
    }

    server {
        listen 127.0.0.1:$NGINX_PORT;

        # The brokers' metrics are for the operator, not the public.
        location = /metrics {
            return 404;
        }

        location / {
            proxy_pass http://chat_brokers;
            proxy_http_version 1.1;
            proxy_set_header Host \$http_host;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            # nginx is the first hop: it says who the client is, whatever the client claimed.
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Proto \$scheme;
            # A chat socket may stay open for hours; the server pings every 3 s anyway.
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout http_502 http_503 http_504;
            proxy_max_temp_file_size 0;
        }
    }
}
NGINX
}

nginx_args() { printf '%s\n' -p "$DIR/nginx/" -c "$DIR/nginx/nginx.conf" -e "$LOGS/nginx-error.log"; }

start_nginx() {
  local args
  mapfile -t args < <(nginx_args)
  write_nginx_config
  nginx -t -q "${args[@]}" >>"$(log_of nginx)" 2>&1 || fail "nginx refused its configuration; read $(log_of nginx)"
  launch nginx nginx "${args[@]}"
}

# --- starting and waiting, one part at a time -------------------------------------------------------

start_part() {
  case $1 in
    mariadb) start_mariadb ;;
    etcd) start_etcd ;;
    logic1) start_logic 1 ;;
    logic2) start_logic 2 ;;
    broker1) start_broker 1 ;;
    broker2) start_broker 2 ;;
    nginx) start_nginx ;;
    *) fail "no part named '$1' (parts: ${PARTS[*]})" ;;
  esac
}

wait_ready() {
  local url
  case $1 in
    mariadb) wait_until mariadb "$MARIADB_START_LIMIT" "accepting connections" mariadb_answers ;;
    etcd) wait_until etcd "$ETCD_START_LIMIT" "healthy" http_ok "$ETCD_URL/health" ;;
    logic1 | logic2 | broker1 | broker2)
      url=${1^^}_URL
      url=${!url}
      wait_until "$1" "$([[ $1 == logic* ]] && echo "$LOGIC_START_LIMIT" || echo "$BROKER_START_LIMIT")" \
        "ready ($url/readyz)" http_ok "$url/readyz"
      ;;
    nginx) wait_until nginx "$NGINX_START_LIMIT" "proxying to a ready broker ($CHAT_URL/readyz)" http_ok "$CHAT_URL/readyz" ;;
  esac
}

# --- configuration kept between commands -------------------------------------------------------------

# The ports and URLs are read by name (${!name}) further on.
# shellcheck disable=SC2034
pick_ports() {
  local ports
  read -r -a ports <<<"$(free_ports 13)"
  ((${#ports[@]} == 13)) || fail "could not find 13 free ports on 127.0.0.1"
  MARIADB_PORT=${ports[0]}
  ETCD_PORT=${ports[1]}
  ETCD_PEER_PORT=${ports[2]}
  LOGIC1_HTTP_PORT=${ports[3]} LOGIC1_GRPC_PORT=${ports[4]} LOGIC1_SILO_PORT=${ports[5]}
  LOGIC2_HTTP_PORT=${ports[6]} LOGIC2_GRPC_PORT=${ports[7]} LOGIC2_SILO_PORT=${ports[8]}
  BROKER1_HTTP_PORT=${ports[9]} BROKER1_GRPC_PORT=${ports[10]}
  BROKER2_HTTP_PORT=${ports[11]} BROKER2_GRPC_PORT=${ports[12]}
  NGINX_PORT=$(free_ports 1)
  [[ " ${ports[*]} " != *" $NGINX_PORT "* ]] || NGINX_PORT=$(free_ports 1)
}

# shellcheck disable=SC2034
derive_urls() {
  ETCD_URL=http://127.0.0.1:$ETCD_PORT
  CHAT_URL=http://127.0.0.1:$NGINX_PORT
  LOGIC1_URL=http://127.0.0.1:$LOGIC1_HTTP_PORT
  LOGIC2_URL=http://127.0.0.1:$LOGIC2_HTTP_PORT
  BROKER1_URL=http://127.0.0.1:$BROKER1_HTTP_PORT
  BROKER2_URL=http://127.0.0.1:$BROKER2_HTTP_PORT
}

readonly PORT_NAMES=(MARIADB_PORT ETCD_PORT ETCD_PEER_PORT LOGIC1_HTTP_PORT LOGIC1_GRPC_PORT LOGIC1_SILO_PORT
  LOGIC2_HTTP_PORT LOGIC2_GRPC_PORT LOGIC2_SILO_PORT BROKER1_HTTP_PORT BROKER1_GRPC_PORT
  BROKER2_HTTP_PORT BROKER2_GRPC_PORT NGINX_PORT)

save_config() {
  {
    echo "# Ports and programs of the cluster in $DIR (deploy/local-cluster.sh; do not edit)."
    local name
    for name in "${PORT_NAMES[@]}" CHAT_DLL DOTNET; do
      printf '%s=%s\n' "$name" "${!name}"
    done
  } >"$CONFIG"
}

load_config() {
  [[ -r $CONFIG ]] || fail "$DIR holds no cluster (no $CONFIG): run '$0 up $DIR' first"
  local line name value
  while IFS= read -r line; do
    [[ $line == \#* || -z $line ]] && continue
    name=${line%%=*}
    value=${line#*=}
    printf -v "$name" '%s' "$value"
  done <"$CONFIG"
  derive_urls
}

# The cluster's address book for people and scripts: `. DIR/cluster.env`. It holds the cluster's
# secret (INTERNAL_TOKEN), so only its owner may read it. Rewritten whenever a part stops or
# starts, so every PID in it is the part's current one (empty while that part is stopped).
write_cluster_env() {
  local part pid name token=
  local -A pids=()
  for part in "${PARTS[@]}"; do
    pids[$part]=$(pid_of "$part") || pids[$part]=
  done
  if [[ -r $SECRETS/cluster-secret ]]; then token=$(<"$SECRETS/cluster-secret"); fi
  (
    umask 077
    {
      echo "# The local chat cluster in $DIR, written by deploy/local-cluster.sh."
      echo "# Open CHAT_URL (or FRONT_URL, the same) in a browser: nginx, in front of both brokers."
      echo "# Source this file in a shell. It holds the cluster's secret: keep it mode 600."
      echo "CLUSTER_DIR=$DIR"
      echo "CHAT_URL=$CHAT_URL/"
      echo "FRONT_URL=$CHAT_URL/"
      for name in BROKER1_URL BROKER2_URL LOGIC1_URL LOGIC2_URL; do
        printf '%s=%s/\n' "$name" "${!name}"
      done
      echo "ETCD_URL=$ETCD_URL"
      echo "MARIADB_SOCKET=$DIR/mariadb/mariadb.sock"
      for name in "${PORT_NAMES[@]}"; do
        printf '%s=%s\n' "$name" "${!name}"
      done
      # Both nodes of a kind in one line each, in the same order in every list (1, then 2).
      echo "BROKER_URLS=ws://127.0.0.1:$BROKER1_HTTP_PORT/ws,ws://127.0.0.1:$BROKER2_HTTP_PORT/ws"
      echo "LOGIC_GRPC=127.0.0.1:$LOGIC1_GRPC_PORT,127.0.0.1:$LOGIC2_GRPC_PORT"
      echo "LOGIC_HTTP=$LOGIC1_URL,$LOGIC2_URL"
      for part in "${PARTS[@]}"; do
        printf '%s_PID=%s\n' "${part^^}" "${pids[$part]}"
      done
      echo "LOGIC_PIDS=${pids[logic1]},${pids[logic2]}"
      echo "BROKER_PIDS=${pids[broker1]},${pids[broker2]}"
      # The cluster's shared secret, for grpcurl: -H "authorization: Bearer $INTERNAL_TOKEN".
      echo "INTERNAL_TOKEN=$token"
    } >"$DIR/cluster.env.new"
  )
  chmod 600 "$DIR/cluster.env.new" # in case a leftover .new had other bits
  mv -f -- "$DIR/cluster.env.new" "$DIR/cluster.env"
}

# --- commands ---------------------------------------------------------------------------------------------

cmd_up() {
  local part running=()
  for part in "${PARTS[@]}"; do
    if alive "$part"; then running+=("$part"); fi
  done
  ((${#running[@]} == 0)) || fail "parts of a cluster in $DIR are running (${running[*]}): run '$0 down $DIR' first"

  for tool in mariadbd mariadb-install-db mariadb etcd nginx; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install -y mariadb-server etcd-server nginx-light)"
  done
  command -v curl >/dev/null || command -v python3 >/dev/null || fail "curl or python3 is needed to ask the nodes whether they are ready"

  mkdir -p "$RUN" "$LOGS" "$SECRETS"
  chmod 700 "$SECRETS"
  rm -f -- "$DIR/cluster.env"
  find_chat
  pick_ports
  derive_urls
  save_config

  (
    umask 077
    random_hex 32 >"$SECRETS/cluster-secret"
  )

  # A failure from here on stops what was started; the logs stay in DIR/logs.
  trap 'status=$?; if ((status != 0)); then say "start failed: stopping what was started (logs stay in $LOGS)"; stop_parts nginx broker1 broker2 logic1 logic2 etcd mariadb >&2; fi' EXIT
  trap 'exit 130' INT TERM

  say "starting MariaDB and etcd in $DIR ..."
  start_part mariadb
  start_part etcd
  wait_ready mariadb
  create_database
  wait_ready etcd

  say "starting two logic nodes and two brokers ..."
  for part in logic1 logic2 broker1 broker2; do start_part "$part"; done
  for part in logic1 logic2; do wait_ready "$part"; done
  wait_until logic1 "$LOGIC_START_LIMIT" "registered in etcd with logic2" logic_nodes_in_etcd
  for part in broker1 broker2; do wait_ready "$part"; done

  say "starting nginx ..."
  start_part nginx
  wait_ready nginx

  write_cluster_env
  trap - EXIT INT TERM
  say "ready. Logs: $LOGS; addresses and PIDs: $DIR/cluster.env"
  say "open $CHAT_URL/"
}

cmd_down() {
  [[ -d $RUN ]] || {
    say "nothing to stop in $DIR"
    return 0
  }
  # Clients first, the database last.
  stop_parts nginx
  stop_parts broker1 broker2
  stop_parts logic1 logic2
  stop_parts etcd mariadb
  [[ -f $CONFIG ]] && load_config && write_cluster_env
  say "stopped"
}

cmd_status() {
  local part pid state all=0 url
  [[ -r $CONFIG ]] && load_config
  for part in "${PARTS[@]}"; do
    pid=$(pid_of "$part") || pid=-
    if is_ours "$pid"; then
      state=alive
      if [[ $part == logic* || $part == broker* ]]; then
        url=${part^^}_URL
        if http_ok "${!url}/readyz"; then state="alive, ready (${!url}/)"; else state="alive, not ready (${!url}/readyz)"; fi
      elif [[ $part == nginx ]]; then
        state="alive ($CHAT_URL/)"
      fi
    else
      state=stopped
      all=1
    fi
    printf '%-8s %-8s %s\n' "$part" "$pid" "$state"
  done
  return "$all"
}

cmd_stop() {
  [[ " ${PARTS[*]} " == *" ${1:-} "* ]] || fail "no part named '${1:-}' (parts: ${PARTS[*]})"
  load_config
  stop_parts "$1"
  write_cluster_env
}

cmd_start() {
  [[ " ${PARTS[*]} " == *" ${1:-} "* ]] || fail "no part named '${1:-}' (parts: ${PARTS[*]})"
  load_config
  ! alive "$1" || fail "$1 is running already (PID $(pid_of "$1"))"
  say "starting $1 ..."
  start_part "$1"
  wait_ready "$1"
  write_cluster_env
  say "$1 is ready (PID $(pid_of "$1"))"
}

main() {
  local command=${1:-}
  case $command in
    up)
      set_dir "${2:-}" create
      cmd_up
      ;;
    down)
      if [[ -n ${2:-} && ! -d ${2:-} ]]; then
        say "nothing to stop: ${2:-} does not exist"
        return 0
      fi
      set_dir "${2:-}"
      cmd_down
      ;;
    status)
      set_dir "${2:-}"
      cmd_status
      ;;
    stop | start)
      set_dir "${2:-}"
      "cmd_$command" "${3:-}"
      ;;
    -h | --help | help) usage 0 ;;
    *) usage ;;
  esac
}

main "$@"
