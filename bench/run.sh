#!/usr/bin/env bash
# Builds Release, then for each target (the reference relay, the real server) starts a fresh
# process per scenario run, runs the bench against it, stops it by PID, and prints medians and
# ratios to the first target. See docs/benchmarks.md.
#
#   bench/run.sh [--targets "relay server"] [--runs 3] [--quick] [--only "chat-closed idle"] [--sources N] [--shards N] [--out DIR]
#   bench/run.sh --targets cluster --only many --runs 1 [--many-seconds 300] [--many-idle 46000]
#   bench/run.sh --report DIR [--targets …] [--only …]   (the table again, from the JSON files in DIR)
#   bench/run.sh --fuzz 1000000   (the hostile-bytes fuzz test with that many frames; nothing else runs)
#   bench/run.sh --slowlink 300   (the slow-link fault test, 100 ms ± 50 ms and 2 % loss between a broker and
#                                  logic, for that many seconds; needs root, iproute2, nftables; nothing else runs)
#
# targets: relay | server (SQLite store) | server-limits (the same with the per-address limits
#   and the bot challenge on, as shipped; the other server targets and cluster run with them off) |
#   server-memory (--Chat:Store:Kind=memory) | server-1shard (the SQLite server with one matchmaker shard,
#   Chat:Matching:Shards=1, to set beside server's shards in one run: `--targets "server-1shard server"`) |
#   server-kestrel-upgrade (the SQLite server with Chat:Broker:OwnHandshake=false: Kestrel's HTTP/1.1 upgrades
#   every socket, as before the broker read handshakes itself; `--targets "server-kestrel-upgrade server" --only idle`) |
#   server-mariadb (the MariaDB store, on a private mariadbd started for each run by
#   `deploy/local-cluster.sh up DIR mariadb` in the run's temp folder: a free port, deploy/mariadb's
#   database and settings, MariaDB's own durable defaults otherwise), each of this
#   working tree, or of a git revision with @REV (server@5b3e8d4, server-memory@main, relay@HEAD~3):
#   that revision is checked out with `git worktree add --detach` into a temporary folder, its
#   src/Chat.Host (or bench/Chat.Relay) built in Release and run with the same flags; the worktree
#   is removed at the end. The bench itself is always this working tree's.
#   cluster (2 brokers + 2 logic nodes + MariaDB + etcd, started with deploy/local-cluster.sh, no
#   nginx: the bench connects to both brokers in turn; CPU and memory are summed over the four
#   nodes, mariadbd's beside them).
# sources: the loopback addresses the bench's visitors come from (127.0.0.2 on, into 127.0.x.y),
#   for every target of the run: 4 by default, 4096 when server-limits is among the targets (so
#   that every visitor is a household of its own to the limits, and the targets compared alike).
# scenarios: chat-closed chat-open idle match-storm resume, and for cluster targets only:
#   failover (2,000 msg/s offered, one logic node killed with SIGKILL 15 s after the bench starts, some 8 s into the measured run; refused sends are
#   sent again with their requestId) and soak (the same load for 10 minutes, no kill; counts the
#   logic nodes the cluster declared dead anyway). They are not in the default list.
#   crowd (not in the default list either: 4,000 visitors in pairs at a human pace, a message every 5 s
#   each on average, typing before each, pushes confirmed and read as the web client does, the heartbeat
#   on, 30 s measured after 10 s of warm-up; --quick: 200 visitors, 20 s after 5 s) comes from at
#   least 200 source addresses whatever --sources says.
#   many (cluster only, not in the default list: issue 23's "many visitors on one machine": the cluster
#   with three brokers, 46,000 idle visitors with accounts held by three bench processes, one per broker
#   (each process may open 20,000 files), and on top of them the crowd's 4,000 visitors at a human pace
#   for --many-seconds (300) across the three; it reports the crowd's figures with the idle ones around
#   it, and the idle sockets still open at the end; --many-idle N for another number of idle visitors).
#   match-storm-zipf (not in the default list: match-storm's visitors each asking for 3 interests drawn
#   from 500 tags with Zipf weights, s = 1, the server's fallback delay 0.5 s; it reports the sessions
#   whose two share no interest, paired by the fallback, apart).
# --storm-warmup N: both storms start with an unmeasured storm of N visitors (default 0: the server's
#   first storm, which also measures the runtime compiling the matching path; a service that has run a
#   while is nearer the warm figure).
# --shards N: the server targets' matchmaker shards (Chat:Matching:Shards; default 4), to compare one
#   shard with several (every node of the cluster target gets the same).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
targets="relay server"
runs=3
quick=0
only="chat-closed chat-open idle match-storm resume"
out=""
sources=""
shards=""
storm_warmup=0
many_seconds=300
many_idle=46000
report_only=0
fuzz=0
slowlink=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --fuzz) fuzz="${2:-1000000}"; shift 2 ;;
    --slowlink) slowlink="${2:-300}"; shift 2 ;;
    --targets) targets="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --only) only="$2"; shift 2 ;;
    --sources) sources="$2"; shift 2 ;;
    --shards) shards="$2"; shift 2 ;;
    --storm-warmup) storm_warmup="$2"; shift 2 ;;
    --many-seconds) many_seconds="$2"; shift 2 ;;
    --many-idle) many_idle="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --report) out="$2"; report_only=1; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

