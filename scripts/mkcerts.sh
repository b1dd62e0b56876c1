#!/usr/bin/env bash
# Makes a throwaway CA and certificates for the loopback example cluster:
#   scripts/mkcerts.sh DIR [node ...]     (default nodes: n1 n2 n3)
# Each node certificate is valid for 127.0.0.1 and localhost, for both server
# and client use (mutual TLS between nodes). Not for production.
set -euo pipefail
dir=${1:?usage: mkcerts.sh DIR [node ...]}
shift
nodes=("$@")
[ ${#nodes[@]} -gt 0 ] || nodes=(n1 n2 n3)
command -v openssl >/dev/null || { echo "mkcerts.sh: openssl is required (apt-get install -y openssl)" >&2; exit 1; }
mkdir -p "$dir"
chmod 700 "$dir"
cd "$dir"
if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout ca-key.pem -out ca.pem -days 30 -subj "/CN=sessiond throwaway CA" 2>/dev/null
fi
for n in "${nodes[@]}"; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$n-key.pem" -out "$n.csr" -subj "/CN=$n" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n' > "$n.ext"
  openssl x509 -req -in "$n.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
    -out "$n.pem" -days 30 -extfile "$n.ext" 2>/dev/null
  rm -f "$n.csr" "$n.ext"
done
chmod 600 ./*-key.pem
echo "CA: $dir/ca.pem; node certificates: ${nodes[*]/%/.pem} (keys *-key.pem)"
