"""``camsentry-agent scan``: one sweep with no broker, for an installer on site."""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO, cast

from agent.onvif.discovery import DEFAULT_WAIT_S, MAX_UNICAST_HOSTS
from agent.onvif.sources import (
    MAX_WAIT_S,
    AddressMap,
    DiscoverySettings,
    check_interface,
    parse_range,
    system_interface_addresses,
    unicast_host_count,
)
from agent.onvif.targets import CameraTarget, parse_camera_tables, parse_target_arg
from agent.runtime.errors import ConfigError
from agent.runtime.table import Column, render


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="camsentry-agent scan",
        description="Poll cameras over ONVIF once and print who made them, their firmware and findings.",
    )
    p.add_argument(
        "--target", action="append", default=[], metavar="HOST[:PORT]", help="a camera (repeatable)"
    )
    p.add_argument("--config", metavar="FILE", help="a TOML file with [[camera]] tables (address, port, ...)")
    p.add_argument("--user", help="ONVIF username for --target cameras (and config cameras without one)")
    secret = p.add_mutually_exclusive_group()
    secret.add_argument(
        "--password-file", metavar="FILE", help="read the ONVIF password from FILE's first line"
    )
    secret.add_argument("--password-stdin", action="store_true", help="read the ONVIF password from stdin")
    secret.add_argument(
        "--password", help="ONVIF password on the command line: visible to every user in ps; avoid"
    )
    p.add_argument("--json", action="store_true", help="print a JSON list of device records")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per camera (default 10)")
    p.add_argument("--concurrency", type=int, default=16)
    found = p.add_argument_group("discovery (WS-Discovery; --user/--password apply to what it finds)")
    found.add_argument(
        "--discover",
        action="store_true",
        help="multicast Probe from every non-loopback interface (or only the --interface ones)",
    )
    found.add_argument(
        "--interface",
        action="append",
        default=[],
        metavar="NAME|ADDR",
        help="multicast Probe from this interface or local IPv4 address (repeatable)",
    )
    found.add_argument(
        "--range",
        action="append",
        default=[],
        metavar="CIDR",
        help="unicast Probe to every address in this range, e.g. 192.0.2.0/28 (repeatable)",
    )
    found.add_argument("--wait", type=float, default=DEFAULT_WAIT_S, help="seconds to wait for answers (2)")
    p.add_argument(
        "--try-default-credentials",
        action="store_true",
        help="also try factory default passwords (only where the site allows it)",
    )
    return p


