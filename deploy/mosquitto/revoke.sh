#!/usr/bin/env bash
# Take a broker identity away: revoke its certificates and drop its ACL block.
#
#   deploy/mosquitto/revoke.sh [--dir PKI] [--acl FILE] IDENTITY    # e.g. agent:site-7:pi-2
#   deploy/mosquitto/revoke.sh [--dir PKI] --serial HEX             # one certificate (rotation)
#
# Rewrites PKI/crl.pem; copy it and the ACL to the broker and reload it (systemctl reload
# mosquitto: a SIGHUP rereads the CRL and the ACL). Revoking an identity's every certificate
# also removes its ACL block, so even a certificate the CRL somehow misses can do nothing.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=pki-lib.sh
. "$here/pki-lib.sh"

serial=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) pki="${2:?--dir needs a directory}"; shift ;;
        --acl) acl="${2:?--acl needs a file}"; shift ;;
        --serial) serial="${2:?--serial needs a hex serial}"; shift ;;
        -h|--help) sed -n '2,/^here=/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option: $1" ;;
        *) args+=("$1") ;;
    esac
    shift
done
require_ca

revoke_serial() {
    local s="${1^^}"
    [ -f "$pki/issued/$s.pem" ] || die "no certificate with serial $s in $pki/issued"
    ca -revoke "issued/$s.pem" -crl_reason keyCompromise 2>/dev/null
    say "revoked serial $s"
}

if [ -n "$serial" ]; then
    [ ${#args[@]} -eq 0 ] || die "give either --serial or an identity"
    revoke_serial "$serial"
else
    [ ${#args[@]} -eq 1 ] || die "usage: revoke.sh [--dir PKI] [--acl FILE] IDENTITY | --serial HEX"
    identity="${args[0]}"
    # index.txt: status, expiry, [revocation], serial, file, subject; V = valid.
    mapfile -t serials < <(awk -F'\t' -v s="/CN=$identity" '$1 == "V" && $6 == s { print $4 }' \
        "$pki/index.txt")
    for s in "${serials[@]}"; do revoke_serial "$s"; done
    [ ${#serials[@]} -gt 0 ] || say "no valid certificate for $identity"
    acl_remove "$identity"
    say "removed the ACL for $identity from $acl"
fi
gen_crl
chmod 0600 "$pki/crl.pem"
say "wrote $pki/crl.pem: install it and the ACL on the broker, then reload it"