if [[ $fuzz != 0 ]]; then
  # The hostile-bytes fuzz test with a long budget: FUZZ frames (or 20 minutes) against an
  # in-process server, which is how it can measure that server's heap (docs/benchmarks.md, "Fuzz").
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  CHAT_FUZZ_FRAMES="$fuzz" CHAT_FUZZ_SECONDS=1200 exec dotnet test "$root/tests/Chat.Tests" -c Release \
    --filter "FullyQualifiedName~WebSocketEndpointFuzzTests" --logger "console;verbosity=detailed"
fi

if [[ $slowlink != 0 ]]; then
  # The slow and lossy link between a broker and the logic nodes held for SLOWLINK seconds instead of CI's 60, on the
  # fault fixture's network namespaces (docs/benchmarks.md, "slowlink"); it prints acknowledged, lost, doubled, p50/p99.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  CHAT_SLOWLINK_SECONDS="$slowlink" exec dotnet test "$root/tests/Chat.Tests" -c Release \
    --filter "FullyQualifiedName~SlowLinkTests" --logger "console;verbosity=detailed"
fi

out="${out:-$(mktemp -d /tmp/chat-bench.XXXXXX)}"
if [[ -z $sources ]]; then
  sources=4
  [[ " $targets " == *" server-limits"[@\ ]* ]] && sources=4096
fi
# The per-address limits and the challenge off: the bench measures capacity from a few addresses.
limits_off=(--Chat:Limits:AccountsPerMinute=0 --Chat:Limits:SocketsPerAddress=0 --Chat:Limits:WaitingPerAddress=0
  --Chat:Limits:MatchesPerMinute=0 --Chat:Limits:Challenge:AfterAccounts=0 --Chat:Limits:Challenge:AfterMatches=0)
mkdir -p "$out"
# Each socket is a file descriptor: take the whole hard limit (20000 on the shared dev machine).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fds="$(ulimit -n)"

if [[ $quick == 1 ]]; then
  # Enough messages that the lean relay (60,000-100,000 msg/s here) is still sending after the warm-up.
  closed_args=(--pairs 20 --messages 2000 --warmup 0.5)
  open_args=(--pairs 50 --rate 10 --duration 5 --warmup 1)
  idle_connections=1000
  storm_visitors=1000
  failover_seconds=20
  soak_seconds=60
  crowd_args=(--visitors 200 --interval 5 --duration 20 --warmup 5 --drain 15)
else
  # 3000 each: the relay delivers 200,000 messages in 2-3 s, too short a window on a busy machine.
  # Warm-up 3 s: a cluster's four .NET processes take longer than one to tier up their JIT; the
  # first closed loop on a fresh cluster ran 20-35 % below the second with 1 s (docs/benchmarks.md).
  closed_args=(--pairs 100 --messages 3000 --warmup 3)
  # A server that falls behind needs time to deliver what it accepted before anything is called lost.
  # Warm-up 10 s: with --warmup 0, the relay and the server alike (and the bench) show stalls of
  # 0.3-1 s for their first 6-9 s on the 2-core machine while the JIT tiers up (docs/benchmarks.md).
  open_args=(--pairs 500 --rate 10 --duration 20 --warmup 10 --drain 30)
  # Server and bench each need one descriptor per socket, plus a few hundred of their own.
  idle_connections=$(( fds > 20500 ? 20000 : fds - 600 ))
  storm_visitors=10000
  failover_seconds=40
  soak_seconds=600
  # 4,000 visitors: the operator's sizing question of issue 23 (800 msg/s at 5 s each). Warm-up 10 s
  # as for chat-open; 30 s measured is ten heartbeat intervals.
  crowd_args=(--visitors 4000 --interval 5 --duration 30 --warmup 10 --drain 30)
