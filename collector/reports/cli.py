"""``camsentry-collector`` subcommands for reports, the asset register, web accounts, evidence
bundles and the web view. ``add_report_commands(subparsers, load_config)`` registers them; each
parser gets ``func(args) -> exit code`` (0 ok, 1 refused or invalid, 2 not found)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from agent.wire.timefmt import format_utc
from collector.config import CollectorConfig
from collector.policy.model import Policy, default_policy, load_policy
from collector.register import RegisterError, RegisterStore, parse_mapping, parse_register
from collector.reports.catalog import FORMATS, REPORTS, ReportOptions, build_report, render_named
from collector.reports.estate import Estate, load_estate
from collector.reports.holdings import DEFAULT_MAKERS
from collector.reports.inventory import RESTRICTED_CHOICES, InventoryFilter
from collector.reports.removal import current_snapshot
from collector.reports.snapshots import take_snapshot
from collector.store import Store, open_store
from collector.store.retention import hold_evidence

ConfigLoader = Callable[[argparse.Namespace], CollectorConfig]
EXIT_OK, EXIT_INVALID, EXIT_NOT_FOUND = 0, 1, 2


def open_for(config: CollectorConfig) -> Store:
    return open_store(config.database, password_file=config.database_password_file)


def policy_of(config: CollectorConfig) -> Policy:
    return load_policy(config.policy_path) if config.policy_path else default_policy()


def estate_of(store: Store, config: CollectorConfig, now: datetime | None = None) -> Estate:
    return load_estate(store, policy_of(config), now or datetime.now(UTC))


def record_snapshot(store: Store, estate: Estate) -> None:
    """Today's removal-plan figures (idempotent per day)."""
    conn = store.new_database()
    try:
        take_snapshot(conn, current_snapshot(estate), taken_at=estate.generated_at)
    finally:
        conn.close()


