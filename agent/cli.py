"""``camsentry-agent``: keygen, run, scan, status."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import structlog

from agent import __version__
from agent.config import DEFAULT_CONFIG, DEFAULT_STATE_DIR, AgentConfig, load_agent_config
from agent.runtime.clierrors import OPERATOR_ERRORS, report_operator_error, stdout_closed
from agent.runtime.errors import ConfigError
from agent.runtime.mqttconfig import check_tls_files
from agent.wire.enrol import key_fingerprint
from agent.wire.signing import load_or_create_private_key, print_keygen, public_key_to_text

if TYPE_CHECKING:
    from agent.egress.watcher import DeviceLookup, EgressWatcher
    from agent.enforce.handler import CommandHandler
    from agent.enforce.policy import EgressPolicy
    from agent.onvif.sitesweep import SiteSweep
    from agent.wire.lifecycle import Capabilities

KEY_FILE = "agent.key"


def cmd_keygen(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir)
    if args.config:
        state_dir = load_agent_config(Path(args.config)).state_dir
    key = print_keygen(state_dir / KEY_FILE)
    public = public_key_to_text(key.public_key())
    print(
        f"fingerprint {key_fingerprint(public)} (compare with `camsentry-collector agents pending`)",
        file=sys.stderr,
    )
    return 0


def build_sweep(config: AgentConfig) -> SiteSweep:
    """The ONVIF sweep: configured cameras, WS-Discovery's and recorders' channels ([discovery]);
    imports onvif-zeep only here."""
    from agent.onvif.neighbours import system_neighbour_table
    from agent.onvif.sitesweep import SiteSweep
    from agent.onvif.sweep import Sweeper
    from agent.onvif.targets import parse_camera_tables
    from agent.onvif.tls import PinStore

    targets = parse_camera_tables(list(config.cameras), config.file)
    sweeper = Sweeper(
        neighbour_macs=system_neighbour_table(),  # MACs for cameras that do not report their own
        concurrency=config.polling.concurrency,
        per_camera_timeout_s=config.polling.per_camera_timeout_s,
        try_default_credentials=config.polling.try_default_credentials,
        pins=PinStore.in_dir(config.state_dir),  # https cameras' certificates, pinned on first use
    )
    # A callable object: its health() holds the last sweep's discovery problems.
    return SiteSweep(sweeper, targets, config.discovery)


def cmd_run(args: argparse.Namespace) -> int:
    config = load_agent_config(Path(args.config))
    sweep = build_sweep(config)  # before logging: onvif-zeep reconfigures logging on import
    from agent.daemon import AgentDaemon
    from agent.runtime import sdnotify
    from agent.runtime.logs import configure_logging

    configure_logging(config.log_level, config.log_format)  # type: ignore[arg-type]
    check_tls_files(config.mqtt, config.file)  # a missing certificate names its key, not "None"
    key, _ = load_or_create_private_key(config.key_path)  # first start: a key to ask enrolment with
    from agent.egress.devices import DeviceDirectory

    devices = DeviceDirectory()  # the sweep's cameras, so flow findings name the device
    egress = build_egress(config, devices)
    commands, policy = build_commands(config, egress)  # before the watcher starts: pushed policy back
    daemon = AgentDaemon(
        config,
        key,
        sweep=sweep,
        sweep_health=sweep.health,
        notify=sdnotify.notify,
        commands=commands,
        egress=egress,
        devices=devices.update,
        policy=policy,
        capabilities=lambda: capabilities(config, commands, egress),
    )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        daemon.stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    metrics = start_metrics(config, daemon)
    try:
        daemon.run()
    finally:
        if metrics is not None:
            metrics.stop()
    return 0


def start_metrics(config: AgentConfig, daemon: Any) -> Any:
    """``[metrics] listen``: /metrics for Prometheus; prometheus-client is the ``metrics`` extra."""
    if config.metrics is None:
        return None
    try:
        from agent.metrics import registry_for
    except ImportError as exc:
        raise ConfigError(
            config.file,
            "metrics.listen",
            f"needs prometheus-client ({exc.name}): pip install 'camsentry[metrics]'",
        ) from None
    from agent.runtime.metricsserver import MetricsServer

    server = MetricsServer(config.metrics, registry_for(daemon))
    server.start()
    return server


def build_egress(config: AgentConfig, devices: DeviceLookup | None = None) -> EgressWatcher | None:
    """The egress watch, when the config has an [egress] table; ``devices`` names flow sources."""
    if not config.egress:
        return None
    from agent.egress.config import parse_egress_config
    from agent.egress.watcher import EgressWatcher

    watcher_config = parse_egress_config(config.egress, config.file)
    if devices is None:
        return EgressWatcher(watcher_config)
    return EgressWatcher(watcher_config, devices)


def capabilities(config: AgentConfig, commands: CommandHandler, egress: EgressWatcher | None) -> Capabilities:
    """What this agent can do, for its birth and health bodies: enforcement as the command
    handler found it at start, the egress sources configured, /metrics on or off."""
    from agent.wire.lifecycle import Capabilities

    sources: tuple[str, ...] = ()
    if egress is not None:
        flags = (
            ("conntrack", egress.config.conntrack),
            ("sockets", egress.config.sockets),
            ("dns", egress.config.dns),
        )
        sources = tuple(name for name, on in flags if on)
    return Capabilities(commands.capability(), sources, config.metrics is not None)


def build_commands(
    config: AgentConfig, egress: EgressWatcher | None = None
) -> tuple[CommandHandler, EgressPolicy]:
    """Signed-command handling; rules are applied with nft only when enforcement is enabled.

    A policy push replaces ``egress``'s allowlist (or is kept for later without one); the last
    one applied is put back here, before the watcher starts, so a restart does not fall back to
    the config's allowlist.
    """
    from agent.enforce.errors import EnforceError
    from agent.enforce.handler import CommandHandler
    from agent.enforce.nft import SubprocessNft
    from agent.enforce.policy import EgressPolicy
    from agent.wire.signing import public_key_from_text

    policy = EgressPolicy(egress)
    handler = CommandHandler(
        public_key_from_text(config.collector_public_key),
        config.state_dir,
        SubprocessNft(config.enforce.nft_command) if config.enforce.enabled else None,
        lambda _device: config.enforce.recorders,
        site=config.site,
        agent=config.agent,
        on_policy=policy,
    )
    try:
        state = handler.state()
        if state.set_aside:
            policy.failed_to_load(f"damaged enforce state set aside as {state.set_aside}")
        policy.restore(state.policy)
    except EnforceError as exc:
        policy.failed_to_load(str(exc))
    if config.enforce.enabled:
        try:
            handler.restore()  # quarantines survive agent restarts
        except EnforceError as exc:  # nft refused, or the state is unreadable: serve on, loudly
            structlog.get_logger("camsentry.agent").error("quarantine_restore_failed", error=str(exc))
    return handler, policy


def cmd_status(args: argparse.Namespace) -> int:
    config = load_agent_config(Path(args.config))
    try:
        status = json.loads(config.status_path.read_text())
    except FileNotFoundError:
        print(f"no status at {config.status_path}: is the agent running?", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
        return 0
    outbox = status.get("outbox", {})
    pub = status.get("publisher", {})
    sweep = status.get("last_sweep") or {}
    rows = [
        ("site/agent", f"{status.get('site')}/{status.get('agent')}"),
        ("updated", status.get("updated")),
        ("process", _process_line(status.get("pid"))),
        ("broker", "connected" if status.get("connected") else "DISCONNECTED"),
        ("queue depth", f"{outbox.get('depth')} envelopes, {outbox.get('bytes')} bytes"),
        ("dropped", json.dumps(outbox.get("dropped", {}))),
        ("disk", _disk_line(config.state_dir, outbox)),
        ("last publish", pub.get("last_publish_ts") or "never"),
        ("published / confirmed", f"{pub.get('published')} / {pub.get('confirmed')}"),
        ("cameras (last sweep)", f"{sweep.get('devices', '-')} in {sweep.get('duration_s', '-')} s"),
        (
            "discovery problems",
            "; ".join(p.get("problem", "?") for p in sweep.get("discovery_problems", [])) or "none",
        ),
        ("egress allowlist", _policy_line(status.get("policy") or {})),
        ("errors", "; ".join(status.get("errors", [])) or "none"),
        ("config warnings", "; ".join(status.get("config_warnings", [])) or "none"),
    ]
    for name, value in rows:
        print(f"{name:<24} {value}")
    return 0


def _process_line(pid: object) -> str:
    """Whether the agent that wrote the status file is still there: a stopped agent leaves its
    last status behind, which read alone looks like a running agent."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return "unknown"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"NOT RUNNING: pid {pid} is gone; the rest is its last status"
    except PermissionError:
        pass  # there, under another user
    return f"running (pid {pid})"


