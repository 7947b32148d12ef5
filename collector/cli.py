"""``camsentry-collector``: keygen, agents, run, status; reports, register, users, evidence, web
(``collector.reports.cli``); policy and violations (``collector.policy.cli``)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from agent import __version__
from agent.runtime.clierrors import OPERATOR_ERRORS, report_operator_error, stdout_closed
from agent.runtime.clock import SystemClock
from agent.runtime.mqttconfig import check_tls_files
from agent.runtime.table import render
from agent.wire.enrol import key_fingerprint
from agent.wire.signing import KeyFormatError, load_private_key, print_keygen, public_key_from_text
from agent.wire.timefmt import format_utc
from agent.wire.topics import valid_name
from collector.config import CollectorConfig, default_config_path, load_collector_config
from collector.judge.cli import add_vulndb_commands
from collector.policy.cli import PolicyCliContext, add_policy_commands
from collector.reports.cli import add_report_commands
from collector.reports.status import status_rows
from collector.storagestate import read_storage_state
from collector.store import Database, DatabaseUrlError, Store, StoreError, open_store


def _now() -> str:
    return format_utc(datetime.now(UTC))


def _open(config: CollectorConfig, *, migrate: bool = False) -> Store:
    return open_store(config.database, password_file=config.database_password_file, migrate=migrate)


def cmd_migrate(config: CollectorConfig, _args: argparse.Namespace) -> int:
    """Bring the database's schema up to this collector's version (the only command that does)."""
    from agent.runtime.logs import configure_logging

    configure_logging(config.log_level, config.log_format)  # type: ignore[arg-type]
    store = _open(config, migrate=True)
    try:
        print(f"schema at version {store.schema_version()}")
    finally:
        store.close()
    return 0


def cmd_prune(config: CollectorConfig, args: argparse.Namespace) -> int:
    """Delete raw envelopes older than the retention (evidence in use is kept)."""
    from datetime import timedelta

    from collector.store.retention import prune

    days = args.days if args.days is not None else config.retain_envelopes_days
    if days is None or days < 0:
        print(
            "error: no retention: set [store] retain_envelopes_days or pass --days N (N >= 0)",
            file=sys.stderr,
        )
        return 2
    store = _open(config)
    try:
        result = prune(store.db, before=format_utc(datetime.now(UTC) - timedelta(days=days)))
    finally:
        store.close()
    print(f"deleted {result.deleted} envelopes older than {days} days; kept {result.kept} that are evidence")
    return 0


def cmd_keygen(config: CollectorConfig, _args: argparse.Namespace) -> int:
    print_keygen(config.key_path)
    return 0


def cmd_agents(config: CollectorConfig, args: argparse.Namespace) -> int:
    store = _open(config)
    try:
        if args.agents_command == "add":
            for name, value in (("--site", args.site), ("--agent", args.agent)):
                if not valid_name(value):
                    print(f"error: {name} {value!r}: use 1-64 of A-Z a-z 0-9 _ . -", file=sys.stderr)
                    return 2
            try:
                public_key_from_text(args.public_key)
            except KeyFormatError as exc:
                print(f"error: --public-key: {exc}", file=sys.stderr)
                return 2
            store.add_agent(args.site, args.agent, args.public_key.strip(), _now())
            print(f"enrolled {args.site}/{args.agent}")
        elif args.agents_command == "pending":
            requests = [{**r, "fingerprint": key_fingerprint(r["public_key"])} for r in store.pending()]
            if args.json:
                print(json.dumps(requests, indent=2))
            else:
                sys.stdout.write(render(requests, ["site", "agent", "host", "fingerprint", "requested_at"]))
        elif args.agents_command == "approve":
            request = next(
                (r for r in store.pending() if (r["site"], r["agent"]) == (args.site, args.agent)), None
            )
            if request is None:
                print(f"error: no pending request from {args.site}/{args.agent}", file=sys.stderr)
                return 1
            fingerprint = key_fingerprint(request["public_key"])
            if fingerprint != args.fingerprint:
                print(
                    f"error: the request's key fingerprint is {fingerprint}, not {args.fingerprint}; "
                    "compare it with what the agent's box shows before approving",
                    file=sys.stderr,
                )
                return 1
            store.approve_pending(args.site, args.agent, _now())
            print(f"enrolled {args.site}/{args.agent} (key {fingerprint})")
        elif args.agents_command == "revoke":
            if not store.revoke_agent(args.site, args.agent, _now()):
                print(f"error: no active agent {args.site}/{args.agent}", file=sys.stderr)
                return 1
            print(f"revoked {args.site}/{args.agent}")
        else:
            rows: list[dict[str, str | None]] = [
                {
                    "site": a.site,
                    "agent": a.agent,
                    "public_key": a.public_key,
                    "enrolled_at": a.enrolled_at,
                    "revoked_at": a.revoked_at,
                }
                for a in store.agents()
            ]
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                sys.stdout.write(render(rows, ["site", "agent", "public_key", "enrolled_at", "revoked_at"]))
    finally:
        store.close()
    return 0


def cmd_run(config: CollectorConfig, _args: argparse.Namespace) -> int:
    from agent.runtime import sdnotify
    from agent.runtime.logs import configure_logging
    from collector import watchdog
    from collector.service import CollectorService

    configure_logging(config.log_level, config.log_format)  # type: ignore[arg-type]
    check_tls_files(config.mqtt, config.file)  # a missing certificate names its key, not "None"
    key = load_private_key(config.key_path)
    store = _open(config, migrate=config.migrate_on_start)
    service = CollectorService(config, store, key)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, lambda _s, _f: service.request_reload())
    service.start()
    metrics = start_metrics(service)
    sdnotify.notify_ready("collecting")

    # systemd's watchdog (WatchdogSec) restarts a collector one of whose stages is stuck; a
    # failing disk is not a stuck stage (a restart would not help): it shows in the status.
    def status() -> str:
        storage = service.storage
        if storage.failing:
            return f"STORAGE FAILING since {storage.since}: {storage.error[:200]}; receipts withheld"
        return f"stored {service.stored}, duplicates {service.duplicates}"

    watchdog.watch(service.stalled, status, stop, interval_s=watchdog.ping_interval_s())
    sdnotify.notify_stopping()
    if metrics is not None:
        metrics.stop()
    service.stop()
    store.close()
    return 0


def start_metrics(service: Any) -> Any:
    """``[metrics] listen``: serve /metrics (prometheus-client, in the collector extra)."""
    if service.config.metrics is None:
        return None
    from agent.runtime.metricsserver import MetricsServer
    from collector.metrics import registry_for

    registry, _ = registry_for(service)
    server = MetricsServer(service.config.metrics, registry)
    server.start()
    return server


def cmd_status(config: CollectorConfig, args: argparse.Namespace) -> int:
    store = _open(config)
    try:
        rows = status_rows(store, now=datetime.now(UTC), silent_after_s=config.silent_after_s)
    finally:
        store.close()
    storage = read_storage_state(config.state_dir)
    failing = storage is not None and storage.get("storage") == "failing"
    if failing and storage is not None:
        rows.append(
            {
                "site": "-",
                "agent": "(collector storage)",
                "liveness": "FAILING",
                "state": "storage_failing",
                "state_reason": storage.get("error"),
                "last_seen": storage.get("since"),
                "withheld": storage.get("withheld_messages"),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        if failing and storage is not None:
            print(
                f"STORAGE FAILING since {storage.get('since')}: {storage.get('error')}\n"
                f"  {storage.get('withheld_messages')} messages not stored and not confirmed: "
                "agents keep them in their outbox and send again"
            )
        columns = [
            "site",
            "agent",
            "liveness",
            "last_seen",
            "accepted",
            "duplicate",
            "rejected",
            "enforcement",
            "problems",
        ]
        sys.stdout.write(render(rows, columns))
    return 0


def policy_context(config: CollectorConfig) -> PolicyCliContext:
    """What the policy commands need: the database, a way to send signed commands, the policy file."""
    from collector.cmdqueue import QueuedSender
    from collector.policy.facts import device_facts

    def connect() -> Database:
        return _open(config).db  # closed by the command when it is done

    # The running service signs and sends what a one-shot command queues: the CLI never connects
    # to the broker as the collector (with use_username_as_clientid that would end its session).
    send_command = QueuedSender(connect, clock=SystemClock(), err=sys.stderr)

    def list_agents() -> list[tuple[str, str]]:
        store = _open(config)
        try:
            return [(row.site, row.agent) for row in store.agents() if row.revoked_at is None]
        finally:
            store.close()

    def list_devices() -> list[Any]:
        store = _open(config)
        try:
            return device_facts(store.devices())
        finally:
            store.close()

    return PolicyCliContext(
        connect=connect,
        send_command=send_command,
        policy_path=config.policy_path,
        list_agents=list_agents,
        list_devices=list_devices,
    )


def cmd_vulndb(config: CollectorConfig, args: argparse.Namespace) -> int:
    from collector.judge.cli import cmd_vulndb as run

    store = _open(config)
    try:
        return run(store, args)
    finally:
        store.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="camsentry-collector", description="camsentry central collector")
    parser.add_argument("--version", action="version", version=f"camsentry-collector {__version__}")
    parser.add_argument(
        "--config",
        help="collector config (default $CAMSENTRY_COLLECTOR_CONFIG or /etc/camsentry/collector.toml)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("keygen", help="create the collector's signing key (0600) and print its public key")
    agents = sub.add_parser("agents", help="enrol, list and revoke agents")
    agents_sub = agents.add_subparsers(dest="agents_command", required=True)
    add = agents_sub.add_parser("add", help="enrol an agent, or rotate its key")
    add.add_argument("--site", required=True)
    add.add_argument("--agent", required=True)
    add.add_argument("--public-key", required=True)
    revoke = agents_sub.add_parser("revoke", help="refuse an agent's messages from now on")
    revoke.add_argument("--site", required=True)
    revoke.add_argument("--agent", required=True)
    pending = agents_sub.add_parser("pending", help="enrolment requests agents have published")
    pending.add_argument("--json", action="store_true", help="JSON instead of a table")
    approve = agents_sub.add_parser(
        "approve", help="enrol a pending agent after checking its key fingerprint"
    )
    approve.add_argument("--site", required=True)
    approve.add_argument("--agent", required=True)
    approve.add_argument(
        "--fingerprint", required=True, help="as printed by camsentry-agent keygen on the box"
    )
    listing = agents_sub.add_parser("list", help="enrolled agents, their keys, enrolment and revocation")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    sub.add_parser("migrate", help="bring the database schema up to this collector's version")
    prune_cmd = sub.add_parser("prune", help="delete raw envelopes older than the retention, evidence kept")
    prune_cmd.add_argument("--days", type=int, help="instead of [store] retain_envelopes_days")
    sub.add_parser("run", help="run the collector service")
    status = sub.add_parser("status", help="each agent: online/offline, last seen, counts")
    status.add_argument("--json", action="store_true", help="JSON, with each agent's health in full")
    add_report_commands(sub, load_config)
    add_vulndb_commands(sub)
    # The context is built after --config is read, when a policy command runs.
    add_policy_commands(sub, context_for, include_report=False)
    return parser


def context_for(args: argparse.Namespace) -> PolicyCliContext:
    if args.command == "policy" and args.policy_command == "check":  # judges a file: no config needed
        return PolicyCliContext(connect=_no_database)
    return policy_context(load_config(args))


def _no_database() -> Database:
    raise RuntimeError("this command does not use the database")


def load_config(args: argparse.Namespace) -> CollectorConfig:
    return load_collector_config(Path(args.config) if args.config else default_config_path())


# Services configure logging from their config; every other command logs to stderr at this level
# (stdout carries only what the command prints).
ONE_SHOT_LOG_LEVEL = "info"
SERVICES = ("run", "web", "migrate")


def config_first(argv: list[str]) -> list[str]:
    """``--config FILE`` goes before the command, and is taken after it too (where the agent's
    CLI has it): ``camsentry-collector status --config FILE`` is read as ``--config FILE status``."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg.startswith("--config="):
            return [arg, *argv[:i], *argv[i + 1 :]]
        if arg == "--config" and i + 1 < len(argv):
            return [arg, argv[i + 1], *argv[:i], *argv[i + 2 :]]
    return argv


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(config_first(sys.argv[1:] if argv is None else argv))
    if args.command not in SERVICES:
        from agent.runtime.logs import configure_logging

        configure_logging(ONE_SHOT_LOG_LEVEL, cache=False)
    handlers = {
        "keygen": cmd_keygen,
        "agents": cmd_agents,
        "migrate": cmd_migrate,
        "prune": cmd_prune,
        "run": cmd_run,
        "status": cmd_status,
        "vulndb": cmd_vulndb,
    }
    try:
        if args.command not in handlers:
            return int(args.func(args))
        config = load_config(args)
        return handlers[args.command](config, args)
    except (StoreError, DatabaseUrlError) as exc:
        print(f"database error: {exc}", file=sys.stderr)
        return 1
    except OPERATOR_ERRORS as exc:
        return report_operator_error(exc)
    except BrokenPipeError:
        return stdout_closed()


if __name__ == "__main__":
    sys.exit(main())
