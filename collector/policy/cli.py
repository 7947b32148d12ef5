"""``camsentry-collector`` subcommands for policy, violations, quarantine, commands and compliance.

The collector's CLI registers them with ``add_policy_commands(subparsers, ctx)``; each parser
gets ``func=handler`` where ``handler(args) -> int`` is the exit code (0 ok, 1 refused or
invalid, 2 not found or ambiguous; ``quarantine``/``release``, which wait for the agent's ack
as the database records it: 3 the agent refused or failed it, 4 no ack in time). Database,
command sending and the device list come in through ``PolicyCliContext`` so this module never
opens MQTT or chooses a database itself.
``ctx`` may be a context or a factory ``(args) -> PolicyCliContext`` called when a command
runs (after the collector has read its ``--config``). A CLI that already has a ``report``
command passes ``include_report=False`` and calls ``run_compliance_report(ctx, fmt)`` itself.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time as time_module
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO

from agent.enforce.rules import Quarantine, render_quarantine
from agent.runtime.clock import Clock, SystemClock
from agent.runtime.table import FORMATS, Column, render
from agent.wire.addresses import is_plain_address
from agent.wire.commands import CommandAction
from agent.wire.timefmt import parse_utc
from collector.cmdqueue import service_running
from collector.policy.commanding import (
    CommandSender,
    last_command,
    policy_params,
    quarantines_in_force,
    recent_commands,
    wait_for_ack,
)
from collector.policy.engine import DeviceFact
from collector.policy.model import Policy, PolicyError, check_policy_file, default_policy, load_policy
from collector.policy.pushing import push_decision
from collector.reports.compliance import RENDERERS, build_compliance
from collector.store.transaction import Database
from collector.violations import TransitionError, ViolationRow, ViolationState, ViolationStore

EXIT_OK, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_NOT_APPLIED, EXIT_NO_ACK = 0, 1, 2, 3, 4
# How long ``quarantine``/``release`` wait for the agent's ack by default: an agent answers in
# well under a second; a reconnecting one within its MQTT keepalive.
DEFAULT_ACK_WAIT_S = 30.0


@dataclass(frozen=True)
class DeviceLocation:
    site: str
    agent: str
    device_id: str
    address: str


@dataclass(frozen=True)
class PolicyCliContext:
    """What the handlers need from the collector; the lead builds one from its config."""

    connect: Callable[[], Database]
    send_command: CommandSender | None = None
    policy_path: Path | None = None
    list_devices: Callable[[], Sequence[DeviceFact]] | None = None
    # Enrolled, not revoked agents as (site, agent): who ``policy push`` can send to.
    list_agents: Callable[[], Sequence[tuple[str, str]]] | None = None
    clock: Clock = field(default_factory=SystemClock)
    # How a CLI waiting for an ack passes the time between looks (tests move a fake clock).
    pause: Callable[[float], object] = time_module.sleep
    out: TextIO | None = None
    err: TextIO | None = None


class _Run:
    """One handler invocation: output streams, a connection closed at the end."""

    def __init__(self, ctx: PolicyCliContext) -> None:
        self.ctx = ctx
        self.out = ctx.out or sys.stdout
        self.err = ctx.err or sys.stderr
        self._conn: Database | None = None

    def connection(self) -> Database:
        if self._conn is None:
            self._conn = self.ctx.connect()
        return self._conn

    def store(self) -> ViolationStore:
        return ViolationStore(self.connection(), clock=self.ctx.clock)

    def policy(self) -> Policy:
        return load_policy(self.ctx.policy_path) if self.ctx.policy_path else default_policy()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


Handler = Callable[[_Run, argparse.Namespace], int]


ContextSource = PolicyCliContext | Callable[[argparse.Namespace], PolicyCliContext]


def _wrap(ctx: ContextSource, handler: Handler) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        r = _Run(ctx if isinstance(ctx, PolicyCliContext) else ctx(args))
        try:
            return handler(r, args)
        except (TransitionError, PolicyError) as exc:
            print(f"error: {exc}", file=r.err)
            return EXIT_INVALID
        finally:
            r.close()

    return run


# -- handlers ------------------------------------------------------------------------------


def _policy_check(r: _Run, args: argparse.Namespace) -> int:
    path = Path(args.file)
    errors = check_policy_file(path)
    for line in errors:
        print(line, file=r.err)
    if errors:
        return EXIT_INVALID
    print(f"{path}: ok ({load_policy(path).version})", file=r.out)
    return EXIT_OK


def _policy_push(r: _Run, args: argparse.Namespace) -> int:
    if r.ctx.send_command is None or r.ctx.list_agents is None:
        print("error: this collector cannot send commands (no MQTT or no signing key)", file=r.err)
        return EXIT_INVALID
    policy = r.policy()
    agents = [
        (site, agent)
        for site, agent in r.ctx.list_agents()
        if (args.site is None or site == args.site) and (args.agent is None or agent == args.agent)
    ]
    if not agents:
        print("error: no enrolled agent matches --site/--agent", file=r.err)
        return EXIT_NOT_FOUND
    conn = r.connection()
    for site, agent in agents:
        params = policy_params(policy, site)
        last = last_command(conn, site, agent, CommandAction.POLICY)
        decision = push_decision(last, params, r.ctx.clock.now())
        if not decision.send and not args.force:
            print(f"{site}/{agent}: not sent: {decision.why} (--force sends it anyway)", file=r.out)
            continue
        cid = r.ctx.send_command(site, agent, CommandAction.POLICY, "", params, issued_by=args.by)
        scope = (
            "its config allowlist (no list for the site)" if params["egress"] is None else "egress allowlist"
        )
        print(f"{site}/{agent}: policy {policy.version[:19]}… sent as command {cid}: {scope}", file=r.out)
    return EXIT_OK


VIOLATION_COLUMNS = [
    Column("id"),
    Column("severity"),
    Column("state"),
    Column("accepted_until", "UNTIL"),
    Column("site"),
    Column("agent"),
    Column("address"),
    Column("rule"),
    Column("summary", width=72),
]
AUDIT_COLUMNS = [
    Column("at"),
    Column("who"),
    Column("action"),
    Column("from_state", "FROM"),
    Column("to_state", "TO"),
    Column("reason", width=72),
]


def _violation_rows(r: _Run, rows: Sequence[ViolationRow], fmt: str = "table") -> int:
    if fmt == "json":  # the whole record, detail and evidence included
        json.dump([v.as_dict() for v in rows], r.out, indent=2, sort_keys=True)
        r.out.write("\n")
    else:
        r.out.write(
            render(
                [{**v.as_dict(), "address": v.address or v.device_id} for v in rows], VIOLATION_COLUMNS, fmt
            )
        )
    return EXIT_OK


def _violations(r: _Run, args: argparse.Namespace) -> int:
    states = {ViolationState(s) for s in args.state} if args.state else None
    rows = r.store().list_violations(site=args.site, states=states, rules=args.rule or None)
    if args.since is not None:  # what an alert digest points at: opened since its first alert
        rows = [v for v in rows if v.opened_at >= args.since]
    return _violation_rows(r, rows, args.format)


def _audit(r: _Run, args: argparse.Namespace) -> int:
    entries = r.store().audit(args.id)
    if not entries:
        print(f"error: no audit trail for {args.id}", file=r.err)
        return EXIT_NOT_FOUND
    r.out.write(render([vars(e) for e in entries], AUDIT_COLUMNS, args.format))
    return EXIT_OK


def _ack(r: _Run, args: argparse.Namespace) -> int:
    return _violation_rows(r, [r.store().acknowledge(args.id, by=args.by, reason=args.reason)])


def _resolve(r: _Run, args: argparse.Namespace) -> int:
    return _violation_rows(r, [r.store().resolve(args.id, by=args.by, reason=args.reason)])


def parse_since(text: str) -> datetime:
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from exc


def parse_until(text: str) -> datetime:
    """``2027-01-31`` means through the end of that day (UTC); RFC 3339 times are taken as given."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text) + timedelta(days=1), time(0), tzinfo=UTC)
        return parse_utc(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD) or RFC 3339 time: {text!r}") from exc


