# shellcheck shell=bash
# Shared by make-ca.sh, add-agent.sh, add-collector.sh and revoke.sh: a small OpenSSL CA in one
# directory (default ./camsentry-pki) and the broker ACL file next to it. Sourced, not run.
set -euo pipefail
umask 077  # every key, certificate and database file is written 0600

# Site and agent names become topic levels, file names and certificate names; the alphabet
# matches agent/wire/topics.py NAME_PATTERN.
NAME_RE='^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'
CLIENT_DAYS="${CAMSENTRY_CLIENT_DAYS:-825}"
# What an agent may publish under its own subtree: the telemetry kinds (agent.wire Kind) and
# its enrolment request (agent.wire.enrol ENROL_KIND), which the collector answers only after
# an operator approves the key fingerprint.
# shellcheck disable=SC2034
AGENT_WRITE_KINDS="birth inventory flow health ack status enrol"

pki="${CAMSENTRY_PKI:-./camsentry-pki}"
acl="${CAMSENTRY_ACL:-}"

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
say() { echo "$(basename "$0"): $*"; }

check_name() {  # what value
    [[ "$2" =~ $NAME_RE ]] || die "$1 '$2' must match $NAME_RE"
}

require_ca() {
    if [ ! -f "$pki/private/ca.key" ] || [ ! -f "$pki/ca.crt" ]; then
        die "no CA in $pki (run make-ca.sh first)"
    fi
    [ -n "$acl" ] || acl="$pki/acl"
}

ca() {  # openssl ca, run from the PKI directory so the config's relative paths hold
    (cd "$pki" && openssl ca -batch -config openssl.cnf "$@")
}

gen_crl() {
    ca -gencrl -out crl.pem 2>/dev/null
}

# issue IDENTITY OUTDIR [CSR]: a client certificate whose CN is IDENTITY. Without a CSR a new
# P-256 key is made here; with one, the key never left the box that made the CSR. The subject
# is always set from IDENTITY, whatever the CSR asked for.
issue_client() {
    local identity="$1" out="$2" csr="${3:-}" serial
    mkdir -p "$out"
    if [ -z "$csr" ]; then
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/client.key"
        csr="$out/client.csr"
        openssl req -new -key "$out/client.key" -subj "/CN=$identity" -out "$csr"
    fi
    csr="$(cd "$(dirname "$csr")" && pwd)/$(basename "$csr")"
    serial="$(cat "$pki/serial")"
    ca -in "$csr" -out "$(cd "$out" && pwd)/client.crt" -subj "/CN=$identity" \
        -extensions client_ext -notext -days "$CLIENT_DAYS" 2>/dev/null
    rm -f "$out/client.csr"
    cp "$pki/ca.crt" "$out/ca.crt"
    chmod 0600 "$out"/*
    say "issued $identity (serial $serial) in $out"
}

# parse_client_args COUNT USAGE "$@": the options add-agent.sh and add-collector.sh share
# (--dir, --acl, --csr, --renew, --help); sets csr, renew and the COUNT positional args in args.
parse_client_args() {
    local count="$1" usage="$2"
    shift 2
    csr=""
    renew=0
    args=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --dir) pki="${2:?--dir needs a directory}"; shift ;;
            --acl) acl="${2:?--acl needs a file}"; shift ;;
            --csr) csr="${2:?--csr needs a file}"; shift ;;
            --renew) renew=1 ;;
            -h|--help) sed -n '2,/^here=/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
            -*) die "unknown option: $1" ;;
            *) args+=("$1") ;;
        esac
        shift
    done
    [ ${#args[@]} -eq "$count" ] || die "usage: $usage"
}

# issue_unless_present IDENTITY: a certificate for IDENTITY in $pki/clients/IDENTITY, unless it
# has one and --renew was not given (idempotent); the replaced certificate is kept as .old.
issue_unless_present() {
    local identity="$1" out="$pki/clients/$1"
    if [ -f "$out/client.crt" ] && [ "$renew" -eq 0 ]; then
        say "$identity already has a certificate (--renew issues a new one)"
        return 0
    fi
    [ -f "$out/client.crt" ] && mv "$out/client.crt" "$out/client.crt.old"
    issue_client "$identity" "$out" "$csr"
}

# ACL blocks are delimited so they can be replaced or removed by identity.
acl_has() { [ -f "$acl" ] && grep -qxF "# begin $1" "$acl"; }

acl_remove() {
    [ -f "$acl" ] || return 0
    local tmp
    tmp="$(mktemp "$acl.XXXXXX")"
    awk -v b="# begin $1" -v e="# end $1" '$0 == b { skip = 1 } !skip { print } $0 == e { skip = 0 }' \
        "$acl" > "$tmp"
    chmod 0600 "$tmp"
    mv "$tmp" "$acl"
}

acl_add() {  # identity, then the block's lines on stdin
    local identity="$1"
    if acl_has "$identity"; then
        say "ACL for $identity already present in $acl"
        return 0
    fi
    [ -f "$acl" ] || printf '%s\n' "# camsentry broker ACL: maintained by deploy/mosquitto/add-*.sh and revoke.sh." \
        "# Each client is a certificate CN (use_identity_as_username). Anything not granted is denied." \
        > "$acl"
    { echo "# begin $identity"; echo "user $identity"; cat; echo "# end $identity"; echo; } >> "$acl"
    chmod 0600 "$acl"
    say "added ACL for $identity to $acl (reload the broker: systemctl reload mosquitto)"
}
