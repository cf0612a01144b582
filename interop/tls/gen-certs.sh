#!/usr/bin/env bash
# Generates the TLS interop kit's certificates with openssl (EC P-256 keys):
#
#   ca.pem              the CA every "good" certificate chains to
#   server-cert.pem     server certificate, SAN localhost 127.0.0.1 ::1
#   server-key.pem
#   client-cert.pem     client certificate (clientAuth), signed by ca.pem
#   client-key.pem
#   expired-cert.pem    server certificate valid 2000-01-01 .. 2001-01-01
#   expired-key.pem
#   other-ca.pem        another CA
#   other-client-cert.pem / other-client-key.pem   client certificate of other-ca
#
# usage: interop/tls/gen-certs.sh DIR
set -euo pipefail

DIR="${1:?usage: gen-certs.sh DIR}"
mkdir -p "$DIR"
cd "$DIR"
rm -rf ca-db
mkdir -p ca-db/new
: >ca-db/index.txt
echo 1000 >ca-db/serial

key() { openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$1"; }

# A self-signed CA: ca NAME CN
ca() {
    key "$1-key.pem"
    openssl req -x509 -new -key "$1-key.pem" -sha256 -days 3650 -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
        -out "$1.pem" 2>/dev/null
}

# A leaf signed by a CA: leaf NAME CN CA EXT [openssl ca date flags...]
leaf() {
    local name="$1" cn="$2" signer="$3" ext="$4"
    shift 4
    key "$name-key.pem"
    openssl req -new -key "$name-key.pem" -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
    cat >"$name.cnf" <<CNF
[ ca ]
default_ca = kit
[ kit ]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db/new
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
[ server ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
[ client ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
CNF
    openssl ca -batch -config "$name.cnf" -extensions "$ext" -cert "$signer.pem" \
        -keyfile "$signer-key.pem" -in "$name.csr" -out "$name-cert.pem" -notext "$@" 2>/dev/null
    rm -f "$name.csr" "$name.cnf"
}

ca ca "stan interop CA"
ca other-ca "another CA"
leaf server localhost ca server -days 825
leaf client client ca client -days 825
leaf expired localhost ca server -startdate 20000101000000Z -enddate 20010101000000Z
leaf other-client client other-ca client -days 825
rm -rf ca-db
echo "gen-certs: certificates in $DIR"
