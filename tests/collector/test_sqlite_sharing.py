"""SQLite shared by processes: a connection this process opens later must not drop the locks
its earlier connections hold (POSIX locks go with any close of the file), or another process's
last close deletes the WAL under them and they read a stale database from then on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from collector.store import open_store


def test_a_later_connection_keeps_earlier_ones_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    store = open_store(url)
    early = store.new_database()
    try:
        early.read("warm", "SELECT COUNT(*) FROM agents")
        later = store.new_database()  # opening it used to close a descriptor of the file
        later.close()
        for name, leave in (("a1", "s.close()"), ("a2", "os._exit(0)")):  # a2 stays in the WAL
            code = (
                "import os\nfrom collector.store import open_store\n"
                f"s = open_store({url!r})\n"
                f"s.add_agent('hq', {name!r}, 'key', '2026-01-01T00:00:00.000Z')\n{leave}\n"
            )
            subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
        assert early.read("count", "SELECT COUNT(*) FROM agents")[0][0] == 2
        assert [a.agent for a in store.agents()] == ["a1", "a2"]
    finally:
        early.close()
        store.close()


def test_an_in_memory_database_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///:memory:")
    try:
        store.add_agent("hq", "a1", "key", "2026-01-01T00:00:00.000Z")
        assert [a.agent for a in store.agents()] == ["a1"]
    finally:
        store.close()
    assert list(tmp_path.iterdir()) == []
