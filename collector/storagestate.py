"""Whether the collector can store what it receives: a state with one log line per change.

While storing fails (disk full, database away) nothing is confirmed, so agents keep their
outbox and send again; the collector says so once (``storage_failing``), quietly counts the
batches it could not store, and says once when storing works again (``storage_recovered``).
The state is also written to ``<state_dir>/storage.json`` for ``camsentry-collector status``,
rewritten in place when the disk has no room for a copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from agent.runtime.clock import Clock
from agent.runtime.statusfile import write_json_atomic
from agent.wire.jsonload import JSON_DECODE_ERRORS, load_untrusted
from agent.wire.timefmt import format_utc

log = structlog.get_logger("camsentry.collector.storage")

STORAGE_STATE_FILE = "storage.json"
_UNREADABLE: tuple[type[BaseException], ...] = (OSError, *JSON_DECODE_ERRORS)


def storage_state_path(state_dir: Path) -> Path:
    return state_dir / STORAGE_STATE_FILE


class StorageState:
    def __init__(self, path: Path, clock: Clock) -> None:
        self._path = path
        self._clock = clock
        self.failing = False
        self.error = ""
        self.since = ""
        self.failed_batches = 0
        self.withheld_messages = 0
        self._write()

    def failed(self, exc: BaseException, size: int) -> None:
        self.failed_batches += 1
        self.withheld_messages += size
        if self.failing:
            log.debug("storing_a_batch_failed", size=size, error=str(exc)[:200])
            return
        self.failing, self.error, self.since = True, str(exc)[:500], format_utc(self._clock.now())
        log.error(
            "storage_failing",
            error=self.error,
            size=size,
            what="nothing is confirmed until storing works again; agents keep their outbox and resend",
        )
        self._write()

    def succeeded(self) -> None:
        if not self.failing:
            return
        log.warning(
            "storage_recovered",
            failing_since=self.since,
            failed_batches=self.failed_batches,
            withheld_messages=self.withheld_messages,
        )
        self.failing, self.error, self.since = False, "", format_utc(self._clock.now())
        self.failed_batches = self.withheld_messages = 0
        self._write()

    def as_dict(self) -> dict[str, Any]:
        return {
            "storage": "failing" if self.failing else "ok",
            "error": self.error,
            "since": self.since,
            "failed_batches": self.failed_batches,
            "withheld_messages": self.withheld_messages,
        }

    def _write(self) -> None:
        try:
            write_json_atomic(self._path, self.as_dict())
        except OSError as exc:
            log.debug("storage_state_not_written", path=str(self._path), error=str(exc))


def read_storage_state(state_dir: Path) -> dict[str, Any] | None:
    """What the running collector last wrote; None when there is nothing (usable) to read."""
    try:
        doc = load_untrusted(storage_state_path(state_dir).read_bytes())
    except _UNREADABLE:
        return None
    return doc if isinstance(doc, dict) else None
