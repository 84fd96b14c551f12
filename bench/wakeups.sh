#!/usr/bin/env bash
# Where a lone message's CPU goes, in counts: wake-ups (context switches) and system calls per chat
# message, for the relay and for servers built from git revisions, alternately, under the crowd
# scenario (people at a human pace). Needs `perf` (linux-perf) and root or perf_event_paranoid <= 0.
#
#   bench/wakeups.sh [--visitors 1000] [--runs 3] [--server-arg --Chat:X=Y ...] [TARGET ...]
#                                                     TARGET: relay | server@REV | server
#
# --server-arg (repeatable) is passed to every server target, e.g. --server-arg --Chat:Broker:DeliveryReportInterval=01:00:00.
#
# Each run starts a fresh process, lets the crowd arrive and warm up, then counts 20 s of the
# measured window with `perf stat` on that process (every thread), and divides by the chat messages
# delivered in those 20 s. The limits are off, as in bench/run.sh. See docs/benchmarks.md, "Wake-ups".
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
visitors=1000
runs=3
targets=()
server_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --visitors) visitors="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --server-arg) server_args+=("$2"); shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=(relay server)
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 2; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work="$(mktemp -d /tmp/chat-wakeups.XXXXXX)"
trees=()
cleanup() {
  for tree in "${trees[@]}"; do git -C "$root" worktree remove --force "$tree" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

dotnet build -c Release "$root/bench/Chat.Bench" -v q -nologo >/dev/null
bench="$root/bench/Chat.Bench/bin/Release/net10.0/Chat.Bench.dll"
declare -A dll
for target in "${targets[@]}"; do
  tree="$root"
  if [[ $target == *@* ]]; then
    tree="$work/tree-${target##*@}"
    git -C "$root" worktree add --detach "$tree" "${target##*@}" >/dev/null 2>&1
    trees+=("$tree")
  fi
  case "${target%%@*}" in
    relay) dotnet build -c Release "$tree/bench/Chat.Relay" -v q -nologo >/dev/null; dll[$target]="$tree/bench/Chat.Relay/bin/Release/net10.0/Chat.Relay.dll" ;;
    server) dotnet build -c Release "$tree/src/Chat.Host" -v q -nologo >/dev/null; dll[$target]="$tree/src/Chat.Host/bin/Release/net10.0/chat.dll" ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
  esac
done

events=context-switches,task-clock,raw_syscalls:sys_enter,syscalls:sys_enter_futex,syscalls:sys_enter_sched_yield,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_fsync,syscalls:sys_enter_pwrite64
port=18494
printf '%-16s %4s %9s %9s %9s %9s %9s %9s %9s\n' target run "CPU µs" switches syscalls futex yield fsync "msg/s"
for run in $(seq 1 "$runs"); do
  for target in "${targets[@]}"; do
    store="$work/store-$run"
    mkdir -p "$store"
    if [[ ${target%%@*} == relay ]]; then
      dotnet "${dll[$target]}" "$port" 3 >"$work/server.log" 2>&1 &
    else
      dotnet "${dll[$target]}" --urls="http://127.0.0.1:$port" --Chat:Store:Path="$store/chat.db" \
        --Chat:Broker:RateLimit:PerSecond=1000000 --Chat:Broker:RateLimit:Burst=1000000 \
        --Chat:Limits:AccountsPerMinute=0 --Chat:Limits:SocketsPerAddress=0 --Chat:Limits:WaitingPerAddress=0 \
        --Chat:Limits:MatchesPerMinute=0 --Chat:Limits:Challenge:AfterAccounts=0 --Chat:Limits:Challenge:AfterMatches=0 \
        --Logging:LogLevel:Default=Warning "${server_args[@]}" >"$work/server.log" 2>&1 &
    fi
    pid=$!
    for _ in $(seq 1 200); do ss -ltn "sport = :$port" | grep -q LISTEN && break; sleep 0.1; done
    # 10 s warm-up, then 40 s measured: perf counts 20 s of it, from 12 s after the start.
    dotnet "$bench" crowd --url "ws://127.0.0.1:$port/ws" --visitors "$visitors" --interval 5 --duration 40 --warmup 10 --drain 15 \
      --server-pid "$pid" >"$work/crowd.txt" 2>&1 &
    crowd=$!
    sleep 12
    perf stat -x, -e "$events" -p "$pid" -- sleep 20 2>"$work/perf.csv" >/dev/null
    wait "$crowd" || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$store"
    python3 - "$target" "$run" "$work/perf.csv" "$work/crowd.txt" <<'PY'
import re, sys
target, run, perf, crowd = sys.argv[1:]
counts = {}
for line in open(perf):
    f = line.strip().split(",")
    if len(f) > 2 and f[0] not in ("", "<not counted>"):
        counts[f[2]] = float(f[0])
text = open(crowd).read()
rate = float(re.search(r"([\d.]+) msg/s delivered", text).group(1))
clean = "OK: every message" in text
messages = rate * 20
per = lambda e: counts.get(e, 0) / messages
print(f"{target:<16} {run:>4} {counts.get('task-clock', 0) * 1000 / messages:9.0f} {per('context-switches'):9.1f} "
      f"{per('raw_syscalls:sys_enter'):9.1f} {per('syscalls:sys_enter_futex'):9.1f} {per('syscalls:sys_enter_sched_yield'):9.1f} "
      f"{per('syscalls:sys_enter_fsync'):9.2f} {rate:9.1f}{'' if clean else '  NOT CLEAN'}")
PY
  done
done
