#!/usr/bin/env bash
# Put the broker's share of the PKI, the ACL and the camsentry settings where Mosquitto reads them.
#
#   sudo deploy/mosquitto/install-broker.sh [--dir PKI] [--dest DIR] [--conf-d DIR] [--reload]
#
# Copies ca.crt, server.crt, server.key, crl.pem and acl from PKI into DIR (default
# /etc/mosquitto/camsentry), root-owned, group mosquitto, 0640 in a 0750 directory: Mosquitto
# drops root before it reads the ACL and rereads ACL and CRL on reload as that user.
# --conf-d DIR also installs mosquitto.conf as DIR/camsentry.conf (Debian: /etc/mosquitto/conf.d).
# --reload sends Mosquitto a SIGHUP through systemd (systemctl reload mosquitto).
# Never copies the CA key or any client key.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=pki-lib.sh
. "$here/pki-lib.sh"

dest=/etc/mosquitto/camsentry
conf_d=""
reload=0
group="${CAMSENTRY_BROKER_GROUP:-mosquitto}"
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) pki="${2:?--dir needs a directory}"; shift ;;
        --dest) dest="${2:?--dest needs a directory}"; shift ;;
        --conf-d) conf_d="${2:?--conf-d needs a directory}"; shift ;;
        --reload) reload=1 ;;
        -h|--help) sed -n '2,/^here=/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
    shift
done
require_ca
[ -f "$acl" ] || die "no ACL at $acl (add-agent.sh and add-collector.sh write it)"

owner=()
if [ "$(id -u)" -eq 0 ] && getent group "$group" >/dev/null; then
    owner=(-o root -g "$group")
else
    say "not root or no group '$group': files stay owned by $(id -un)"
fi
install -d -m 0750 "${owner[@]}" "$dest"
for f in ca.crt server.crt server.key crl.pem; do
    install -m 0640 "${owner[@]}" "$pki/$f" "$dest/$f"
done
install -m 0640 "${owner[@]}" "$acl" "$dest/acl"
say "installed CA, server certificate, CRL and ACL in $dest"
if [ -n "$conf_d" ]; then
    install -m 0644 "$here/mosquitto.conf" "$conf_d/camsentry.conf"
    say "installed $conf_d/camsentry.conf"
fi
if [ "$reload" -eq 1 ]; then
    systemctl reload mosquitto
    say "reloaded mosquitto"
fi
