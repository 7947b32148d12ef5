"""``camsentry-collector vulndb import`` and ``vulndb status`` against a real database file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collector.cli import main
from collector.judge.dbio import load_vulndb
from collector.store import open_store
from tests.collector.judge.samples import cve_record, kev


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "collector.toml"
    db = tmp_path / "c.sqlite"
    config.write_text(f'state_dir = "{tmp_path}"\ndatabase = "sqlite:///{db}"\n[mqtt]\nhost = "127.0.0.1"\n')
    return config


def test_import_kev_and_cve_files_then_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    catalogue = tmp_path / "known_exploited_vulnerabilities.json"
    catalogue.write_bytes(kev(("CVE-2022-30563", "2026-11-19")))
    record = tmp_path / "CVE-2026-0001.json"
    record.write_text(
        json.dumps(
            cve_record(
                "CVE-2026-0001",
                "Dahua",
                "IPC-HDW1XXX",
                [{"version": "0", "lessThan": "2.900", "status": "affected"}],
            )
        )
    )
    assert main(["--config", str(config), "vulndb", "import", str(catalogue), str(record)]) == 0
    out = capsys.readouterr().out
    assert "imported KEV catalogue 2026.11.20: 1 entries" in out
    assert "1 table rows KEV-flagged, 1 match rows from CVE records" in out
    assert main(["--config", str(config), "vulndb", "status"]) == 0
    status = capsys.readouterr().out
    assert "kev" in status and "2026.11.20" in status and str(record) in status


def test_a_bad_file_imports_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    good = tmp_path / "kev.json"
    good.write_bytes(kev(("CVE-2022-30563", "2026-11-19")))
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"catalogVersion": "x", "vulnerabilities": [{"cveID": "nope", "dateAdded": "2024-01-01"}]}'
    )
    assert main(["--config", str(config), "vulndb", "import", str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.json: vulnerabilities[0].cveID: 'nope' is not a CVE id (nothing imported)" in err
    assert "\nerror: " in "\n" + err  # the prefix every other command's errors have
    assert main(["--config", str(config), "vulndb", "import", str(tmp_path / "missing.json")]) == 1
    assert "missing.json: No such file or directory" in capsys.readouterr().err
    store = open_store(f"sqlite:///{tmp_path / 'c.sqlite'}")
    try:
        assert load_vulndb(store.db).kev == ()
    finally:
        store.close()
