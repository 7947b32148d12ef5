"""Reports judge firmware with what 'vulndb import' stored, as the policy pass does: a CVE the
KEV catalogue lists is KEV in patch status too, not only in the vulnerable_firmware violation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collector.cli import main
from tests.collector.judge.samples import kev
from tests.support.demo_estate import DemoEstate


def patch_rows(capsys: pytest.CaptureFixture[str], estate: DemoEstate) -> dict[str, dict[str, Any]]:
    assert main(["--config", str(estate.config), "report", "patch-status", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = next(s["rows"] for s in doc["sections"] if s["title"] == "Per vulnerability")
    return {r["cve"]: r for r in rows}


def test_a_kev_import_flags_the_cve_in_patch_status(
    estate: DemoEstate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert patch_rows(capsys, estate)["CVE-2022-30563"]["kev"] is False
    catalogue = tmp_path / "known_exploited_vulnerabilities.json"
    catalogue.write_bytes(kev(("CVE-2022-30563", "2026-11-20")))
    assert main(["--config", str(estate.config), "vulndb", "import", str(catalogue)]) == 0
    capsys.readouterr()
    rows = patch_rows(capsys, estate)
    assert rows["CVE-2022-30563"]["kev"] is True
    assert rows["CVE-2021-36260"]["kev"] is True  # the bundled table's flag stays
