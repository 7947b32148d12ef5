#!/usr/bin/env bash
# Give one collector its broker identity: a client certificate and its ACL block.
#
#   deploy/mosquitto/add-collector.sh [--dir PKI] [--acl FILE] [--csr FILE] [--renew] NAME
#
# CN collector:NAME (username and client id at the broker, so each collector process sharing
# the load needs its own NAME). The ACL lets it read everything under camsentry/v1/ and write
# only receipts, commands and alerts; it cannot publish telemetry as an agent.
# Output in PKI/clients/collector:NAME/ (client.key, client.crt, ca.crt, all 0600).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=pki-lib.sh
. "$here/pki-lib.sh"

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
[ ${#args[@]} -eq 1 ] || die "usage: add-collector.sh [--dir PKI] [--acl FILE] [--csr FILE] NAME"
name="${args[0]}"
check_name collector "$name"
require_ca

identity="collector:$name"
out="$pki/clients/$identity"
if [ -f "$out/client.crt" ] && [ "$renew" -eq 0 ]; then
    say "$identity already has a certificate (--renew issues a new one)"
else
    [ -f "$out/client.crt" ] && mv "$out/client.crt" "$out/client.crt.old"
    issue_client "$identity" "$out" "$csr"
fi

# Alerts live outside the telemetry tree (collector.alerts ALERT_TOPIC_PREFIX), so the
# collector's camsentry/v1/+/+/+ subscription never sees them.
acl_add "$identity" <<'ACL'
topic read camsentry/v1/#
topic write camsentry/v1/+/+/receipt
topic write camsentry/v1/+/+/cmd
topic readwrite camsentry/alerts/v1/#
ACL
