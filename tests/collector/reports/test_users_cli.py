"""``users list`` prints with the one table renderer, in table, CSV or JSON like every listing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from collector.cli import main
from tests.support.demo_estate import demo_estate


def test_users_list_in_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = str(demo_estate(tmp_path).config)
    for name, role in (("olive", "operator"), ("vic", "viewer")):
        monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
        assert main(["--config", config, "users", "add", name, "--role", role, "--password-stdin"]) == 0
    capsys.readouterr()

    assert main(["--config", config, "users", "list", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["username"], r["role"]) for r in rows] == [("olive", "operator"), ("vic", "viewer")]
    assert all(r["created_at"].endswith("Z") for r in rows)

    assert main(["--config", config, "users", "list", "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["role"] for r in table] == ["operator", "viewer"]

    assert main(["--config", config, "users", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["USERNAME", "ROLE", "CREATED", "AT"] and lines[-1] == "(2 rows)"