def _accept_risk(r: _Run, args: argparse.Namespace) -> int:
    return _violation_rows(
        r, [r.store().accept_risk(args.id, by=args.by, reason=args.reason, until=args.until)]
    )


def _locate(r: _Run, device: str, site: str | None, agent: str | None) -> list[DeviceLocation]:
    found: set[DeviceLocation] = set()
    if r.ctx.list_devices is not None:
        for d in r.ctx.list_devices():
            if device in (d.device_id, d.address):
                found.add(DeviceLocation(d.site, d.agent, d.device_id, d.address))
    for v in r.store().list_violations():
        if v.address and device in (v.device_id, v.address):
            found.add(DeviceLocation(v.site, v.agent, v.device_id, v.address))
    if site and agent and not found:
        if not is_plain_address(device):
            return []
        found.add(DeviceLocation(site, agent, device, device))
    return sorted(
        (f for f in found if (site is None or f.site == site) and (agent is None or f.agent == agent)),
        key=lambda f: (f.site, f.agent, f.address),
    )


def _command(r: _Run, args: argparse.Namespace, action: CommandAction) -> int:
    if "%" in args.device:
        print(f"error: {args.device}: scoped addresses (with %zone) are refused", file=r.err)
        return EXIT_INVALID
    places = [p for p in _locate(r, args.device, args.site, args.agent) if is_plain_address(p.address)]
    if len(places) != 1:
        problem = (
            "is not known"
            if not places
            else "is ambiguous: " + ", ".join(f"{p.site}/{p.agent}/{p.address}" for p in places)
        )
        print(f"error: device {args.device} {problem}; give --site and --agent (and an address)", file=r.err)
        return EXIT_NOT_FOUND
    place = places[0]
    policy = r.policy()
    recorders = policy.site(place.site).recorders
    if action is CommandAction.QUARANTINE and getattr(args, "dry_run", False):
        in_force = quarantines_in_force(r.connection())
        others = [
            q
            for (s, a, dev), q in in_force.items()
            if (s, a) == (place.site, place.agent) and dev != place.address
        ]
        print(
            f"# dry run: the ruleset {place.site}/{place.agent} would apply; nothing sent, nothing changed.\n"
            "# The agent adds any recorders it knows itself for the device.",
            file=r.out,
        )
        r.out.write(render_quarantine([*others, Quarantine(place.address, recorders, 0)]))
        return EXIT_OK
    if r.ctx.send_command is None:
        print("error: this collector cannot send commands (no MQTT or no signing key)", file=r.err)
        return EXIT_INVALID
    params: dict[str, Any] = {"recorders": list(recorders)} if action is CommandAction.QUARANTINE else {}
    cid = r.ctx.send_command(place.site, place.agent, action, place.address, params, issued_by=args.by)
    print(f"{action.value} command {cid} sent to {place.site}/{place.agent} for {place.address}", file=r.out)
    if args.wait <= 0:
        return EXIT_OK
    return _await_ack(r, place.site, place.agent, cid, args.wait)


