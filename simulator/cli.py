"""``camsentry-sim``: run a fleet, list profiles, validate a fleet file.

``camsentry-sim run --fleet FILE --manifest OUT.json`` starts every camera, writes the manifest atomically
once all listen, prints one line ``{"event": "ready", "manifest": ..., "cameras": N}`` to stdout, and runs
until SIGTERM or SIGINT, after which it closes every socket and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

import structlog

from simulator.fleet import Fleet, FleetError, build_fleet, bundled_fleet_path
from simulator.profile import ProfileError, bundled_profiles
from simulator.runner import FleetRunner, write_manifest
from simulator.safety import UnsafeAddress

log = structlog.get_logger("simulator.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="camsentry-sim", description="Simulated ONVIF camera fleet")
    parser.add_argument("--version", action="version", version=f"camsentry-sim {version('camsentry')}")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-format", choices=("auto", "json", "console"), default="auto")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start a fleet")
    run.add_argument("--fleet", type=Path, default=None, help="fleet TOML (default: bundled demo-site)")
    run.add_argument("--manifest", type=Path, required=True, help="where to write the manifest JSON")
    run.add_argument("--port", type=int, default=None, help="override fleet.port")
    run.add_argument("--base-address", default=None, help="override fleet.base_address")
    run.add_argument("--multicast-interface", default=None, help="answer multicast probes on this interface")
    run.add_argument("--no-discovery", action="store_true")
    sub.add_parser("profiles", help="list bundled profiles")
    check = sub.add_parser("check", help="validate a fleet file and print its manifest without listening")
    check.add_argument("--fleet", type=Path, required=True)
    clean = sub.add_parser("cleanup", help="remove namespaces (and their processes) left by a crashed run")
    clean.add_argument("--prefix", required=True, help="namespace name prefix, e.g. cs-sim-")
    return parser


def _load(args: argparse.Namespace) -> Fleet:
    import tomllib

    path = args.fleet or bundled_fleet_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FleetError(f"{path}: {exc}") from exc
    head = data.setdefault("fleet", {})
    if getattr(args, "port", None) is not None:
        head["port"] = args.port
    if getattr(args, "base_address", None) is not None:
        head["base_address"] = args.base_address
    return build_fleet(data, str(path))


async def _run(args: argparse.Namespace) -> int:
    fleet = _load(args)
    runner = FleetRunner(fleet, discovery=not args.no_discovery, multicast_interface=args.multicast_interface)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runner.astart()
    try:
        manifest = args.manifest.resolve()
        write_manifest(manifest, runner.manifest)
        sys.stdout.write(
            json.dumps({"event": "ready", "manifest": str(manifest), "cameras": len(fleet.cameras)})
        )
        sys.stdout.write("\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await runner.astop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from simulator.logs import configure_logging

    configure_logging(args.log_level, args.log_format)
    try:
        if args.command == "profiles":
            for pid, p in sorted(bundled_profiles().items()):
                print(f"{pid}\t{p.vendor}\t{p.brand}\t{p.model}\t{p.firmware}\tflaw={p.auth_flaw.value}")
            return 0
        if args.command == "cleanup":
            from simulator.topology import cleanup_prefix

            if not args.prefix.startswith("cs-"):
                print("camsentry-sim: cleanup only removes namespaces named cs-...", file=sys.stderr)
                return 2
            print(json.dumps({"event": "cleanup", "deleted": cleanup_prefix(args.prefix)}))
            return 0
        if args.command == "check":
            fleet = _load(args)
            print(json.dumps([c.manifest_entry() for c in fleet.cameras], indent=1))
            return 0
        return asyncio.run(_run(args))
    except (FleetError, ProfileError) as exc:
        print(f"camsentry-sim: {exc}", file=sys.stderr)
        return 2
    except UnsafeAddress as exc:
        print(f"camsentry-sim: refused: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"camsentry-sim: cannot listen: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
