"""The centre judges stored devices again: with its own tables, after a KEV import, after a data
file change, and again only when something changed (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from structlog.testing import capture_logs

from agent.identify.tables import load_tables, read_data_files
from agent.wire.envelope import Kind, seal
from agent.wire.findings import Severity
from agent.wire.inventory import DeviceRecord, inventory_body
from agent.wire.signing import public_key_to_text
from agent.wire.timefmt import format_utc
from collector.judge.centre import CentreJudge, judge_record, signals_of_record
from collector.judge.dbio import import_file, load_verdicts
from collector.judge.vulndb import parse_vulndb_file
from collector.policy.engine import Rule
from collector.policy.runner import PolicyRunner
from collector.store import Store, open_store
from collector.violations import ViolationStore
from tests.collector.judge.samples import kev
from tests.support.clock import FakeClock

FIRMWARE = "2.800.0000000.8.R, Build Date 2021-06-30"
# What an agent with older tables sent: the raw signals, and a verdict that found nothing.
DAHUA: dict[str, Any] = {
    "address": "10.77.1.9",
    "port": 80,
    "mac": "3c:ef:8c:11:22:33",
    "manufacturer": "Dahua",
    "model": "IPC-HFW2431S-S-S2",
    "firmware": FIRMWARE,
    "maker": None,
    "brand": None,
    "maker_confidence": 0.0,
    "evidence": [],
    "vulnerabilities": [],
    "signals": {
        "manufacturer": "Dahua",
        "model": "IPC-HFW2431S-S-S2",
        "firmware": FIRMWARE,
        "mac": "3c:ef:8c:11:22:33",
        "scopes": ["onvif://www.onvif.org/name/Dahua"],
    },
}


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    key = Ed25519PrivateKey.generate()
    s = open_store(database_url)
    clock = FakeClock()
    s.add_agent("hq", "a1", public_key_to_text(key.public_key()), format_utc(clock.now()))
    env = seal(
        key,
        agent="a1",
        site="hq",
        boot="b1",
        seq=1,
        ts=clock.now(),
        kind=Kind.INVENTORY,
        body=inventory_body(DeviceRecord.decode(DAHUA), sweep="s1", snapshot=True),
    )
    s.store_batch([env], format_utc(clock.now()))
    try:
        yield s
    finally:
        s.close()


def _evidence(row: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["signal"], e["value"]) for e in row["record"]["evidence"]}


def _vulns(row: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(v["cve"], v["kev"]) for v in row["record"]["vulnerabilities"]]


def test_centre_verdict_replaces_the_agents_and_keeps_it_as_evidence(store: Store) -> None:
    judge = CentreJudge(store.db, clock=FakeClock())
    (row,) = judge.apply(store.devices())
    record = row["record"]
    assert (record["maker"], record["maker_restricted"], record["restricted"]) == ("dahua", True, "yes")
    assert record["maker_confidence"] >= 0.5
    assert _vulns(row) == [("CVE-2022-30563", False)]
    assert record["agent_verdict"]["maker"] is None and record["agent_verdict"]["vulnerabilities"] == []
    assert record["verdict"]["tables_version"] == judge.version and judge.version.startswith("data-")
    assert record["verdict"]["signals_from"] == "signals"
    stored = load_verdicts(store.db)[("hq", "mac:3c:ef:8c:11:22:33")]
    assert stored.tables_version == judge.version and stored.verdict["maker"] == "dahua"


def test_a_restart_reuses_stored_verdicts_and_a_kev_import_judges_again(store: Store) -> None:
    clock = FakeClock()
    CentreJudge(store.db, clock=clock).apply(store.devices())
    again = CentreJudge(store.db, clock=clock)
    with capture_logs() as logs:
        again.apply(store.devices())
    assert not [e for e in logs if e["event"] == "devices_judged"]  # same tables, same record
    version = again.version
    import_file(store.db, parse_vulndb_file(kev(("CVE-2022-30563", "2026-11-19")), "kev.json"), clock.now())
    with capture_logs() as logs:
        assert again.refresh() is True
        (row,) = again.apply(store.devices())
    assert again.version != version and "kev-2026.11.20" in again.version
    assert _vulns(row) == [("CVE-2022-30563", True)]
    assert row["record"]["vulnerabilities"][0]["kev_added"] == "2026-11-19"
    assert [e["devices"] for e in logs if e["event"] == "devices_judged"] == [1]
    assert again.refresh() is False  # nothing changed since


def test_changed_data_files_judge_the_estate_again(store: Store) -> None:
    files = read_data_files()
    stamp = ["v1"]
    judge = CentreJudge(
        store.db, clock=FakeClock(), read_files=lambda: dict(files), files_stamp=lambda: stamp[0]
    )
    (before,) = judge.apply(store.devices())
    assert before["record"]["maker"] == "dahua"
    # A table release without the Dahua model families: the centre's evidence follows the files.
    files["model_patterns.csv"] = "\n".join(
        line for line in files["model_patterns.csv"].splitlines() if not line.startswith("dahua,")
    )
    stamp[0] = "v2"
    assert judge.refresh() is True
    (after,) = judge.apply(store.devices())
    assert after["record"]["verdict"]["tables_version"] != before["record"]["verdict"]["tables_version"]
    model = ("model", "IPC-HFW2431S-S-S2")
    assert model in _evidence(before) and model not in _evidence(after)
    # A broken release is refused loudly; the tables in use stay.
    files["vendors.csv"] = "not,the,header\n"
    stamp[0] = "v3"
    with capture_logs() as logs:
        assert judge.refresh() is False
    assert [e["event"] for e in logs] == ["judge_tables_invalid"]
    assert judge.apply(store.devices())[0]["record"]["verdict"] == after["record"]["verdict"]


def test_policy_pass_uses_the_centre_verdict_and_kev_raises_severity(store: Store, tmp_path: Any) -> None:
    clock = FakeClock()
    policy = tmp_path / "policy.toml"
    policy.write_text('[sites.hq]\nclass = "sensitive"\n')
    db = store.new_database()
    try:
        runner = PolicyRunner(
            store,
            ViolationStore(db, clock=clock),
            clock=clock,
            policy_path=policy,
            judge=CentreJudge(db, clock=clock),
        )
        first = {v.rule: v for v in runner.run_once().evaluation.violations}
        assert Rule.RESTRICTED_AT_SENSITIVE_SITE in first  # the agent said "no maker"; the centre says Dahua
        assert first[Rule.VULNERABLE_FIRMWARE].severity == runner.policy.vulnerable_severity
        import_file(db, parse_vulndb_file(kev(("CVE-2022-30563", "2026-11-19")), "kev.json"), clock.now())
        second = {v.rule: v for v in runner.run_once().evaluation.violations}
        assert second[Rule.VULNERABLE_FIRMWARE].severity == runner.policy.kev_severity
        assert runner.policy.kev_severity is Severity.CRITICAL
        assert second[Rule.VULNERABLE_FIRMWARE].detail["kev"] == ["CVE-2022-30563"]
    finally:
        db.close()


def test_records_without_signals_are_judged_from_their_fields() -> None:
    legacy = {k: v for k, v in DAHUA.items() if k != "signals"}
    signals, origin = signals_of_record(legacy)
    assert origin == "record fields" and signals.model == "IPC-HFW2431S-S-S2"
    verdict = judge_record(legacy, load_tables(), "v")
    assert verdict["maker"] == "dahua" and verdict["signals_from"] == "record fields"
    odd = judge_record({"signals": {"model": 7, "scopes": "not a list"}}, load_tables(), "v")
    assert odd["maker"] is None  # wrong types are ignored, not fatal


def test_probe_match_signals_count_at_the_centre_too() -> None:
    """A camera polled without credentials: only what its ProbeMatch announced."""
    record = {
        "address": "10.77.1.10",
        "port": 80,
        "signals": {
            "probe_scopes": [
                "onvif://www.onvif.org/name/Dahua",
                "onvif://www.onvif.org/hardware/IPC-HFW2431S-S-S2",
            ],
            "xaddr_hints": ["http://10.77.1.10/onvif/device_service"],
        },
    }
    verdict = judge_record(record, load_tables(), "v")
    assert verdict["maker"] == "dahua" and verdict["maker_restricted"] is True
    assert {e["signal"] for e in verdict["evidence"]} >= {"scope"}
