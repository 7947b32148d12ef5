"""Every report shows the centre's verdict, the one the policy raised its violations from: a
relabelled Hikvision the agent called unknown is Hikvision everywhere, in every format, and a
device only probably restricted is shown as probable, with its evidence."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from agent.wire.inventory import DeviceRecord
from collector.cli import main
from collector.judge.centre import record_digest
from collector.judge.dbio import StoredVerdict
from collector.policy.model import load_policy
from collector.reports.identity import restricted_status, verdict_source, with_centre_verdicts
from collector.reports.snapshots import DailySnapshots, snapshots
from collector.store.sqlite import SqliteStore
from tests.support.centre_verdicts import PROBABLE_ADDRESS, RELABELLED, RELABELLED_ADDRESS, add_judged_devices
from tests.support.clock import FakeClock
from tests.support.demo_estate import DEMO_POLICY, NOW, SITE, DemoEstate, demo_estate


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> DemoEstate:
    estate = demo_estate(tmp_path_factory.mktemp("judged"))
    add_judged_devices(estate)
    return estate


def run(capsys: pytest.CaptureFixture[str], estate: DemoEstate, *argv: str) -> str:
    capsys.readouterr()
    assert main(["--config", str(estate.config), *argv]) == 0
    return capsys.readouterr().out


def report_json(capsys: pytest.CaptureFixture[str], estate: DemoEstate, *argv: str) -> Any:
    return json.loads(run(capsys, estate, "report", *argv, "--format", "json"))


def rows_of(text: str, fmt: str) -> list[str]:
    """The text of each row: a CSV record, a terminal line, an HTML table row."""
    if fmt == "csv":
        return [",".join(r) for r in csv.reader(io.StringIO(text))]
    if fmt == "html":
        return [part.split("</tr>")[0] for part in text.split("<tr")[1:]]
    return text.splitlines()


def _inventory_row(doc: dict[str, Any], address: str) -> dict[str, Any]:
    rows = doc["sections"][0]["rows"]
    return next(r for r in rows if r["address"].split(":")[0] == address)


# Compliance's CSV holds counts per site, no device rows (its figures are checked by the counts test).
DEVICE_ROW_REPORTS = [
    (name, fmt)
    for name in ("inventory", "holdings", "patch-status", "reconciliation", "compliance")
    for fmt in ("table", "csv", "html")
    if (name, fmt) != ("compliance", "csv")
]


@pytest.mark.parametrize(("name", "fmt"), DEVICE_ROW_REPORTS)
def test_a_relabelled_hikvision_is_hikvision_in_every_report_and_format(
    name: str, fmt: str, judged: DemoEstate, capsys: pytest.CaptureFixture[str]
) -> None:
    text = run(capsys, judged, "report", name, "--format", fmt)
    mine = [r for r in rows_of(text, fmt) if RELABELLED_ADDRESS in r]
    assert mine, f"{RELABELLED_ADDRESS} missing from {name} as {fmt}"
    assert all("hikvision" in r.lower() for r in mine), mine


def test_the_json_rows_carry_the_centre_verdict_and_its_evidence(
    judged: DemoEstate, capsys: pytest.CaptureFixture[str]
) -> None:
    row = _inventory_row(report_json(capsys, judged, "inventory"), RELABELLED_ADDRESS)
    assert (row["maker"], row["brand"], row["restricted"]) == ("hikvision", "hikvision", "yes")
    assert row["maker_confidence"] >= 0.5 and row["verdict"].startswith("centre data-")
    assert "model=DS-2CD2143G2-I->hikvision" in row["maker_evidence"]
    assert "CVE-2021-36260" in row["cves"]  # the centre's firmware matching, too

    holdings = report_json(capsys, judged, "holdings")["sections"][1]["rows"]
    assert [r["maker"] for r in holdings if r["address"] == RELABELLED_ADDRESS] == ["hikvision"]
    patch = report_json(capsys, judged, "patch-status")["sections"][1]["rows"]
    assert ("CVE-2021-36260", "affected", "hikvision") in {
        (r["cve"], r["status"], r["maker"]) for r in patch if r["address"] == RELABELLED_ADDRESS
    }
    unregistered = report_json(capsys, judged, "reconciliation")["sections"][0]["rows"]
    assert [r["maker"] for r in unregistered if r["address"] == RELABELLED_ADDRESS] == ["hikvision"]
    compliance = report_json(capsys, judged, "compliance")["restricted_devices"]
    listed = next(r for r in compliance if r["address"] == RELABELLED_ADDRESS)
    assert (listed["maker"], listed["restricted"], listed["prohibited"]) == ("hikvision", "yes", True)


def test_a_probable_device_is_shown_as_probable_with_its_evidence(
    judged: DemoEstate, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = report_json(capsys, judged, "inventory")
    row = _inventory_row(inventory, PROBABLE_ADDRESS)
    assert row["restricted"] == "probable" and row["maker_evidence"] == ["scope=DS-2CD2043G0-I->hikvision"]
    assert inventory["figures"]["probably_restricted"] == 1
    csv_rows = list(
        csv.DictReader(io.StringIO(run(capsys, judged, "report", "inventory", "--format", "csv")))
    )
    assert [r["restricted"] for r in csv_rows if r["address"].startswith(PROBABLE_ADDRESS + ":")] == [
        "probable"
    ]
    table = [r for r in rows_of(run(capsys, judged, "report", "inventory"), "table") if PROBABLE_ADDRESS in r]
    assert len(table) == 1 and " probable " in table[0]

    doc = report_json(capsys, judged, "compliance")
    listed = next(r for r in doc["restricted_devices"] if r["address"] == PROBABLE_ADDRESS)
    assert (listed["restricted"], listed["prohibited"], listed["past_deadline"]) == ("probable", False, False)
    assert listed["maker_evidence"] == ["scope=DS-2CD2043G0-I->hikvision"]
    assert (doc["totals"]["restricted"], doc["totals"]["probable"]) == (7, 1)
    text = run(capsys, judged, "report", "compliance")
    line = next(i for i, r in enumerate(text.splitlines()) if PROBABLE_ADDRESS in r)
    assert "PROBABLE" in text.splitlines()[line] and "DS-2CD2043G0-I" in text.splitlines()[line + 1]
    estate_row = list(
        csv.DictReader(io.StringIO(run(capsys, judged, "report", "compliance", "--format", "csv")))
    )[-1]
    assert (estate_row["scope"], estate_row["restricted"], estate_row["probable"]) == ("estate", "7", "1")
    html = run(capsys, judged, "report", "compliance", "--format", "html")
    assert any("probable" in r and "hikvision" in r for r in rows_of(html, "html") if PROBABLE_ADDRESS in r)


def _addresses(doc: dict[str, Any]) -> set[str]:
    return {r["address"].split(":")[0] for r in doc["sections"][0]["rows"]}


def test_the_reports_agree_with_the_violations(
    judged: DemoEstate, capsys: pytest.CaptureFixture[str]
) -> None:
    violations = json.loads(run(capsys, judged, "violations", "--format", "json"))

    def raised(rule: str) -> set[str]:
        return {v["address"] for v in violations if v["rule"] == rule}

    compliance = report_json(capsys, judged, "compliance")["restricted_devices"]
    # demo-hq is sensitive: every device restricted there is prohibited and raised as such.
    assert raised("restricted_at_sensitive_site") == {
        r["address"] for r in compliance if r["restricted"] == "yes"
    }
    assert raised("restricted_at_sensitive_site") == _addresses(
        report_json(capsys, judged, "inventory", "--restricted")
    )
    assert raised("maker_uncertain") == {PROBABLE_ADDRESS}
    assert raised("maker_uncertain") == _addresses(
        report_json(capsys, judged, "inventory", "--restricted", "probable")
    )


def test_the_daily_snapshot_counts_as_the_reports_do(
    judged: DemoEstate, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = report_json(capsys, judged, "removal-plan")
    store = SqliteStore(judged.database)
    conn = store.new_database()
    try:
        assert DailySnapshots(conn, FakeClock(NOW)).after_pass(store, load_policy(DEMO_POLICY))
        (snap,) = [s for s in snapshots(conn) if (s.day, s.site) == (NOW.date().isoformat(), SITE)]
    finally:
        conn.close()
        store.close()
    assert snap.restricted == plan["figures"]["restricted_present"] == 7  # the agent alone said 6


@pytest.mark.parametrize(
    ("argv", "devices"),
    [
        ((), 10),
        (("--restricted",), 7),  # the bare flag keeps meaning yes
        (("--restricted", "yes"), 7),
        (("--restricted", "probable"), 1),
        (("--restricted", "any"), 8),
        (("--no-restricted",), 2),
        (("--restricted", "no"), 2),
        (("--restricted", "unknown"), 1),
    ],
)
def test_restricted_filter(
    argv: tuple[str, ...], devices: int, judged: DemoEstate, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report_json(capsys, judged, "inventory", *argv)["figures"]["devices"] == devices


def test_a_bad_restricted_choice_is_refused(judged: DemoEstate, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--config", str(judged.config), "report", "inventory", "--restricted", "maybe"])
    assert "invalid choice: 'maybe'" in capsys.readouterr().err


def _row(record: dict[str, Any]) -> dict[str, Any]:
    return {"site": "hq", "device_key": "k1", "maker": None, "brand": None, "record": record}


def test_a_verdict_for_another_record_is_not_shown() -> None:
    """A verdict stored for the device's previous record stays out: the agent's is shown, marked."""
    verdict = {"maker": "hikvision", "brand": "hikvision", "maker_confidence": 0.76, "restricted": "yes"}
    current = StoredVerdict("hq", "k1", "data-1", record_digest(RELABELLED), verdict)
    stale = StoredVerdict("hq", "k1", "data-1", "an-older-record", verdict)
    (fresh,) = with_centre_verdicts([_row(RELABELLED)], {("hq", "k1"): current})
    (old,) = with_centre_verdicts([_row(RELABELLED)], {("hq", "k1"): stale})
    assert (fresh["maker"], verdict_source(fresh["record"])) == ("hikvision", "centre data-1")
    assert fresh["record"]["agent_verdict"]["maker"] is None
    assert (old["maker"], verdict_source(old["record"])) == (None, "agent")


@pytest.mark.parametrize(
    ("maker", "confidence", "verdict", "evidence", "status"),
    [
        ("hikvision", 0.9, "yes", "hikvision", "yes"),
        ("hikvision", 0.3, "yes", "hikvision", "probable"),  # below the policy's threshold
        ("hikvision", 0.4, "probable", "hikvision", "probable"),
        ("uniview", 0.4, "probable", "uniview", "unknown"),  # a maker this policy does not restrict
        ("axis", 0.9, "no", "axis", "no"),
        (None, 0.0, "unknown", None, "unknown"),
    ],
)
def test_restricted_status_decides_as_the_policy_does(
    maker: str | None, confidence: float, verdict: str, evidence: str | None, status: str
) -> None:
    policy = load_policy(Path(DEMO_POLICY))
    signals = [{"signal": "model", "value": "x", "points_to": evidence, "weight": 0.4}] if evidence else []
    record = DeviceRecord.decode(
        {"address": "10.0.0.1", "port": 80, "maker": maker, "maker_confidence": confidence,
         "restricted": verdict, "evidence": signals}
    )  # fmt: skip
    assert restricted_status(policy, record) == status
