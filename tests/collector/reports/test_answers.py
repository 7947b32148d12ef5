"""What the reports answer on the demo fleet: reconciliation, holdings, patch status, removal plan."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collector.cli import main
from collector.policy.model import load_policy
from collector.reports.catalog import ReportOptions, build_report
from collector.reports.estate import load_estate
from collector.reports.removal import current_snapshot
from collector.reports.snapshots import SiteSnapshot
from collector.store.sqlite import SqliteStore
from simulator.demo import demo_register
from tests.support.demo_estate import DEMO_POLICY, NOW, DemoEstate


def report(capsys: pytest.CaptureFixture[str], estate: DemoEstate, *argv: str) -> dict[str, Any]:
    assert main(["--config", str(estate.config), "report", *argv, "--format", "json"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def section(doc: dict[str, Any], title: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = next(s["rows"] for s in doc["sections"] if s["title"] == title)
    return rows


def test_reconciliation_finds_never_seen_unregistered_and_relabelled(
    estate: DemoEstate, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = report(capsys, estate, "reconciliation")
    assert [a["asset_tag"] for a in section(doc, "Registered, never seen")] == ["CAM-0006"]
    assert {d["brand"] for d in section(doc, "Seen, not in the register")} == {"amcrest", "lorex", "ipcam"}
    (relabelled,) = section(doc, "Registered under another maker")
    assert relabelled["asset_tag"] == "CAM-0005" and relabelled["maker"] == "hikvision"
    assert relabelled["why"] == "HiLook is a hikvision brand"
    by = {m["asset_tag"]: m["matched_by"] for m in section(doc, "Matched")}
    assert by == {"CAM-0001": "mac", "CAM-0002": "serial", "CAM-0003": "address", "CAM-0004": "mac",
                  "CAM-0005": "mac"}  # fmt: skip


def test_holdings_answers_the_written_question(
    estate: DemoEstate, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = report(capsys, estate, "holdings")
    assert doc["figures"]["devices"] == 6
    assert doc["figures"]["purchase_date_unknown"] == 2  # the Amcrest and Lorex are not registered
    assert "6 Dahua and Hikvision-made devices" in doc["summary"][0]
    devices = section(doc, "Devices")
    assert all(d["evidence"].startswith("demo-pi/") for d in devices)
    since = report(capsys, estate, "holdings", "--maker", "hikvision", "--since", "2021-01-01")
    # Bought 2021-03-14 and 2021-09-05 (register); the 2019 PTZ drops out.
    assert [d["asset_tag"] for d in section(since, "Devices")] == ["CAM-0001", "CAM-0005"]
    assert since["figures"]["purchased_since"] == 2


def test_patch_status_counts_cve_2021_36260(estate: DemoEstate, capsys: pytest.CaptureFixture[str]) -> None:
    doc = report(capsys, estate, "patch-status")
    row = next(r for r in section(doc, "Per vulnerability") if r["cve"] == "CVE-2021-36260")
    assert row["kev"] is True
    # V5.3.0 build 150326 on the PTZ is below the range: never affected, not "patched".
    assert (row["affected"], row["fixed"], row["not_affected"], row["unknown_firmware"]) == (1, 1, 1, 0)
    assert row["devices_in_scope"] == 3
    status = {d["address"]: d["status"] for d in section(doc, "Devices") if d["cve"] == "CVE-2021-36260"}
    assert sorted(status.values()) == ["affected", "fixed", "not_affected"]
    assert [a for a, s in status.items() if s == "affected"] == ["127.20.0.1"]
    (answer,) = [line for line in doc["summary"] if line.startswith("CVE-2021-36260 (CISA KEV):")]
    assert (
        "1 of 3 Hikvision devices in scope are affected; 1 fixed; 1 never affected; 0 unknown firmware"
        in answer
    )
    assert "Affected: demo-hq/127.20.0.1." in answer


def test_removal_plan_progress_from_daily_snapshots(estate: DemoEstate) -> None:
    store = SqliteStore(estate.database)
    try:
        policy = load_policy(DEMO_POLICY)
        now = load_estate(store, policy, NOW)
        assert [(s.site, s.restricted, s.prohibited) for s in current_snapshot(now)] == [("demo-hq", 6, 6)]
        week_ago = (NOW - timedelta(days=7)).date().isoformat()
        history = (SiteSnapshot(week_ago, "demo-hq", "Demo Department", 9, 9),)
        built = build_report("removal-plan", load_estate(store, policy, NOW), ReportOptions())
    finally:
        store.close()
    from dataclasses import replace

    from collector.reports.removal import build_removal_plan

    plan = build_removal_plan(replace(now, snapshots=history), history)
    (site,) = plan.sections[0].rows
    assert site["restricted_present"] == 6 and site["restricted_at_start"] == 9
    assert site["removed_since_start"] == 3 and site["plan_began"] == week_ago
    assert site["days_overdue"] == (NOW.date() - datetime(2026, 3, 31, tzinfo=UTC).date()).days
    assert plan.figures["removed_since_start"] == 3
    (dept,) = next(s for s in plan.sections if s.title == "By department").rows
    assert (dept["department"], dept["restricted_present"], dept["sites_overdue"]) == (
        "Demo Department",
        6,
        1,
    )
    assert dept["earliest_deadline"] == "2026-03-31" and dept["removed_since_start"] == 3
    svg = ET.fromstring(plan.charts[0])  # noqa: S314 (our own output)
    assert svg.tag.endswith("svg")
    points = next(e for e in svg.iter() if e.tag.endswith("polyline")).get("points", "").split()
    assert len(points) == 2  # a week ago and today
    assert built.figures["restricted_present"] == 6


def test_removal_plan_cli_takes_todays_snapshot(
    estate: DemoEstate, capsys: pytest.CaptureFixture[str]
) -> None:
    first = report(capsys, estate, "removal-plan")
    again = report(capsys, estate, "removal-plan")
    assert len(section(first, "Progress (daily snapshots)")) == 1
    assert len(section(again, "Progress (daily snapshots)")) == 1  # one per day, replaced


def test_the_demo_register_reconciles_as_the_issue_asks(
    estate: DemoEstate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``make demo`` builds its register from the fleet's manifest; made from the same cameras
    here (label brand, model, serial, MAC), reconciliation finds what it must."""
    cameras: list[dict[str, object]] = [
        {"brand": r["manufacturer"], "model": r["model"], "serial": r["serial"], "mac": r["mac"]}
        for r in estate.records
    ]
    register = tmp_path / "demo-register.csv"
    register.write_text(demo_register(cameras))
    assert main(["--config", str(estate.config), "register", "import", str(register)]) == 0
    capsys.readouterr()
    doc = report(capsys, estate, "reconciliation")
    assert [a["asset_tag"] for a in section(doc, "Registered, never seen")] == ["CAM-9001"]
    assert {d["brand"] for d in section(doc, "Seen, not in the register")} == {"amcrest", "lorex", "ipcam"}
    (relabelled,) = section(doc, "Registered under another maker")
    assert (relabelled["registered_make"], relabelled["maker"]) == ("HiLook", "hikvision")
