"""``camsentry-collector vulndb import FILE...`` and ``vulndb status``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.identify.tables import load_tables
from agent.runtime.table import Column, render
from collector.judge.dbio import import_file, import_history, load_vulndb
from collector.judge.rules import apply_vulndb
from collector.judge.vulndb import MAX_FILE_BYTES, VulnDbError, VulnFile, parse_vulndb_file
from collector.store import Store


def add_vulndb_commands(sub: Any) -> None:
    vulndb = sub.add_parser("vulndb", help="vulnerability data from files (CISA KEV catalogue, CVE JSON 5)")
    vulndb_sub = vulndb.add_subparsers(dest="vulndb_command", required=True)
    imp = vulndb_sub.add_parser(
        "import",
        help="store KEV catalogue or CVE JSON 5 files; the next policy pass judges every device with them",
    )
    imp.add_argument("files", nargs="+", metavar="FILE")
    vulndb_sub.add_parser("status", help="what has been imported, and what it changes")


def _read(path: Path) -> VulnFile:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise VulnDbError(str(path), f"larger than {MAX_FILE_BYTES} bytes")
        return parse_vulndb_file(path.read_bytes(), str(path))
    except OSError as exc:
        raise VulnDbError(str(path), exc.strerror or str(exc)) from exc


def _effect(store: Store) -> str:
    data = load_vulndb(store.db)
    applied = apply_vulndb(load_tables(), data.kev, data.cves)
    line = (
        f"in effect: KEV catalogue {data.kev_catalog or 'none'} ({len(data.kev)} CVEs), "
        f"{len(data.cves)} CVE records; {applied.kev_flagged} table rows KEV-flagged, "
        f"{applied.imported_rules} match rows from CVE records"
    )
    if applied.unreadable:
        shown = "; ".join(applied.unreadable[:5])
        line += f"\n{len(applied.unreadable)} CVE records give no match rows (e.g. {shown})"
    return line


def cmd_vulndb(store: Store, args: argparse.Namespace) -> int:
    if args.vulndb_command == "status":
        history = import_history(store.db)
        sys.stdout.write(
            render(
                history,
                [
                    "imported_at",
                    "kind",
                    "version",
                    Column("entries", align="right"),
                    Column("source", width=160),
                ],
            )
        )
        print(_effect(store))
        return 0
    try:
        files = [_read(Path(name)) for name in args.files]  # every file checked before any is stored
    except VulnDbError as exc:
        print(f"error: {exc} (nothing imported)", file=sys.stderr)
        return 1
    now = datetime.now(UTC)
    for vf in files:
        import_file(store.db, vf, now)
        what = f"KEV catalogue {vf.version}" if vf.kind == "kev" else "CVE JSON 5 records"
        print(f"imported {what}: {vf.entries} entries from {vf.source}")
    print(_effect(store))
    print("the next policy pass judges every device with it")
    return 0
