#!/usr/bin/env bash
# Installs the system tools camsentry's demo and tests drive: a broker, nftables, conntrack,
# iproute2, openssl (the broker CA scripts) and systemd-analyze (unit checks).
# Idempotent; does nothing when all are present. Needs root (or sudo) only when something is missing.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || need+=(nftables)
command -v conntrack >/dev/null 2>&1 || [ -x /usr/sbin/conntrack ] || need+=(conntrack)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || need+=(iproute2)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# systemd-analyze verifies the shipped units in the tests; the package is only a tool here.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# The web view's browser tests drive Debian's Chromium through its chromedriver.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# setpriv runs nft without CAP_NET_ADMIN in the enforcement tests (util-linux, nearly always there).
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing system packages: ${need[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
