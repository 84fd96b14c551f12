#!/usr/bin/env bash
# Makes the secrets deploy/compose.yaml reads, once, in deploy/compose/secrets/:
#   tls/               the cluster's CA and each node's certificate and key (deploy/cluster-certs.sh:
#                      logic1, logic2, broker1, broker2 at the names compose gives them; etcd's)
#   etcd-*-password    the passwords of etcd's root, chat-logic and chat-broker users
#   db-root-password   MariaDB's root password
#   db-password        the password of MariaDB's user `chat`
#   store-connection   the logic nodes' connection string, with that password
#   altcha-key         the key every logic node signs and checks bot challenges with
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

# The cluster's certificates: each node's names its role and the address the others reach it at.
TLS=$SECRETS/tls
if [[ ! -e $TLS/ca.pem ]]; then
  certs=$(dirname "${BASH_SOURCE[0]}")/../cluster-certs.sh
  "$certs" ca "$TLS"
  "$certs" node "$TLS" logic1 logic logic1:18223
  "$certs" node "$TLS" logic2 logic logic2:18223
  "$certs" node "$TLS" broker1 broker broker1:18225
  "$certs" node "$TLS" broker2 broker broker2:18225
  "$certs" etcd "$TLS" etcd etcd 127.0.0.1
  chmod 0700 "$TLS"
  chmod 0444 "$TLS"/*.pem "$TLS"/*.key
  rm -f "$TLS/ca.key" # no more certificates from this CA: make-secrets makes a new one if tls/ is removed
  printf 'make-secrets: wrote %s\n' "$TLS"
else
  printf 'make-secrets: %s exists, kept\n' "$TLS"
fi

write altcha-key "$(random_hex 32)"
write etcd-root-password "$(random_hex 24)"
write etcd-logic-password "$(random_hex 24)"
write etcd-broker-password "$(random_hex 24)"
write db-root-password "$(random_hex 24)"
write db-password "$(random_hex 24)"
# The connection string must name the password MariaDB was given: read it back from its file.
write store-connection "Server=mariadb;Port=3306;User=chat;Password=$(<"$SECRETS/db-password");Database=chat"
