#!/usr/bin/env bash
# Regenerates the crafted certificates that rcgen cannot make (it signs with neither SHA-1 nor
# RSA keys under 2048 bits). TEST FIXTURES ONLY: the keys here are public and worthless.
# Valid for 100 years from generation, so tests can use the real clock.
#
#   fixture-ca.crt            RSA 2048 CA, sha256WithRSAEncryption (the anchor: ca.crt)
#   rsa1024.crt/.key          leaf weak.example, RSA 1024 key, signed sha256 by the CA
#   sha1.crt/.key             leaf sha1.example, RSA 2048 key, signed sha1WithRSAEncryption by the CA
#
# Usage: kubectl-certs/testdata/regenerate.sh   (needs openssl 3)
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
days=36500

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/ca.key" -out fixture-ca.crt -days "$days" \
  -subj "/CN=kubectl-certs fixture CA" -sha256 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

leaf() { # name bits digest dns
  local name=$1 bits=$2 digest=$3 dns=$4
  openssl req -new -newkey "rsa:$bits" -nodes -keyout "$tmp/$name.key" -out "$tmp/$name.csr" \
    -subj "/CN=$dns" 2>/dev/null
  # PKCS#8, as cert-manager writes (`openssl req` already does; made explicit).
  openssl pkcs8 -topk8 -nocrypt -in "$tmp/$name.key" -out "$name.key"
  printf 'subjectAltName=DNS:%s\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$dns" >"$tmp/$name.ext"
  openssl x509 -req -in "$tmp/$name.csr" -CA fixture-ca.crt -CAkey "$tmp/ca.key" -CAserial "$tmp/ca.srl" -CAcreateserial \
    -out "$name.crt" -days "$days" "-$digest" -extfile "$tmp/$name.ext" 2>/dev/null
}
leaf rsa1024 1024 sha256 weak.example
leaf sha1 2048 sha1 sha1.example
openssl x509 -in rsa1024.crt -noout -text | grep -E "Public-Key|Signature Algorithm" | sort -u
openssl x509 -in sha1.crt -noout -text | grep -E "Public-Key|Signature Algorithm" | sort -u