fi

# A target's name as part of a file name (a revision may contain '/').
slug() { echo "${1//\//_}"; }

report() {
python3 - "$out" "$targets" "$only" <<'EOF'
import json, glob, os, statistics, sys
out, targets, scenarios = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
width = max([14] + [len(t) for t in targets])
def both(r):
    # The server's CPU per message plus its database process's, if it has one (server-mariadb).
    server = (r.get("server") or {}).get("cpuMicrosPerMessage")
    store = (r.get("store") or {}).get("cpuMicrosPerMessage")
    return None if server is None else server + (store or 0)
figures = {
    "chat-closed": [("msg/s delivered", lambda r: r["messagesPerSecond"]),
                    ("server CPU µs/msg", lambda r: (r.get("server") or {}).get("cpuMicrosPerMessage")),
                    ("mariadbd CPU µs/msg", lambda r: (r.get("store") or {}).get("cpuMicrosPerMessage")),
                    ("server+db CPU µs/msg", both),
                    ("end-to-end p99 ms", lambda r: r["endToEnd"]["p99"]),
                    ("bench CPU µs/msg", lambda r: r["benchCpuMicrosPerMessage"]),
                    ("clean", lambda r: int(r["lost"] == r["duplicated"] == r["outOfOrder"] == r["misrouted"] == 0))],
    "chat-open": [("end-to-end p50 ms", lambda r: r["endToEnd"]["p50"]),
                  ("end-to-end p99 ms", lambda r: r["endToEnd"]["p99"]),
                  ("ack p99 ms", lambda r: r["ack"]["p99"]),
                  ("server CPU µs/msg", lambda r: (r.get("server") or {}).get("cpuMicrosPerMessage")),
                  ("mariadbd CPU µs/msg", lambda r: (r.get("store") or {}).get("cpuMicrosPerMessage")),
                  ("server+db CPU µs/msg", both),
                  ("clean", lambda r: int(r["lost"] == r["duplicated"] == r["outOfOrder"] == r["misrouted"] == 0))],
    "idle": [("connections", lambda r: r["connections"]),
             ("open at end", lambda r: r["openAtEnd"]),
             ("server KiB/connection", lambda r: round(r["serverBytesPerConnection"] / 1024, 2))],
    "match-storm": [("pair-all s", lambda r: r["pairAllSeconds"]),
                    ("arrive s", lambda r: r["arriveSeconds"]),
                    ("clean", lambda r: int(r["unpaired"] == r["pairedMoreThanOnce"] == r["partnersDisagree"] == 0))],
    "match-storm-zipf": [("pair-all s", lambda r: r["pairAllSeconds"]),
                         ("sessions by fallback", lambda r: r.get("sessionsByFallback")),
                         ("clean", lambda r: int(r["unpaired"] == r["pairedMoreThanOnce"] == r["partnersDisagree"] == 0))],
    "failover": [("lost", lambda r: r["lost"]),
                 ("sends sent again", lambda r: r["retried"]),
                 ("longest silence s", lambda r: r["longestSilenceSeconds"]),
                 ("end-to-end max ms", lambda r: r["endToEnd"]["max"]),
                 ("declared dead", lambda r: r.get("declaredDead")),
                 ("clean", lambda r: int(r["lost"] == r["duplicated"] == r["outOfOrder"] == r["misrouted"] == 0))],
    "soak": [("lost", lambda r: r["lost"]),
             ("longest silence s", lambda r: r["longestSilenceSeconds"]),
             ("end-to-end p99 ms", lambda r: r["endToEnd"]["p99"]),
             ("server+db CPU µs/msg", both),
             ("false verdicts", lambda r: r.get("declaredDead"))],
    "crowd": [("visitors", lambda r: r["chat"]["visitors"]),
              ("msg/s delivered", lambda r: r["figures"]["messagesPerSecond"]),
              ("CPU % of a core", lambda r: 100 * r["figures"]["coreShare"]),
              ("CPU %/1000 visitors", lambda r: r["figures"]["percentOfCorePer1000Visitors"]),
              ("CPU µs/chat msg", lambda r: r["figures"]["cpuMicrosPerMessage"]),
              ("RSS KiB/visitor", lambda r: r["figures"]["kiBPerVisitor"]),
              ("visitors per core", lambda r: r["figures"]["visitorsPerCore"]),
              ("end-to-end p50 ms", lambda r: r["chat"]["endToEnd"]["p50"]),
              ("end-to-end p99 ms", lambda r: r["chat"]["endToEnd"]["p99"]),
              ("clean", lambda r: int(r["clean"] and r["chat"]["settled"]))],
    "resume": [("sent while away", lambda r: r["sentWhileAway"]),
               ("replayed", lambda r: r["replayed"]),
               ("lost", lambda r: r["lost"])],
}
# many: the crowd's figures with 46,000 idle visitors around it (the idle processes' files have no "chat" and are skipped).
figures["many"] = [("lost", lambda r: r["chat"]["lost"])] + figures["crowd"]
print(f"\nmedians over runs ({out})")
ratio_width = max([22] + [len(t) + len(targets[0]) + 1 for t in targets[1:]])
print(f"{'scenario':<12} {'figure':<22} " + " ".join(f"{t:>{width}}" for t in targets) + "".join(f" {t + '/' + targets[0]:>{ratio_width}}" for t in targets[1:]))
for s in scenarios:
    for name, get in figures[s]:
        cells = []
        for t in targets:
            values = []
            name_part = glob.escape(t.replace("/", "_"))
            for f in sorted(glob.glob(os.path.join(glob.escape(out), f"{name_part}.{s}.*.json"))):
                try:
                    v = get(json.load(open(f)))
                except (KeyError, ValueError, TypeError):
                    v = None
                if v is not None:
                    values.append(v)
            cells.append(statistics.median(values) if values else None)
        row = f"{s:<12} {name:<22} " + " ".join(f"{'-' if c is None else round(c, 3):>{width}}" for c in cells)
        for c in cells[1:]:
            row += f" {'-' if c is None or not cells[0] else round(c / cells[0], 2):>{ratio_width}}"
        print(row)
EOF
}

