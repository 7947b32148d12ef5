#!/usr/bin/env bash
# Install, upgrade or remove camsentry on Debian or Raspberry Pi OS.
#
#   sudo deploy/install.sh --agent                 # a site box (default role)
#   sudo deploy/install.sh --collector             # the central collector
#   sudo deploy/install.sh --agent --uninstall     # remove the unit and the venv, keep config and state
#   sudo deploy/install.sh --agent --uninstall --purge   # ... and config, state and the user too
#
# Options:
#   --root DIR            install into DIR instead of / (an image being built, a chroot, a test);
#                         systemctl is then only used offline (enable), never to start anything
#   --source PATH         the camsentry source tree or wheel to install (default: this checkout)
#   --wheels DIR          install offline from a directory of wheels (pip --no-index --find-links)
#   --config-example F    the example config to start from (default: deploy/<role>.example.toml)
#   --start               start (or restart) the service after installing
#   --no-apt              do not apt-get the system packages the role needs
# Environment: PYTHON (default python3), CAMSENTRY_PIP_ARGS (extra pip arguments).
#
# Idempotent: running it again upgrades the code and the unit but never overwrites
# /etc/camsentry/<role>.toml, keys or state. See docs/install.md.
set -euo pipefail

USER_NAME=camsentry
PREFIX_OPT=/opt/camsentry
CONF_DIR=/etc/camsentry
STATE_DIR=/var/lib/camsentry            # the agent's; the collector's is $STATE_DIR-collector
UNIT_DIR=/etc/systemd/system
MODULES_FILE=/etc/modules-load.d/camsentry.conf
SYSCTL_FILE=/etc/sysctl.d/60-camsentry.conf

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
checkout="$(dirname "$here")"

role=agent
root=/
source_path="$checkout"
wheels=""
config_example=""
action=install
purge=0
start=0
use_apt=1

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --agent) role=agent ;;
        --collector) role=collector ;;
        --root) root="${2:?--root needs a directory}"; shift ;;
        --root=*) root="${1#--root=}" ;;
        --source) source_path="${2:?--source needs a path}"; shift ;;
        --wheels) wheels="${2:?--wheels needs a directory}"; shift ;;
        --config-example) config_example="${2:?--config-example needs a file}"; shift ;;
        --uninstall) action=uninstall ;;
        --purge) purge=1 ;;
        --start) start=1 ;;
        --no-apt) use_apt=0 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
    shift
done

[ -d "$root" ] || die "--root $root is not a directory"
root="$(cd "$root" && pwd)"
# R prefixes every path written; with --root / it is empty.
R="${root%/}"
unit="camsentry-$role.service"
# Matches the unit's StateDirectory= and the example config's state_dir.
state_dir="$STATE_DIR"
[ "$role" = agent ] || state_dir="$STATE_DIR-$role"
[ -n "$config_example" ] || config_example="$here/$role.example.toml"

work=""
trap '[ -z "$work" ] || rm -rf "$work"' EXIT

is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1
if [ "$R" = "" ] && [ "$is_root" -eq 0 ]; then
    die "run as root (sudo), or use --root DIR to install into a directory"
fi
# Running systemd manages the live system only when we install into / on a booted host;
# a chroot or an image has no running manager to talk to.
live_systemd=0
[ "$R" = "" ] && [ -d /run/systemd/system ] && live_systemd=1

account_args=()
[ "$R" = "" ] || account_args=(--prefix "$root")

have_user() { grep -q "^$USER_NAME:" "$R/etc/passwd" 2>/dev/null; }
user_id() { awk -F: -v u="$USER_NAME" '$1 == u { print $3 }' "$R/etc/passwd"; }
group_id() { awk -F: -v u="$USER_NAME" '$1 == u { print $3 }' "$R/etc/group"; }

# Owner and mode in one step; ownership needs root and an existing account, else it is skipped.
own() {
    local owner="$1" mode="$2" path="$3" uid gid
    chmod "$mode" "$path"
    [ "$is_root" -eq 1 ] && have_user || return 0
    uid=0
    gid=0
    case "$owner" in
        user) uid="$(user_id)"; gid="$(group_id)" ;;
        group) gid="$(group_id)" ;;
    esac
    chown -h "$uid:$gid" "$path"
}