def _await_ack(r: _Run, site: str, agent: str, cid: int, wait_s: float) -> int:
    """Print the agent's answer to command ``cid`` as the database has it; the exit code says it."""
    if not service_running(r.connection(), r.ctx.clock):
        print(
            f"not waiting for the ack: no collector service is running to send command {cid}; "
            f"see `commands --site {site} --agent {agent}` once it has gone out",
            file=r.err,
        )
        return EXIT_NO_ACK
    status = wait_for_ack(
        r.connection(), site, agent, cid, timeout_s=wait_s, clock=r.ctx.clock, pause=r.ctx.pause
    )
    if status is None:
        print(
            f"error: no ack from {site}/{agent} within {wait_s:g} s; the command stays valid until it "
            f"expires: see `commands --site {site} --agent {agent}`",
            file=r.err,
        )
        return EXIT_NO_ACK
    print(f"command {cid}: {status.verdict()}", file=r.out if status.in_force else r.err)
    return EXIT_OK if status.in_force else EXIT_NOT_APPLIED


COMMAND_COLUMNS = [
    Column("site"),
    Column("agent"),
    Column("id", align="right"),
    Column("action"),
    Column("device"),
    Column("issued"),
    Column("issued_by", "BY"),
    Column("outcome"),
    Column("reason"),
    Column("detail", width=72),
]


def _commands(r: _Run, args: argparse.Namespace) -> int:
    rows = recent_commands(r.connection(), site=args.site, agent=args.agent, limit=args.limit)
    r.out.write(render([c.as_row() for c in rows], COMMAND_COLUMNS, args.format))
    return EXIT_OK


def _command_handler(action: CommandAction) -> Handler:
    def handler(r: _Run, args: argparse.Namespace) -> int:
        return _command(r, args, action)

    return handler


def _report(r: _Run, args: argparse.Namespace) -> int:
    policy = r.policy()
    store = r.store()
    devices = list(r.ctx.list_devices()) if r.ctx.list_devices else []
    report = build_compliance(policy, store.list_violations(), devices, r.ctx.clock.now())
    r.out.write(RENDERERS[args.format](report))
    return EXIT_OK