if [[ $report_only == 1 ]]; then
  report
  exit 0
fi

server_pid=""
server_pids=""
cluster=""
url=""
db_pid=""
db_connection=""
store=""
worktrees=()
stop_target() {
  if [[ -n $cluster ]]; then
    "$root/deploy/local-cluster.sh" down "$cluster" >>"$out/cluster.log" 2>&1 || true
    rm -rf "$cluster"
    cluster=""
    server_pid=""
    db_pid=""
  fi
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
  if [[ -n $store ]]; then
    # The database, if server-mariadb started one: stopped by the PID local-cluster.sh wrote down.
    [[ -d $store/db ]] && "$root/deploy/local-cluster.sh" down "$store/db" >>"$out/mariadbd.log" 2>&1 || true
    rm -rf "$store"
  fi
  db_pid=""
  store=""
}
cleanup() {
  stop_target
  for w in "${worktrees[@]}"; do
    git -C "$root" worktree remove --force "$w" >/dev/null 2>&1 || true
  done
  worktrees=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Builds a project in Release and prints the path of the assembly it made.
build_dll() { # project
  if [[ ! -f $1 ]]; then
    echo "no $1 to build" >&2
    return 1
  fi
  if ! dotnet build -c Release "$1" -v q -nologo >"$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    echo "the build of $1 failed" >&2
    return 1
  fi
  dotnet msbuild "$1" -getProperty:TargetPath -p:Configuration=Release
}

declare -A dll=() rev_tree=()
echo "building Release…" >&2
bench_dll="$(build_dll "$root/bench/Chat.Bench/Chat.Bench.csproj")"
# deploy/local-cluster.sh's program (it starts the cluster and server-mariadb's database), this tree's.
CHAT_CLUSTER_DLL="$(build_dll "$root/deploy/LocalCluster/Chat.LocalCluster.csproj")"
export CHAT_CLUSTER_DLL
for target in $targets; do
  kind="${target%%@*}"
  case "$kind" in
    relay) project=bench/Chat.Relay/Chat.Relay.csproj ;;
    server | server-limits | server-memory | server-mariadb | server-1shard | server-kestrel-upgrade | cluster) project=src/Chat.Host/Chat.Host.csproj ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
  esac
  [[ -n ${dll[$target]:-} ]] && continue
  tree="$root"
  if [[ $target == *@* ]]; then
    rev="${target#*@}"
    if ! commit="$(git -C "$root" rev-parse --verify --quiet "$rev^{commit}")"; then
      echo "unknown revision $rev (target $target)" >&2; exit 2
    fi
    if [[ -z ${rev_tree[$commit]:-} ]]; then
      rev_tree[$commit]="$(mktemp -d /tmp/chat-bench-rev.XXXXXX)"
      echo "checking out $rev ($commit) into ${rev_tree[$commit]}…" >&2
      worktrees+=("${rev_tree[$commit]}")
      git -C "$root" worktree add --detach "${rev_tree[$commit]}" "$commit" >/dev/null
    fi
    tree="${rev_tree[$commit]}"
  fi
  echo "building $project of $target…" >&2
  dll[$target]="$(build_dll "$tree/$project")"
