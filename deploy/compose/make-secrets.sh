#!/usr/bin/env bash
# Makes the secrets deploy/compose.yaml reads, once, in deploy/compose/secrets/:
#   cluster-secret     the cluster's shared secret (every gRPC call between nodes carries it)
#   db-root-password   MariaDB's root password
#   db-password        the password of MariaDB's user `chat`
#   store-connection   the logic nodes' connection string, with that password
# A file that exists is kept: MariaDB takes its passwords on the first start only (an empty data
# volume), so new ones would no longer match the database's.
#
# Compose hands a file secret to a container by bind-mounting the file as it is (it ignores
# uid/gid/mode outside Swarm), and the containers run as users other than you: so the files are
# world-readable (0444) and the folder is yours alone (0700), which keeps other users of this
# host out. Inside a container, only the secrets compose.yaml gives that service are there.

set -euo pipefail

SECRETS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secrets
readonly SECRETS

random_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# write NAME VALUE: the secret NAME, unless it exists.
write() {
  local file=$SECRETS/$1
  if [[ -e $file ]]; then
    printf 'make-secrets: %s exists, kept\n' "$file"
    return
  fi
  printf '%s' "$2" >"$file.new"
  chmod 0444 "$file.new"
  mv -- "$file.new" "$file"
  printf 'make-secrets: wrote %s\n' "$file"
}

mkdir -p -- "$SECRETS"
chmod 0700 "$SECRETS"

write cluster-secret "$(random_hex 32)"
write db-root-password "$(random_hex 24)"
write db-password "$(random_hex 24)"
# The connection string must name the password MariaDB was given: read it back from its file.
write store-connection "Server=mariadb;Port=3306;User=chat;Password=$(<"$SECRETS/db-password");Database=chat"