def run_compliance_report(ctx: PolicyCliContext, fmt: str = "table") -> int:
    """``report compliance`` for a CLI that owns its own ``report`` command."""
    return _wrap(ctx, _report)(argparse.Namespace(format=fmt))


# -- registration --------------------------------------------------------------------------


def _add_format(parser: argparse.ArgumentParser, note: str = "") -> None:
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help=f"table, csv or json{f' ({note})' if note else ''}"
    )
    parser.add_argument("--json", dest="format", action="store_const", const="json", help="--format json")


def add_policy_commands(subparsers: Any, ctx: ContextSource, *, include_report: bool = True) -> None:
    """Add policy (check, push), violations, audit, ack, accept-risk, resolve, quarantine, release,
    report."""
    user = getpass.getuser()

    policy = subparsers.add_parser("policy", help="segmentation policy file")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_sub.add_parser("check", help="validate a policy file (errors name file, key, problem)")
    check.add_argument("file")
    check.set_defaults(func=_wrap(ctx, _policy_check))
    push = policy_sub.add_parser(
        "push",
        help="send the policy's egress allowlist to agents (skips those that already acked it)",
    )
    push.add_argument("--site", help="only this site's agents")
    push.add_argument("--agent", help="only agents with this name")
    push.add_argument("--force", action="store_true", help="send even to agents that acked this policy")
    push.add_argument("--by", default=user)
    push.set_defaults(func=_wrap(ctx, _policy_push))

    vio = subparsers.add_parser("violations", help="list violations, worst first")
    vio.add_argument("--site")
    vio.add_argument("--state", action="extend", nargs="+", choices=[s.value for s in ViolationState])
    vio.add_argument("--rule", action="append")
    vio.add_argument("--since", type=parse_since, help="opened at or after this RFC 3339 time")
    _add_format(vio, "json: whole records")
    vio.set_defaults(func=_wrap(ctx, _violations))

    audit = subparsers.add_parser("audit", help="a violation's audit trail")
    audit.add_argument("id")
    _add_format(audit)
    audit.set_defaults(func=_wrap(ctx, _audit))

    for name, handler, text in (
        ("ack", _ack, "acknowledge an open violation"),
        ("resolve", _resolve, "mark a violation resolved"),
    ):
        p = subparsers.add_parser(name, help=text)
        p.add_argument("id")
        p.add_argument("--by", default=user, help="who (default: login name)")
        p.add_argument("--reason", required=True)
        p.set_defaults(func=_wrap(ctx, handler))

    risk = subparsers.add_parser("accept-risk", help="accept a violation's risk until a date")
    risk.add_argument("id")
    risk.add_argument("--until", required=True, type=parse_until, help="YYYY-MM-DD (through that day, UTC)")
    risk.add_argument("--reason", required=True)
    risk.add_argument("--by", default=user)
    risk.set_defaults(func=_wrap(ctx, _accept_risk))

    for action in (CommandAction.QUARANTINE, CommandAction.RELEASE):
        p = subparsers.add_parser(action.value, help=f"send a signed {action.value} command to the agent")
        p.add_argument("device", help="device address or id")
        p.add_argument("--site")
        p.add_argument("--agent")
        p.add_argument("--by", default=user)
        if action is CommandAction.QUARANTINE:
            p.add_argument("--dry-run", action="store_true", help="print the exact rules, send nothing")
        p.add_argument(
            "--wait",
            type=float,
            default=DEFAULT_ACK_WAIT_S,
            metavar="SECONDS",
            help=f"wait this long for the agent's ack and print it (default {DEFAULT_ACK_WAIT_S:g}); "
            "exit 0 applied, 3 refused or failed, 4 no ack",
        )
        p.add_argument("--no-wait", dest="wait", action="store_const", const=0.0, help="send and exit")
        p.set_defaults(func=_wrap(ctx, _command_handler(action)))

    cmds = subparsers.add_parser("commands", help="commands sent to agents and what each agent answered")
    cmds.add_argument("--site")
    cmds.add_argument("--agent")
    cmds.add_argument("--limit", type=int, default=50, help="newest first (default 50)")
    _add_format(cmds)
    cmds.set_defaults(func=_wrap(ctx, _commands))

    if not include_report:
        return
    report = subparsers.add_parser("report", help="reports")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    comp = report_sub.add_parser("compliance", help="compliance by site and department")
    comp.add_argument("--format", choices=sorted(RENDERERS), default="table")
    comp.set_defaults(func=_wrap(ctx, _report))