done
bench=(dotnet "$bench_dll")

free_port() {
  local port=${1:-18471}
  while ss -ltn "sport = :$port" | grep -q LISTEN; do port=$((port + 1)); done
  echo "$port"
}

# A private mariadbd in $store/db (deploy/local-cluster.sh up DIR mariadb: database `chat`, its
# user with deploy/mariadb's grants, a free port) with MariaDB's own sizes (buffer pool 128M, redo
# log 96M, as this bench has always measured it), not the local cluster's small ones. Sets db_pid
# and db_connection.
start_mariadb() {
  if ! MARIADB_OPTIONS="--innodb-buffer-pool-size=128M --innodb-log-file-size=96M" \
      "$root/deploy/local-cluster.sh" up "$store/db" mariadb >>"$out/mariadbd.log" 2>&1; then
    tail -n 30 "$out/mariadbd.log" >&2
    echo "server-mariadb: MariaDB did not start; see $out/mariadbd.log" >&2
    exit 1
  fi
  db_pid="$(. "$store/db/cluster.env" && echo "$MARIADB_PID")"
  db_connection="$(<"$store/db/secrets/store-connection")"
}

start_target() { # target port
  local target="$1" port="$2" kind="${1%%@*}" log
  log="$out/$(slug "$target").log"
  url="ws://127.0.0.1:$port/ws"
  server_pids=""
  case "$kind" in
    cluster)
      # The whole cluster, as deploy/local-cluster.sh starts it for people; its PIDs and addresses
      # come back in cluster.env. The rate limit is lifted through the environment the nodes inherit.
      cluster="$(mktemp -d /tmp/chat-bench-cluster.XXXXXX)"
      local fallback=00:00:05
      [[ $scenario == match-storm-zipf ]] && fallback=00:00:00.500
      local brokers=2
      [[ $scenario == many ]] && brokers=3
      if ! BROKERS=$brokers Chat__Broker__RateLimit__PerSecond=1000000 Chat__Broker__RateLimit__Burst=1000000 CHAT_DLL="${dll[$target]}" \
          Chat__Matching__FallbackDelay="$fallback" Chat__Matching__Shards="${shards:-4}" \
          Chat__Limits__AccountsPerMinute=0 Chat__Limits__SocketsPerAddress=0 Chat__Limits__WaitingPerAddress=0 \
          Chat__Limits__MatchesPerMinute=0 Chat__Limits__Challenge__AfterAccounts=0 Chat__Limits__Challenge__AfterMatches=0 \
          "$root/deploy/local-cluster.sh" up "$cluster" >"$log" 2>&1; then
        echo "$target did not start; see $log" >&2
        cat "$log" >&2
        exit 1
      fi
      # shellcheck disable=SC1091
      url="$(. "$cluster/cluster.env" && echo "$BROKER_URLS")"
      server_pids="$(. "$cluster/cluster.env" && echo "$LOGIC_PIDS,$BROKER_PIDS")"
      db_pid="$(. "$cluster/cluster.env" && echo "$MARIADB_PID")"
      server_pid=""
      return 0
      ;;
    relay)
      dotnet "${dll[$target]}" "$port" >"$log" 2>&1 &
      ;;
    server | server-limits | server-memory | server-mariadb | server-1shard | server-kestrel-upgrade)
      store="$(mktemp -d /tmp/chat-bench-db.XXXXXX)"
      local store_kind=() limits=("${limits_off[@]}") flags=("${scenario_flags[@]}")
      [[ $kind == server-kestrel-upgrade ]] && flags+=("--Chat:Broker:OwnHandshake=false")
      if [[ $kind == server-1shard ]]; then
        flags+=("--Chat:Matching:Shards=1")
      elif [[ -n $shards ]]; then
        flags+=("--Chat:Matching:Shards=$shards")
      fi
      db_connection=""
      [[ $kind == server-memory ]] && store_kind=(--Chat:Store:Kind=memory)
      [[ $kind == server-limits ]] && limits=() # as shipped
      if [[ $kind == server-mariadb ]]; then
        start_mariadb
        store_kind=(--Chat:Store:Kind=mariadb)
      fi
      # The rate limit guards against abuse; the bench measures capacity, so it is lifted. The
      # connection string goes by environment, not on the command line, where ps would show it.
      Chat__Store__ConnectionString="$db_connection" dotnet "${dll[$target]}" --urls="http://127.0.0.1:$port" \
        --Chat:Store:Path="$store/chat.db" "${store_kind[@]}" \
        --Chat:Broker:RateLimit:PerSecond=1000000 --Chat:Broker:RateLimit:Burst=1000000 "${limits[@]}" "${flags[@]}" \
        --Logging:LogLevel:Default=Warning >"$log" 2>&1 &
      ;;
  esac
  server_pid=$!
  server_pids="$server_pid"
  # Up to 20 s: a server that starts more than Kestrel (a silo, a migration) listens later.
  for _ in $(seq 1 200); do
    if ss -ltn "sport = :$port" | grep -q LISTEN; then return 0; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "$target did not start; see $log" >&2
  cat "$log" >&2
  exit 1
}