def _disk_line(state_dir: Path, outbox: dict[str, Any]) -> str:
    """Free space now (the status file cannot be rewritten while the disk is full) and what the
    agent last said about it."""
    try:
        vfs = os.statvfs(state_dir)
        free = f"{vfs.f_bavail * vfs.f_frsize} bytes free"
    except OSError as exc:
        free = f"unknown ({exc.strerror})"
    if outbox.get("disk_full"):
        return f"FULL: refusing new evidence, refused {json.dumps(outbox.get('refused', {}))}; {free}"
    return f"ok; {free}"


def _policy_line(policy: dict[str, Any]) -> str:
    origin = policy.get("allowlist_origin")
    if origin is None:
        where = "no [egress] table"
    elif origin == "config":
        where = f"from the config ({policy.get('allow_entries')} entries)"
    else:
        where = f"from policy {origin} ({policy.get('allow_entries')} entries)"
    state, version = policy.get("state", "none"), policy.get("policy_version")
    pushed = f"; last push {version}: {state}" if version else ""
    problem = f"; PROBLEM: {policy['problem']}" if policy.get("problem") else ""
    return where + pushed + problem


def cmd_scan(args: argparse.Namespace, rest: list[str]) -> int:
    from agent.onvif.scan_cli import run_scan

    return int(run_scan(rest))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="camsentry-agent", description="camsentry site agent")
    parser.add_argument("--version", action="version", version=f"camsentry-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    keygen = sub.add_parser("keygen", help="create the agent's signing key (0600) and print its public key")
    keygen.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR))
    keygen.add_argument("--config", help="take the state directory from this agent config")
    run = sub.add_parser("run", help="run the agent daemon")
    run.add_argument("--config", default=str(DEFAULT_CONFIG))
    status = sub.add_parser("status", help="show the running agent's state")
    status.add_argument("--config", default=str(DEFAULT_CONFIG))
    status.add_argument("--json", action="store_true")
    sub.add_parser("scan", help="one sweep with no broker (see camsentry-agent scan --help)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "scan":
        try:
            return cmd_scan(argparse.Namespace(), argv[1:])
        except BrokenPipeError:
            return stdout_closed()
    args = build_parser().parse_args(argv)
    if args.command != "run":  # the daemon configures logging from its config; the rest to stderr
        from agent.runtime.logs import configure_logging

        configure_logging("info", cache=False)
    handlers = {"keygen": cmd_keygen, "run": cmd_run, "status": cmd_status}
    try:
        return handlers[args.command](args)
    except OPERATOR_ERRORS as exc:
        return report_operator_error(exc)
    except BrokenPipeError:
        return stdout_closed()


if __name__ == "__main__":
    sys.exit(main())
