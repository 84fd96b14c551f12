#!/usr/bin/env bash
# The cluster's certificates, made with openssl: a CA of its own, one certificate per node naming
# the node's role and gRPC address, and etcd's. deploy/README.md ("Certificates") says how to use
# them; local-cluster.sh and the tests make theirs with this same script.
#
#   cluster-certs.sh ca DIR                         DIR/ca.pem (to every node) and DIR/ca.key (keep it off the servers);
#                                                   kept if DIR/ca.pem exists already
#   cluster-certs.sh node DIR NAME ROLE ADDRESS     DIR/NAME.pem and DIR/NAME.key: a broker's or a logic node's
#                                                   (ROLE broker|logic), ADDRESS the host:port other nodes reach
#                                                   its gRPC service at (Chat:Cluster:AdvertisedGrpcAddress)
#   cluster-certs.sh etcd DIR NAME HOST...          DIR/NAME.pem and DIR/NAME.key: etcd's server certificate for
#                                                   the IP addresses or DNS names clients reach it at
#   cluster-certs.sh client DIR NAME                DIR/NAME.pem and DIR/NAME.key: a client certificate naming no
#                                                   node (etcdctl's, say; with etcd's --client-cert-auth, etcd takes
#                                                   its CN for a user name)
#   cluster-certs.sh rotate DIR                     a new CA beside the old: DIR/ca.pem then holds both (nodes accept
#                                                   either), new certificates are signed by the new one; the old
#                                                   stays in DIR/ca-old.pem until `drop-old`
#   cluster-certs.sh drop-old DIR                   DIR/ca.pem holds the new CA only (after every node has a new certificate)
#
# A node's certificate names it in SAN URIs: urn:chat:role:broker or urn:chat:role:logic, and
# urn:chat:address:HOST:PORT (a broker is known by its address: logic pushes there only to a
# certificate naming it). It also names HOST as an IP address or DNS name, for tools that check
# host names (grpcurl). It serves both ways (serverAuth and clientAuth): a node dials and is dialed.
# Keys are P-256, written mode 600.

set -euo pipefail

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "cluster-certs: error: $*" >&2; exit 1; }

command -v openssl >/dev/null || die "openssl not found (apt-get install -y openssl)"
[[ $# -ge 2 ]] || usage
what=$1 dir=$2
shift 2
mkdir -p "$dir"
umask 077

ca_days=3650 node_days=825

# A name in a certificate: an IP address (v4 or v6) or a DNS name.
alt_name() {
  if [[ $1 =~ ^[0-9.]+$ || $1 == *:* ]]; then echo "IP:${1//[\[\]]/}"; else echo "DNS:$1"; fi
}

make_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$ca_days" -subj "/CN=$1" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$2.key" -out "$2.pem" 2>/dev/null
  chmod 600 "$2.key"
  chmod 644 "$2.pem"
}

# issue NAME SUBJECT_ALT_NAMES EXTENDED_KEY_USAGE: DIR/NAME.pem and .key, signed by the newest CA.
issue() {
  local name=$1 names=$2 usage=$3 signer=$dir/ca
  [[ -f $dir/ca-new.key ]] && signer=$dir/ca-new
  [[ -f $signer.key ]] || die "no CA in $dir: run '$0 ca $dir' first"
  local csr
  csr=$(mktemp "$dir/.$name.XXXXXX.csr") # several nodes may be issued at once
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$dir/$name.key" -out "$csr" 2>/dev/null
  openssl x509 -req -in "$csr" -CA "$signer.pem" -CAkey "$signer.key" -set_serial "0x$(openssl rand -hex 16)" -days "$node_days" -sha256 \
    -out "$dir/$name.pem" -extfile <(printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s' \
      "$usage" "${names:+subjectAltName=$names}") 2>/dev/null
  rm -f "$csr"
  chmod 600 "$dir/$name.key"
  chmod 644 "$dir/$name.pem"
}

case $what in
  ca)
    [[ $# -eq 0 ]] || usage
    if [[ ! -f $dir/ca.pem ]]; then make_ca "chat cluster CA" "$dir/ca"; fi
    ;;
  node)
    [[ $# -eq 3 ]] || usage
    name=$1 role=$2 address=$3
    [[ $role == broker || $role == logic ]] || die "ROLE is broker or logic, not '$role'"
    [[ $address =~ ^(.+):([0-9]{1,5})$ ]] || die "ADDRESS is host:port, not '$address'"
    issue "$name" "URI:urn:chat:role:$role,URI:urn:chat:address:$address,$(alt_name "${BASH_REMATCH[1]}")" "serverAuth,clientAuth"
    ;;
  etcd)
    [[ $# -ge 2 ]] || usage
    name=$1
    shift
    names=()
    for host in "$@"; do names+=("$(alt_name "$host")"); done
    issue "$name" "$(IFS=,; echo "${names[*]}")" "serverAuth,clientAuth"
    ;;
  client)
    [[ $# -eq 1 ]] || usage
    issue "$1" "" "clientAuth"
    ;;
  rotate)
    [[ $# -eq 0 && -f $dir/ca.pem ]] || usage
    [[ ! -f $dir/ca-new.key ]] || die "a rotation is under way already: finish it with '$0 drop-old $dir'"
    cp "$dir/ca.pem" "$dir/ca-old.pem"
    make_ca "chat cluster CA $(date -u +%Y-%m-%d)" "$dir/ca-new"
    cat "$dir/ca-old.pem" "$dir/ca-new.pem" >"$dir/ca.pem"
    chmod 644 "$dir/ca.pem"
    ;;
  drop-old)
    [[ $# -eq 0 && -f $dir/ca-new.key ]] || die "no rotation under way in $dir"
    mv "$dir/ca-new.pem" "$dir/ca.pem"
    mv "$dir/ca-new.key" "$dir/ca.key"
    rm -f "$dir/ca-old.pem"
    ;;
  *)
    usage
    ;;
esac