# After a cluster run: which logic nodes the Orleans cluster declared dead (membership status 6)
# and which of them are gone; for a run with no kill, each is a false verdict.
verdicts() { # target scenario run
  local dead alive=0 pid logic_pids
  dead="$(. "$cluster/cluster.env" && mariadb --no-defaults -S "$MARIADB_SOCKET" -uroot -N -e \
    "SELECT COUNT(*) FROM chat.OrleansMembershipTable WHERE Status = 6" 2>/dev/null || echo "?")"
  logic_pids="$(. "$cluster/cluster.env" && echo "$LOGIC_PIDS")"
  for pid in ${logic_pids//,/ }; do
    if kill -0 "$pid" 2>/dev/null; then alive=$((alive + 1)); fi
  done
  echo "== $1 $2 (run $3): logic nodes declared dead: $dead; still running: $alive of 2" | tee -a "$out/summary.txt" >&2
  [[ $dead =~ ^[0-9]+$ ]] || dead=null
  echo "{\"declaredDead\": $dead, \"logicRunning\": $alive}" >"$out/$(slug "$1").$2.$3.verdicts.json"
}

run_scenario() { # target scenario run
  local target="$1" scenario="$2" run="$3" port args killer=""
  if [[ $scenario == failover || $scenario == soak || $scenario == many ]] && [[ ${target%%@*} != cluster ]]; then
    return 0 # a single process has no node to lose
  fi
  port="$(free_port)"
  scenario_flags=()
  [[ $scenario == match-storm-zipf ]] && scenario_flags=(--Chat:Matching:FallbackDelay=00:00:00.500)
  start_target "$target" "$port"
  case "$scenario" in
    chat-closed) args=(chat "${closed_args[@]}") ;;
    chat-open) args=(chat "${open_args[@]}") ;;
    idle) args=(idle --connections "$idle_connections" --hold 10) ;;
    match-storm) args=(match-storm --visitors "$storm_visitors" --warmup "$storm_warmup") ;;
    match-storm-zipf) args=(match-storm --visitors "$storm_visitors" --interests 3 --tags 500 --warmup "$storm_warmup") ;;
    resume) args=(resume --pairs 20 --drops 10 --rate 5) ;;
    crowd) args=(crowd "${crowd_args[@]}") ;;
    many)
      run_many "$target" "$run"
      stop_target
      return 0
      ;;
    failover | soak)
      # 100 pairs at 10 msg/s per visitor: 2,000 msg/s offered. Refused sends go again, as the web
      # client's do; a drain long enough for every chat to catch up after the failover.
      local seconds=$failover_seconds
      [[ $scenario == soak ]] && seconds=$soak_seconds
      args=(chat --pairs 100 --rate 10 --duration "$seconds" --warmup 5 --drain 30 --retry-refused)
      if [[ $scenario == failover ]]; then
        local victim="${server_pids%%,*}" # the first logic node
        (sleep 15 && kill -9 "$victim" && echo "== killed logic node $victim (SIGKILL), about 8 s into the measured run" >&2) &
        killer=$!
      fi
      ;;
  esac
  echo "== $target $scenario (run $run): ${args[*]}" >&2
  local store_pid=() from=$sources
  [[ -n $db_pid ]] && store_pid=(--store-pid "$db_pid")
  # A crowd is many households: at least 200 addresses (the limits are off but for server-limits).
  [[ $scenario == crowd ]] && (( from < 200 )) && from=200
  DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 "${bench[@]}" "${args[@]}" --sources "$from" --url "$url" \
    --server-pid "$server_pids" "${store_pid[@]}" --json "$out/$(slug "$target").$scenario.$run.json" | tee -a "$out/summary.txt" >&2 || true
  if [[ -n $killer ]]; then wait "$killer" || true; fi
  if [[ -n $cluster ]]; then verdicts "$target" "$scenario" "$run"; fi
  stop_target
}

