#!/usr/bin/env bash
# Give one site agent its broker identity: a client certificate and its ACL block.
#
#   deploy/mosquitto/add-agent.sh [--dir PKI] [--acl FILE] [--csr FILE] [--renew] SITE AGENT
#
# The certificate's CN is agent:SITE:AGENT; the broker uses it as username and client id. The
# ACL lets it write camsentry/v1/SITE/AGENT/{birth,inventory,flow,health,ack,status,enrol} and
# read camsentry/v1/SITE/AGENT/{receipt,cmd}; nothing else. Output in PKI/clients/agent:SITE:AGENT/
# (client.key, client.crt, ca.crt, all 0600) goes to the box as /etc/camsentry/agent.key.pem,
# agent.crt and ca.crt (docs/broker.md).
#   --csr FILE  sign a request made on the box instead (its key never travels)
#   --renew     issue a new certificate for an identity that has one (rotation; revoke the old
#               serial with revoke.sh --serial once the box uses the new one)
# Idempotent: an identity with a certificate is left alone unless --renew.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=pki-lib.sh
. "$here/pki-lib.sh"

parse_client_args 2 "add-agent.sh [--dir PKI] [--acl FILE] [--csr FILE] [--renew] SITE AGENT" "$@"
site="${args[0]}"
agent="${args[1]}"
check_name site "$site"
check_name agent "$agent"
require_ca

identity="agent:$site:$agent"
issue_unless_present "$identity"

base="camsentry/v1/$site/$agent"
{
    for kind in $AGENT_WRITE_KINDS; do echo "topic write $base/$kind"; done
    echo "topic read $base/receipt"
    echo "topic read $base/cmd"
} | acl_add "$identity"
