"""Logging: stderr only, the logger's name on every line, the syslog priority as <N> when stderr
is the journal stream systemd named (a real file standing in for the journal's socket)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.runtime.logs import PRIORITIES, configure_logging, stderr_is_journal

SNIPPET = """
import structlog
from agent.runtime.logs import configure_logging
configure_logging("debug", "json")
log = structlog.get_logger("camsentry.test")
log.debug("a_debug")
log.info("an_info", n=1)
log.warning("a_warning")
log.error("an_error")
print("stdout stays for output")
"""


def run(tmp_path: Path, journal: bool) -> tuple[list[str], str]:
    err = tmp_path / "stderr"
    with err.open("wb") as fh:
        st = os.fstat(fh.fileno())
        env = dict(os.environ)
        env.pop("JOURNAL_STREAM", None)
        if journal:
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        out = subprocess.run(
            [sys.executable, "-c", SNIPPET],
            stdout=subprocess.PIPE,
            stderr=fh,
            env=env,
            check=True,
            timeout=60,
        )
    return err.read_text().splitlines(), out.stdout.decode()


def test_json_lines_on_stderr_with_the_logger_name(tmp_path: Path) -> None:
    lines, stdout = run(tmp_path, journal=False)
    assert stdout == "stdout stays for output\n"
    events = [json.loads(line) for line in lines]
    assert [(e["event"], e["level"], e["logger"]) for e in events] == [
        ("a_debug", "debug", "camsentry.test"),
        ("an_info", "info", "camsentry.test"),
        ("a_warning", "warning", "camsentry.test"),
        ("an_error", "error", "camsentry.test"),
    ]


def test_journal_stream_gets_the_priority_prefix(tmp_path: Path) -> None:
    lines, _ = run(tmp_path, journal=True)
    assert [line[:3] for line in lines] == ["<7>", "<6>", "<4>", "<3>"]
    assert json.loads(lines[2][3:])["event"] == "a_warning"  # the rest is the same JSON


def test_a_journal_stream_that_is_not_our_stderr_is_ignored() -> None:
    assert stderr_is_journal({"JOURNAL_STREAM": "1:2"}) is False
    assert stderr_is_journal({"JOURNAL_STREAM": "garbage"}) is False
    assert stderr_is_journal({}) is False


def test_priorities_are_syslogs() -> None:
    assert PRIORITIES["error"] == 3 and PRIORITIES["warning"] == 4 and PRIORITIES["info"] == 6


def test_console_format_also_carries_the_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    configure_logging("info", "console", journal=True)
    try:
        structlog.get_logger("camsentry.x").warning("console_warning")
        err = capsys.readouterr().err
        assert err.startswith("<4>") and "console_warning" in err
    finally:
        structlog.reset_defaults()