# Issue 23's many visitors on one machine: 46,000 idle visitors (--many-idle) in three bench processes (one per broker,
# 15,333 each, within a process's 20,000 files), then the crowd's 4,000 at a human pace over all three
# brokers for many_seconds; the idle processes hold until the crowd is done (a file the script writes then).
# Waits on the ready files the idle processes write once every visitor of theirs has an account.
idle_summary() { # idle-result.json
  python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("%d of %d open at the end, setup %.1f s, held %.0f s" % (r["openAtEnd"], r["connections"], r["setupSeconds"], r["heldSeconds"]))
EOF
}

run_many() { # target run
  local target="$1" run="$2" urls i name idle_pids=() ready=() each hold done_file
  IFS=, read -ra urls <<<"$url"
  each=$(( many_idle / ${#urls[@]} ))
  hold=$(( many_seconds + 600 ))
  done_file="$out/$(slug "$target").many.$run.crowd-done"
  for i in "${!urls[@]}"; do
    name="$out/$(slug "$target").many.$run.idle$((i + 1))"
    ready[i]="$name.ready"
    "${bench[@]}" idle --connections "$each" --hold "$hold" --sources 64 --url "${urls[i]}" --ready-file "${ready[i]}" \
      --until-file "$done_file" --server-pid "$server_pids" --json "$name.json" >"$name.log" 2>&1 &
    idle_pids+=($!)
  done
  echo "== $target many (run $run): ${#urls[@]} x $each idle visitors arriving" >&2
  for i in "${!urls[@]}"; do
    while [[ ! -s ${ready[i]} ]]; do
      if ! kill -0 "${idle_pids[i]}" 2>/dev/null; then
        echo "the idle bench for ${urls[i]} ended before its visitors had arrived:" >&2
        cat "$out/$(slug "$target").many.$run.idle$((i + 1)).log" >&2
        return 1
      fi
      sleep 1
    done
  done
  echo "== $target many (run $run): idle visitors in (setup $(cat "${ready[@]}" | tr '\n' ' ')s); the crowd of 4,000 for $many_seconds s" >&2
  "${bench[@]}" crowd --visitors 4000 --interval 5 --duration "$many_seconds" --warmup 10 --drain 30 --sources 200 --url "$url" \
    --server-pid "$server_pids" --store-pid "$db_pid" --json "$out/$(slug "$target").many.$run.json" | tee -a "$out/summary.txt" >&2 || true
  touch "$done_file"
  for i in "${!urls[@]}"; do
    wait "${idle_pids[i]}" || true
    echo "== idle on ${urls[i]}: $(idle_summary "$out/$(slug "$target").many.$run.idle$((i + 1)).json" 2>/dev/null || echo "no result")" | tee -a "$out/summary.txt" >&2
  done
  verdicts "$target" many "$run"
}

for scenario in $only; do
  for run in $(seq 1 "$runs"); do
    # Alternate targets within a run so a busy moment on the shared machine hits both alike.
    for target in $targets; do
      run_scenario "$target" "$scenario" "$run"
    done
  done
done

report
echo "results: $out" >&2
