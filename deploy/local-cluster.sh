#!/usr/bin/env bash
# A whole chat cluster on this machine (MariaDB, etcd, two logic nodes, two brokers, nginx), to try
# the cluster mode or test against it: `deploy/local-cluster.sh up|down|status|stop|start DIR …`
# (`deploy/local-cluster.sh help` says more; deploy/README.md explains it all).
#
# The work is done by deploy/LocalCluster, a small .NET program over the same code the tests start
# their clusters with (tests/Chat.Testing/Cluster), so there is one way to start a cluster. This
# script only builds it (Release, when missing or older than its sources) and runs it.
#
# Environment: CHAT_CLUSTER_DLL  local-cluster.dll to run instead of building one (the tests and
# the bench pass theirs); DOTNET  the dotnet host (default: dotnet on PATH); and the program's own
# (CHAT_DLL, STOP_TIMEOUT, MARIADB_OPTIONS: see `help`).

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOTNET=${DOTNET:-dotnet}
export DOTNET
command -v "$DOTNET" >/dev/null || {
  echo "local-cluster: error: dotnet not found (set DOTNET=/path/to/dotnet)" >&2
  exit 1
}

tool=${CHAT_CLUSTER_DLL:-$REPO/deploy/LocalCluster/bin/Release/net10.0/local-cluster.dll}
if [[ -z ${CHAT_CLUSTER_DLL:-} ]]; then
  # What the program is built from: its own sources, the fixtures it runs, chat itself, deploy's files.
  sources=("$REPO/src" "$REPO/tests/Chat.Testing" "$REPO/deploy/LocalCluster" "$REPO/deploy/mariadb" "$REPO/deploy/nginx" "$REPO/deploy/cluster-certs.sh")
  if [[ ! -f $tool ]] || [[ -n $(find "${sources[@]}" -type f -newer "$tool" -not -path '*/bin/*' -not -path '*/obj/*' -print -quit) ]]; then
    echo "local-cluster: building deploy/LocalCluster and chat (Release) ..." >&2
    log=$(mktemp /tmp/local-cluster-build.XXXXXX.log)
    "$DOTNET" build -c Release "$REPO/deploy/LocalCluster" -nologo >"$log" 2>&1 || {
      tail -n 30 "$log" >&2
      echo "local-cluster: error: the build failed; read $log" >&2
      exit 1
    }
    rm -f "$log"
  fi
fi
[[ -f $tool ]] || {
  echo "local-cluster: error: $tool does not exist" >&2
  exit 1
}

exec "$DOTNET" "$tool" "$@"