def load_targets(args: argparse.Namespace) -> list[CameraTarget]:
    targets: list[CameraTarget] = []
    if args.config:
        path = Path(args.config)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(str(path), "-", f"cannot read: {exc.strerror or exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), "-", f"not TOML: {exc}") from exc
        tables = data.get("camera", [])
        if not isinstance(tables, list):
            raise ConfigError(str(path), "camera", "must be an array of tables ([[camera]])")
        targets += parse_camera_tables(tables, str(path))
    for text in args.target:
        try:
            targets.append(parse_target_arg(text))
        except ValueError as exc:
            raise ConfigError("--target", text, str(exc)) from exc
    if args.user is not None:
        targets = [
            t if t.username is not None else replace(t, username=args.user, password=args.password or "")
            for t in targets
        ]
    return targets


def discovery_settings(
    args: argparse.Namespace, interface_addresses: Callable[[], AddressMap] = system_interface_addresses
) -> DiscoverySettings:
    """The probe the arguments ask for; ConfigError on a bad range, interface or wait."""
    for text in args.range:
        try:
            if ":" in str(parse_range(text)):
                raise ValueError("IPv4 ranges only")
        except ValueError as exc:
            raise ConfigError("--range", text, str(exc)) from exc
    if unicast_host_count(args.range) > MAX_UNICAST_HOSTS:
        raise ConfigError("--range", " ".join(args.range), f"more than {MAX_UNICAST_HOSTS} addresses")
    for text in args.interface:
        try:
            check_interface(text)
        except ValueError as exc:
            raise ConfigError("--interface", text, str(exc)) from exc
    if not 0.1 <= args.wait <= MAX_WAIT_S:
        raise ConfigError("--wait", str(args.wait), f"must be 0.1-{MAX_WAIT_S:g} seconds")
    interfaces = list(args.interface)
    if args.discover and not interfaces:
        interfaces = [
            name
            for name, pairs in sorted(interface_addresses().items())
            if any(not ipaddress.IPv4Address(a).is_loopback for a, _mask in pairs)
        ]
    return DiscoverySettings(
        interfaces=tuple(interfaces),
        unicast=tuple(args.range),
        wait_s=args.wait,
        username=args.user,
        password=(args.password or "") if args.user is not None else None,
    )


CAMERA_COLUMNS = [
    Column("camera"),
    Column("maker", width=12),
    Column("brand", width=12),
    Column("maker_confidence", "CONF", align="right"),
    Column("model", width=24),
    Column("firmware", width=24),
    Column("cves", "CVES", width=60),
]
FINDING_COLUMNS = [Column("camera"), Column("severity"), Column("kind"), Column("detail", width=80)]


def render_table(records: Sequence[dict[str, Any]], out: TextIO) -> None:
    """One line per camera, then one per finding."""
    cameras, findings = [], []
    for r in records:
        camera = f"{r['address']}:{r['port']}"
        cves = [v["cve"] + ("!" if v["kev"] else "") for v in r["vulnerabilities"]]
        cameras.append({**r, "camera": camera, "maker": r["maker"] or "unknown", "cves": cves})
        findings += [{**f, "camera": camera} for f in r["findings"]]
    out.write(render(cameras, CAMERA_COLUMNS))
    out.write("(! = in the CISA Known Exploited Vulnerabilities catalog)\n\n")
    out.write(render(findings, FINDING_COLUMNS))


def read_password(args: argparse.Namespace, stdin: TextIO) -> str | None:
    """The password from --password-file or --password-stdin (its first line), else --password
    with a warning: argv is readable by every user of the machine (ps, /proc/<pid>/cmdline)."""
    if args.password_file is not None:
        try:
            with open(args.password_file, encoding="utf-8") as fh:
                return fh.readline().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("--password-file", args.password_file, f"cannot read: {exc}") from exc
    if args.password_stdin:
        return stdin.readline().rstrip("\r\n")
    if args.password is not None:
        print(
            "warning: --password is visible to other users (ps); use --password-file or --password-stdin",
            file=sys.stderr,
        )
    return cast("str | None", args.password)


def run_scan(argv: list[str], *, configure_logs: bool = True) -> int:
    """Exit 0 when every camera answered, 1 when some did not, 2 on a usage or config error.

    ``configure_logs=False`` leaves logging as the caller set it (tests, embedding)."""
    args = build_parser().parse_args(argv)
    try:
        args.password = read_password(args, sys.stdin)
        targets = load_targets(args)
        discovery = discovery_settings(args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if not targets and not discovery.probing:
        print(
            "camsentry-agent scan: give --target HOST[:PORT], --config FILE, --discover or --range CIDR",
            file=sys.stderr,
        )
        return 2
    from agent.onvif import client

    client.preload()  # before logging is configured: onvif-zeep reconfigures logging on import
    if configure_logs:
        from agent.runtime.logs import configure_logging

        configure_logging("warning")
    from agent.onvif.sweep import Sweeper

    try:
        sweeper = Sweeper(
            concurrency=args.concurrency,
            per_camera_timeout_s=args.timeout,
            try_default_credentials=args.try_default_credentials,
        )
    except ValueError as exc:
        print(f"camsentry-agent scan: {exc}", file=sys.stderr)
        return 2
    from agent.onvif.sitesweep import SiteSweep

    sweep = SiteSweep(sweeper, targets, discovery)
    records = [r.to_json() for r in sweep()]
    for item in sweep.health():
        print(f"discovery: {item.problem}: {item.detail}", file=sys.stderr)
    if not records:
        print("camsentry-agent scan: no camera answered the probe", file=sys.stderr)
        return 1
    if args.json:
        json.dump(records, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        render_table(records, sys.stdout)
    return 0 if all(r["reachable"] for r in records) else 1