ensure_dir() {  # owner mode path
    mkdir -p "$3"
    own "$1" "$2" "$3"
}

install_packages() {
    [ "$use_apt" -eq 1 ] && [ "$R" = "" ] && command -v apt-get >/dev/null 2>&1 || return 0
    local need=()
    "${PYTHON:-python3}" -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
    if [ "$role" = agent ]; then
        command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || need+=(nftables)
        command -v conntrack >/dev/null 2>&1 || [ -x /usr/sbin/conntrack ] || need+=(conntrack)
    fi
    [ ${#need[@]} -eq 0 ] && return 0
    say "installing system packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
}

ensure_user() {
    if have_user; then
        return 0
    fi
    if [ "$is_root" -eq 0 ]; then
        say "not root: skipping the '$USER_NAME' account and file ownership in $root"
        return 0
    fi
    grep -q "^$USER_NAME:" "$R/etc/group" 2>/dev/null \
        || groupadd "${account_args[@]}" --system "$USER_NAME"
    useradd "${account_args[@]}" --system --gid "$USER_NAME" --home-dir "$STATE_DIR" \
        --no-create-home --shell /usr/sbin/nologin --comment "camsentry" "$USER_NAME"
    say "created system user $USER_NAME"
}

install_venv() {
    local venv="$R$PREFIX_OPT/venv" python="${PYTHON:-python3}" pip_args=()
    ensure_dir root 0755 "$R$PREFIX_OPT"
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv"
        say "created $PREFIX_OPT/venv"
    fi
    [ -z "$wheels" ] || pip_args+=(--no-index --find-links "$wheels")
    # shellcheck disable=SC2206  # CAMSENTRY_PIP_ARGS is a word list on purpose
    [ -z "${CAMSENTRY_PIP_ARGS:-}" ] || pip_args+=(${CAMSENTRY_PIP_ARGS})
    # The collector's extra brings psycopg (PostgreSQL), the web view and prometheus-client; the
    # agent takes only its five dependencies (the simulator and its aiohttp never reach a host).
    local extras=""
    [ "$role" = collector ] && extras="[collector]"
    if [ -d "$source_path" ]; then
        # Build from a copy: the checkout may be read-only (a USB stick) and must stay clean.
        work="$(mktemp -d)"
        tar -C "$source_path" -cf - --exclude=.git --exclude=.venv --exclude=__pycache__ \
            --exclude='*.egg-info' --exclude=build --exclude=dist --exclude=.mypy_cache \
            --exclude=.pytest_cache --exclude=.ruff_cache --exclude=demo-state . \
            | tar -C "$work" -xf -
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "${pip_args[@]}" "$work$extras"
    else
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "${pip_args[@]}" "$source_path$extras"
    fi
    [ -x "$venv/bin/camsentry-$role" ] || die "the venv has no camsentry-$role after pip install"
    # The units' Documentation= points here.
    mkdir -p "$R$PREFIX_OPT/doc"
    install -m 0644 "$checkout/docs/install.md" "$checkout/docs/broker.md" "$R$PREFIX_OPT/doc/"
    say "installed camsentry into $PREFIX_OPT/venv"
}

install_config() {
    ensure_dir group 0750 "$R$CONF_DIR"
    ensure_dir user 0700 "$R$state_dir"
    local conf="$R$CONF_DIR/$role.toml"
    if [ -f "$config_example" ]; then
        install -m 0640 "$config_example" "$R$CONF_DIR/$role.example.toml"
        own group 0640 "$R$CONF_DIR/$role.example.toml"
        if [ ! -e "$conf" ]; then
            install -m 0640 "$config_example" "$conf"
            own group 0640 "$conf"
            say "wrote $CONF_DIR/$role.toml from the example: edit it before starting"
        else
            say "kept $CONF_DIR/$role.toml (the current example is $role.example.toml)"
        fi
    else
        say "no example config at $config_example: write $CONF_DIR/$role.toml yourself"
    fi
}

install_unit() {
    mkdir -p "$R$UNIT_DIR"
    install -m 0644 "$checkout/systemd/$unit" "$R$UNIT_DIR/$unit"
    if [ "$role" = agent ]; then
        # ProtectKernelModules= stops the agent loading these itself; load them at boot.
        mkdir -p "$R$(dirname "$MODULES_FILE")"
        printf '# camsentry agent: conntrack events and nftables quarantine\n%s\n%s\n' \
            nf_conntrack_netlink nf_tables > "$R$MODULES_FILE"
        chmod 0644 "$R$MODULES_FILE"
        # ProtectKernelTunables= keeps /proc/sys read-only for the agent: switch on byte counts
        # and start times in conntrack events here (systemd-sysctl runs after modules-load).
        mkdir -p "$R$(dirname "$SYSCTL_FILE")"
        printf '# camsentry agent: flow bytes and timestamps in conntrack events\n%s\n%s\n' \
            "net.netfilter.nf_conntrack_acct = 1" "net.netfilter.nf_conntrack_timestamp = 1" \
            > "$R$SYSCTL_FILE"
        chmod 0644 "$R$SYSCTL_FILE"
    fi
    if [ "$live_systemd" -eq 1 ]; then
        systemctl daemon-reload
        systemctl enable --quiet "$unit"
        if [ "$start" -eq 1 ] || systemctl is-active --quiet "$unit"; then
            systemctl restart "$unit"
            say "(re)started $unit"
        else
            say "enabled $unit; start it with: systemctl start $unit"
        fi
    else
        # No running systemd (a chroot, an image, a test root): enable offline, start nothing.
        local wants="$R$UNIT_DIR/multi-user.target.wants"
        mkdir -p "$wants"
        ln -sfn "$UNIT_DIR/$unit" "$wants/$unit"
        say "enabled $unit offline (systemd is not running here; nothing started)"
    fi
}

uninstall() {
    if [ "$live_systemd" -eq 1 ] && [ -e "$UNIT_DIR/$unit" ]; then
        systemctl disable --now --quiet "$unit" || true
    fi
    rm -f "$R$UNIT_DIR/multi-user.target.wants/$unit" "$R$UNIT_DIR/$unit"
    rmdir "$R$UNIT_DIR/multi-user.target.wants" 2>/dev/null || true
    [ "$role" = agent ] && rm -f "$R$MODULES_FILE" "$R$SYSCTL_FILE"
    [ "$live_systemd" -eq 1 ] && systemctl daemon-reload
    say "removed $unit"
    # The venv, config and user are shared by both roles: keep them (and state) while one remains.
    local other
    for other in "$R$UNIT_DIR"/camsentry-*.service; do
        if [ -e "$other" ]; then
            say "$(basename "$other") is still installed: keeping $PREFIX_OPT, config and state"
            return 0
        fi
    done
    rm -rf "$R$PREFIX_OPT"
    say "removed $PREFIX_OPT"
    if [ "$purge" -eq 1 ]; then
        rm -rf "$R$CONF_DIR" "$R$STATE_DIR" "$R$STATE_DIR-collector"
        say "purged $CONF_DIR, $STATE_DIR and $STATE_DIR-collector"
        if have_user && [ "$is_root" -eq 1 ]; then
            userdel "${account_args[@]}" "$USER_NAME"
            if grep -q "^$USER_NAME:" "$R/etc/group" 2>/dev/null; then
                groupdel "${account_args[@]}" "$USER_NAME"
            fi
            say "removed the $USER_NAME account"
        elif have_user; then
            say "not root: left the $USER_NAME account in $root/etc/passwd"
        fi
    else
        say "kept $CONF_DIR, $STATE_DIR and the $USER_NAME account (--purge removes them)"
    fi
}

if [ "$action" = uninstall ]; then
    uninstall
    exit 0
fi
install_packages
ensure_user
install_venv
install_config
install_unit
say "done: $role installed under ${root}"
