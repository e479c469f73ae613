#!/usr/bin/env bash
# Makes a development CA and a serving certificate for modelgate in certs/
# (or $MODELGATE_CERTS_DIR). With --if-missing it does nothing when both exist.
# SANs cover local runs and the in-cluster Service name.
set -euo pipefail
dir="${MODELGATE_CERTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)/certs}"
if [[ "${1:-}" == "--if-missing" && -s "$dir/tls.crt" && -s "$dir/tls.key" ]]; then
  exit 0
fi
command -v openssl >/dev/null || { echo "certs.sh: openssl is required (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
days="${MODELGATE_CERT_DAYS:-365}"

openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/ca.key" 2>/dev/null
openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days "$days" -subj "/CN=modelgate development CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$tmp/ca.crt" 2>/dev/null

openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/tls.key.ec" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$tmp/tls.key.ec" -out "$tmp/tls.key"
cat > "$tmp/ext.cnf" <<CNF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1,DNS:modelgate.modelgate.svc,DNS:modelgate.modelgate.svc.cluster.local
CNF
openssl req -new -key "$tmp/tls.key" -subj "/CN=modelgate.modelgate.svc" -out "$tmp/tls.csr" 2>/dev/null
openssl x509 -req -in "$tmp/tls.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial -days "$days" -sha256 \
  -extfile "$tmp/ext.cnf" -out "$tmp/tls.crt" 2>/dev/null

install -m 0644 "$tmp/ca.crt" "$dir/ca.crt"
install -m 0600 "$tmp/ca.key" "$dir/ca.key"
install -m 0600 "$tmp/tls.key" "$dir/tls.key"
install -m 0644 "$tmp/tls.crt" "$dir/tls.crt"
echo "certs.sh: wrote $dir/ca.crt and the serving pair $dir/tls.crt, $dir/tls.key (valid $days days)"
