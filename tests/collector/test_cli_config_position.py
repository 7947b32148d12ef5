"""``--config`` is read before the command and after it (the agent's CLI takes it after)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli import config_first, main


def test_config_moves_to_the_front_wherever_it_is_given() -> None:
    assert config_first(["status", "--config", "c.toml"]) == ["--config", "c.toml", "status"]
    assert config_first(["evidence", "verify", "--config=c.toml", "b.json"]) == [
        "--config=c.toml", "evidence", "verify", "b.json"
    ]  # fmt: skip
    assert config_first(["--config", "c.toml", "status"]) == ["--config", "c.toml", "status"]
    assert config_first(["ack", "V-1", "--", "--config", "x"]) == ["ack", "V-1", "--", "--config", "x"]


def test_status_reads_the_config_given_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(f'state_dir = "{tmp_path}"\n[mqtt]\nhost = "127.0.0.1"\n')
    assert main(["status", "--config", str(config)]) == 0
    after = capsys.readouterr().out
    assert main(["--config", str(config), "status"]) == 0
    assert capsys.readouterr().out == after and "(0 rows)" in after
    assert (tmp_path / "camsentry.sqlite").exists()  # its database, not /etc's
