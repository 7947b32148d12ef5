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

parse_client_args 1 "add-collector.sh [--dir PKI] [--acl FILE] [--csr FILE] [--renew] NAME" "$@"
name="${args[0]}"
check_name collector "$name"
require_ca

identity="collector:$name"
issue_unless_present "$identity"

# Alerts live outside the telemetry tree (collector.alerts ALERT_TOPIC_PREFIX), so the
# collector's camsentry/v1/+/+/+ subscription never sees them.
acl_add "$identity" <<'ACL'
topic read camsentry/v1/#
topic write camsentry/v1/+/+/receipt
topic write camsentry/v1/+/+/cmd
topic readwrite camsentry/alerts/v1/#
ACL
