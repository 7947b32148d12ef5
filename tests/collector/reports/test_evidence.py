"""Evidence bundles: export from the database, verify offline, tampering is caught."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from collector.cli import main
from tests.support.demo_estate import DemoEstate


def export(estate: DemoEstate, tmp_path: Path, *what: str) -> Path:
    out = tmp_path / "bundle.json"
    assert main(["--config", str(estate.config), "evidence", "export", *what, "--out", str(out)]) == 0
    return out


def test_device_bundle_verifies_offline(
    estate: DemoEstate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = export(estate, tmp_path, "--device", "CAM-0005")  # by asset tag
    doc = json.loads(bundle.read_text())
    assert len(doc["envelopes"]) == 1 and doc["agents"][0]["agent"] == "demo-pi"
    estate.database.unlink()  # offline: no database at all
    capsys.readouterr()
    assert main(["evidence", "verify", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "1 of 1 envelopes verified" in out and "fingerprint" in out


def test_report_bundle_holds_every_envelope_behind_the_figures(
    estate: DemoEstate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(export(estate, tmp_path, "--report", "holdings").read_text())
    assert doc["subject"]["figures"]["devices"] == 6
    assert len(doc["envelopes"]) == 6


def test_an_exported_bundle_holds_its_envelopes_against_retention(
    estate: DemoEstate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(export(estate, tmp_path, "--report", "holdings").read_text())
    bundled = {json.loads(e)["seq"] for e in doc["envelopes"]}
    with sqlite3.connect(estate.database) as db:
        held = db.execute(
            "SELECT seq FROM evidence_holds WHERE held_by = 'evidence export holdings'"
        ).fetchall()
    assert {seq for (seq,) in held} == bundled and len(bundled) == 6
    # Pruning everything older than now keeps what a bundle handed out stands on.
    assert main(["--config", str(estate.config), "prune", "--days", "0"]) == 0
    with sqlite3.connect(estate.database) as db:
        kept = {seq for (seq,) in db.execute("SELECT seq FROM envelopes WHERE kind = 'inventory'")}
    assert bundled <= kept


def test_a_changed_envelope_fails(
    estate: DemoEstate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = export(estate, tmp_path, "--report", "inventory")
    doc = json.loads(bundle.read_text())
    for index in (0, 4):  # the lobby Hikvision and the HiLook: now claimed to be Axis
        assert '"maker":"hikvision"' in doc["envelopes"][index]
        doc["envelopes"][index] = doc["envelopes"][index].replace('"maker":"hikvision"', '"maker":"axis"')
    changed = 2
    bundle.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["evidence", "verify", str(bundle)]) == 1
    out = capsys.readouterr().out
    assert out.count("FAIL") == changed >= 1
    assert f"{8 - changed} of 8 envelopes verified" in out


def test_not_a_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.json"
    path.write_text("[1, 2]")
    assert main(["evidence", "verify", str(path)]) == 1
    assert "not a camsentry-evidence/1 bundle" in capsys.readouterr().err
