#!/usr/bin/env bash
# Make the camsentry broker CA and the broker's server certificate.
#
#   deploy/mosquitto/make-ca.sh [--dir PKI] BROKER_NAME [MORE_NAMES...]
#
# BROKER_NAME and the rest go into the server certificate's subjectAltName: DNS names, or IP
# addresses (v4 or v6), exactly as agents will dial the broker. Idempotent: an existing CA and
# server certificate are kept. Writes, all 0600:
#   PKI/ca.crt           give to every agent and collector (the broker's trust anchor too)
#   PKI/private/ca.key   keep offline; only add-agent.sh / revoke.sh need it
#   PKI/server.crt PKI/server.key PKI/crl.pem   install on the broker (docs/broker.md)
# Environment: CAMSENTRY_PKI (default ./camsentry-pki), CAMSENTRY_CA_DAYS (3650),
# CAMSENTRY_SERVER_DAYS (825).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=pki-lib.sh
. "$here/pki-lib.sh"

names=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) pki="${2:?--dir needs a directory}"; shift ;;
        -h|--help) sed -n '2,/^here=/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option: $1" ;;
        *) names+=("$1") ;;
    esac
    shift
done
[ ${#names[@]} -gt 0 ] || die "name the broker: make-ca.sh BROKER_NAME [MORE_NAMES...]"

mkdir -p "$pki/private" "$pki/issued"
chmod 0700 "$pki" "$pki/private" "$pki/issued"

if [ ! -f "$pki/openssl.cnf" ]; then
    cat > "$pki/openssl.cnf" <<'CNF'
# OpenSSL CA configuration for the camsentry broker CA (written by make-ca.sh).
[ ca ]
default_ca = camsentry_ca

[ camsentry_ca ]
dir = .
database = $dir/index.txt
new_certs_dir = $dir/issued
certificate = $dir/ca.crt
private_key = $dir/private/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
policy = policy_cn
# A rotated agent gets a new certificate under the same CN while the old one is still valid.
unique_subject = no
copy_extensions = none
# The CRL is a local file the broker reads, not fetched from a distribution point; it must not
# expire under a running broker (OpenSSL then refuses every client), so it lives long and is
# rewritten on every revocation.
default_crl_days = 3650

[ policy_cn ]
commonName = supplied

[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ crl_ext ]
authorityKeyIdentifier = keyid
CNF
fi
[ -f "$pki/index.txt" ] || : > "$pki/index.txt"
[ -f "$pki/serial" ] || openssl rand -hex 8 | tr 'a-f' 'A-F' > "$pki/serial"
[ -f "$pki/crlnumber" ] || echo 1000 > "$pki/crlnumber"

if [ ! -f "$pki/private/ca.key" ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/private/ca.key"
    openssl req -new -x509 -key "$pki/private/ca.key" -sha256 \
        -days "${CAMSENTRY_CA_DAYS:-3650}" -subj "/CN=camsentry broker CA $(date -u +%Y%m%d%H%M%S)" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$pki/ca.crt"
    say "made CA $pki/ca.crt"
else
    say "kept the CA in $pki"
fi

if [ ! -f "$pki/server.crt" ]; then
    san=""
    for n in "${names[@]}"; do
        if [[ "$n" =~ ^[0-9.]+$ ]] || [[ "$n" == *:* ]]; then
            san="$san,IP:$n"
        else
            san="$san,DNS:$n"
        fi
    done
    ext="$(mktemp)"
    printf '%s\n' "[ server_ext ]" "basicConstraints = critical, CA:FALSE" \
        "keyUsage = critical, digitalSignature" "extendedKeyUsage = serverAuth" \
        "subjectKeyIdentifier = hash" "authorityKeyIdentifier = keyid" \
        "subjectAltName = ${san#,}" > "$ext"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/server.key"
    openssl req -new -key "$pki/server.key" -subj "/CN=${names[0]}" -out "$pki/server.csr"
    ca -in server.csr -out server.crt -extfile "$ext" -extensions server_ext -notext \
        -days "${CAMSENTRY_SERVER_DAYS:-825}" 2>/dev/null
    rm -f "$ext" "$pki/server.csr"
    say "made server certificate for ${names[*]}"
else
    say "kept the server certificate"
fi
[ -f "$pki/crl.pem" ] || gen_crl
chmod 0600 "$pki"/*.crt "$pki"/*.key "$pki"/crl.pem "$pki/private/ca.key"
