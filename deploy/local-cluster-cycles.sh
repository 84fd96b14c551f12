#!/usr/bin/env bash
# Starts and stops a local cluster N times in a row (default 30) and stops at the first failure,
# keeping that cycle's folder and logs: the check that `deploy/local-cluster.sh up` is dependable.
#
#   deploy/local-cluster-cycles.sh [N] [DIR]     DIR: where the cycles' folders go (default: a new one in /tmp)
#
# Each cycle is `up` in a fresh folder, a look at cluster.env (a chat page through nginx and both
# brokers' /readyz answer), then `down`. It prints one line per cycle (seconds for up and down, the
# machine's load average) and a summary; exit 0 only if every cycle passed. Needs curl.

set -euo pipefail

cycles=${1:-30}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${2:-$(mktemp -d /tmp/chat-cycles.XXXXXX)}
mkdir -p "$dir"
script=$root/deploy/local-cluster.sh

# Built once, before the clock starts (the script would otherwise build on the first `up`).
"$script" help >/dev/null

load() { cut -d' ' -f1 /proc/loadavg; }
now() { echo "${EPOCHREALTIME/./}"; } # microseconds
seconds() { printf '%d.%d' $(($1 / 1000000)) $(($1 / 100000 % 10)); }
answers() { curl -fsS -o /dev/null --max-time 5 "$1"; }

started=$SECONDS
for ((i = 1; i <= cycles; i++)); do
  cluster=$dir/cycle-$i
  t0=$(now)
  if ! "$script" up "$cluster" >"$cluster.up.log" 2>&1; then
    echo "cycle $i: up FAILED after $(seconds $(($(now) - t0))) s (load $(load)); its output: $cluster.up.log, its logs: $cluster/logs"
    "$script" down "$cluster" >>"$cluster.up.log" 2>&1 || true
    exit 1
  fi
  t1=$(now)
  # shellcheck disable=SC1091
  . "$cluster/cluster.env"
  for url in "$FRONT_URL" "${BROKER1_URL}readyz" "${BROKER2_URL}readyz"; do
    answers "$url" || {
      echo "cycle $i: $url did not answer after up; logs: $cluster/logs"
      "$script" down "$cluster" >/dev/null 2>&1 || true
      exit 1
    }
  done
  "$script" down "$cluster" >"$cluster.down.log" 2>&1 || {
    echo "cycle $i: down FAILED: $cluster.down.log"
    exit 1
  }
  t2=$(now)
  echo "cycle $i: up $(seconds $((t1 - t0))) s, down $(seconds $((t2 - t1))) s, load $(load)"
  rm -rf -- "$cluster" "$cluster.up.log" "$cluster.down.log"
done
echo "$cycles of $cycles cycles passed in $((SECONDS - started)) s"
rmdir "$dir" 2>/dev/null || true