def _since(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def options_from(args: argparse.Namespace) -> ReportOptions:
    restricted = getattr(args, "restricted", None)
    return ReportOptions(
        filters=InventoryFilter(
            sites=tuple(getattr(args, "site", None) or ()),
            departments=tuple(getattr(args, "department", None) or ()),
            makers=tuple(getattr(args, "filter_maker", None) or ()),
            restricted=restricted,
        ),
        makers=tuple(getattr(args, "maker", None) or DEFAULT_MAKERS),
        since=getattr(args, "since", None),
    )


def _write(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def cmd_report(config: CollectorConfig, args: argparse.Namespace) -> int:
    store = open_for(config)
    try:
        estate = estate_of(store, config)
        if args.report == "removal-plan":
            record_snapshot(store, estate)
            estate = estate_of(store, config, estate.now)
    finally:
        store.close()
    _write(render_named(args.report, estate, args.format, options_from(args)))
    return EXIT_OK


def cmd_register(config: CollectorConfig, args: argparse.Namespace) -> int:
    store = open_for(config)
    try:
        conn = store.new_database()
        try:
            registry = RegisterStore(conn)
            if args.register_command == "list":
                from agent.runtime.table import render

                rows = [a.as_dict() for a in registry.assets()]
                columns = [
                    "asset_tag",
                    "site",
                    "make",
                    "model",
                    "serial",
                    "mac",
                    "ip",
                    "purchase_date",
                    "supplier",
                ]
                _write(render(rows, columns, args.format))
                return EXIT_OK
            try:
                mapping = parse_mapping(args.map or [])
                text = Path(args.file).read_text(encoding="utf-8-sig")
                parsed = parse_register(text, mapping)
            except (RegisterError, OSError, UnicodeDecodeError) as exc:
                print(f"error: {args.file}: {exc}", file=sys.stderr)
                return EXIT_INVALID
            for error in parsed.errors:
                print(f"{args.file}: {error}", file=sys.stderr)
            if parsed.ignored:
                print(f"{args.file}: columns not imported: {', '.join(parsed.ignored)}", file=sys.stderr)
            registry.replace(parsed.assets, source=Path(args.file).name, now=format_utc(datetime.now(UTC)))
        finally:
            conn.close()
    finally:
        store.close()
    print(
        f"imported {len(parsed.assets)} assets from {args.file} (replacing the previous register); "
        f"{len(parsed.errors)} row(s) refused"
    )
    return EXIT_INVALID if parsed.errors and not parsed.assets else EXIT_OK


def cmd_users(config: CollectorConfig, args: argparse.Namespace) -> int:
    from collector.users import Role, UserError, UserStore

    store = open_for(config)
    conn = store.new_database()
    try:
        users = UserStore(conn)
        if args.users_command == "add":
            if not args.password_stdin:
                print("error: give the password on standard input with --password-stdin", file=sys.stderr)
                return EXIT_INVALID
            password = sys.stdin.readline().rstrip("\r\n")
            try:
                user = users.add(args.name, Role(args.role), password, now=datetime.now(UTC))
            except UserError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_INVALID
            print(f"added {user.role.value} {user.username}")
        elif args.users_command == "remove":
            try:
                users.remove(args.name)
            except UserError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_NOT_FOUND
            print(f"removed {args.name}")
        else:
            from agent.runtime.table import render

            rows = [
                {"username": u.username, "role": u.role, "created_at": u.created_at} for u in users.users()
            ]
            _write(render(rows, ["username", "role", "created_at"], args.format))
    finally:
        conn.close()
        store.close()
    return EXIT_OK


def cmd_evidence(config: CollectorConfig, args: argparse.Namespace) -> int:
    from collector import evidence

    if args.evidence_command == "verify":
        try:
            doc = evidence.load_bundle(Path(args.bundle).read_bytes())
        except (OSError, evidence.BundleError) as exc:
            print(f"error: {args.bundle}: {exc}", file=sys.stderr)
            return EXIT_INVALID
        verdict = evidence.verify_bundle(doc)
        for agent in verdict.agents:
            print(f"key {agent['site']}/{agent['agent']}: fingerprint {agent['fingerprint']}")
        for check in verdict.checks:
            print(f"{'ok  ' if check.ok else 'FAIL'} {check.ref}{': ' + check.why if check.why else ''}")
        good = sum(c.ok for c in verdict.checks)
        print(
            f"{good} of {len(verdict.checks)} envelopes verified; "
            "compare the key fingerprints with the agents'"
        )
        return EXIT_OK if verdict.ok else EXIT_INVALID
    store = open_for(config)
    try:
        doc_or_error = export_bundle(store, config, device=args.device, report=args.report)
    finally:
        store.close()
    if isinstance(doc_or_error, str):
        print(f"error: {doc_or_error}", file=sys.stderr)
        return EXIT_NOT_FOUND
    Path(args.out).write_text(json.dumps(doc_or_error, indent=1) + "\n")
    print(
        f"wrote {args.out}: {len(doc_or_error['envelopes'])} envelopes, "
        f"{len(doc_or_error['agents'])} agent key(s)"
    )
    return EXIT_OK


def export_bundle(
    store: Store, config: CollectorConfig, *, device: str | None, report: str | None
) -> dict[str, Any] | str:
    """A bundle for one device (by id, address or asset tag) or for the figures of one report."""
    from collector import evidence
    from collector.reports.refs import parse_evidence_ref

    now = datetime.now(UTC)
    estate = estate_of(store, config, now)
    keys = {(a.site, a.agent): a.public_key for a in store.agents()}
    conn = store.new_database()
    try:
        if device is not None:
            found = [
                d
                for d in estate.devices
                if device in (d.device_id, d.address, d.mac, d.serial)
                or (d.asset and d.asset.asset_tag == device)
            ]
            if not found:
                return f"no device {device!r}"
            envelopes = []
            for d in found:
                envelopes += evidence.envelopes_for_device(conn, d.site, d.device_id)
            subject: dict[str, Any] = {"device": device, "devices": [d.device_id for d in found]}
        else:
            assert report is not None
            built = build_report(report, estate)
            refs = set()
            for section in built.sections:
                for row in section.rows:
                    for column in ("evidence", "envelopes"):
                        values = row.get(column)
                        for value in values if isinstance(values, list) else [values]:
                            if isinstance(value, str) and value.count("/") == 2:
                                refs.add(parse_evidence_ref(value))
            envelopes = evidence.envelopes_for_refs(conn, refs)
            subject = {"report": report, "generated_at": built.generated_at, "figures": built.figures}
        # A bundle handed out is evidence in use: retention must not delete what it stands on.
        hold_evidence(
            conn,
            [(e.site, e.agent, e.boot, e.seq) for e in envelopes],
            held_by=f"evidence export {device or report}",
            now=format_utc(now),
        )
    finally:
        conn.close()
    return evidence.build_bundle(envelopes, keys, subject=subject, now=now)


def cmd_web(config: CollectorConfig, args: argparse.Namespace) -> int:
    from collector.web.server import serve
    from collector.web.settings import parse_listen

    if args.listen is not None:
        try:
            parse_listen(args.listen)
        except ValueError as exc:
            print(f"error: --listen: {exc}", file=sys.stderr)
            return EXIT_INVALID
    return serve(config, listen=args.listen)


def add_report_commands(sub: Any, load_config: ConfigLoader) -> None:
    def wrap(
        handler: Callable[[CollectorConfig, argparse.Namespace], int],
    ) -> Callable[[argparse.Namespace], int]:
        return lambda args: handler(load_config(args), args)

    report = sub.add_parser("report", help="reports in table, CSV, JSON or HTML")
    report_sub = report.add_subparsers(dest="report", required=True)
    for name in REPORTS:
        p = report_sub.add_parser(name, help=f"the {name} report")
        p.add_argument("--format", choices=FORMATS, default="table", help="default table (the terminal)")
        p.add_argument("--json", dest="format", action="store_const", const="json", help="--format json")
        if name == "inventory":
            p.add_argument("--site", action="append", help="only this site (repeatable)")
            p.add_argument("--department", action="append", help="only this department (repeatable)")
            p.add_argument(
                "--maker",
                dest="filter_maker",
                metavar="MAKER",
                action="append",
                help="hardware maker or label brand (repeatable)",
            )
            p.add_argument(
                "--restricted",
                nargs="?",
                const="yes",
                default=None,
                choices=tuple(RESTRICTED_CHOICES),
                metavar="WHICH",
                help="only restricted devices: yes (the default), probable, any (yes or probable), "
                "no (neither), unknown (no maker with confidence)",
            )
            p.add_argument(
                "--no-restricted",
                dest="restricted",
                action="store_const",
                const="no",
                help="only devices neither restricted nor probably so (--restricted no)",
            )
        if name == "holdings":
            p.add_argument(
                "--maker", action="append", help="maker to count (repeatable; default hikvision, dahua)"
            )
            p.add_argument(
                "--since", type=_since, help="bought on or after YYYY-MM-DD (register purchase date)"
            )
        p.set_defaults(func=wrap(cmd_report))

    register = sub.add_parser("register", help="the asset register")
    register_sub = register.add_subparsers(dest="register_command", required=True)
    imp = register_sub.add_parser("import", help="replace the register with a CSV file")
    imp.add_argument("file")
    imp.add_argument("--map", action="append", metavar="COLUMN=FIELD", help="name a column's field")
    imp.set_defaults(func=wrap(cmd_register))
    listing = register_sub.add_parser("list", help="the register as imported")
    listing.add_argument("--format", choices=("table", "csv", "json"), default="table", help="default table")
    listing.set_defaults(func=wrap(cmd_register))

    users = sub.add_parser("users", help="web view accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add an account")
    add.add_argument("name")
    add.add_argument("--role", choices=("viewer", "operator"), required=True)
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password (12+ characters) from standard input"
    )
    add.set_defaults(func=wrap(cmd_users))
    remove = users_sub.add_parser("remove", help="remove an account and end its sessions")
    remove.add_argument("name")
    remove.set_defaults(func=wrap(cmd_users))
    user_list = users_sub.add_parser("list", help="accounts and their roles")
    user_list.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="default table"
    )
    user_list.set_defaults(func=wrap(cmd_users))

    ev = sub.add_parser("evidence", help="evidence bundles: export, verify offline")
    ev_sub = ev.add_subparsers(dest="evidence_command", required=True)
    export = ev_sub.add_parser("export", help="write the signed envelopes behind a device or a report")
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument("--device", help="device id, address, MAC, serial or asset tag")
    what.add_argument("--report", choices=REPORTS)
    export.add_argument("--out", required=True, help="bundle file to write")
    export.set_defaults(func=wrap(cmd_evidence))
    verify = ev_sub.add_parser("verify", help="check every signature in a bundle (needs no database)")
    verify.add_argument("bundle")
    verify.set_defaults(func=lambda args: cmd_evidence(None, args))  # type: ignore[arg-type]

    web = sub.add_parser("web", help="serve the web view (login required)")
    web.add_argument("--listen", help="HOST:PORT (default [web] listen, 127.0.0.1:8765)")
    web.set_defaults(func=wrap(cmd_web))
