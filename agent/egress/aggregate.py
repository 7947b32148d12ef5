"""Folds flow observations into one record per (device, destination, port, protocol), bounded.

Memory: at most ``max_keys`` records plus one overflow record per device (at most
``max_keys`` of those too); past that, flows are counted in ``dropped``. Telemetry: ``take()``
hands out at most ``max_per_take`` changed records, oldest change first; the rest stay marked
and go out next time, so a flood delays findings but never loses counts.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from agent.egress.model import Process, Source

# Records untouched for this long are forgotten (after they were reported); a later flow starts
# a fresh record with a new first_seen.
IDLE_FORGET_S = 24 * 3600.0
OVERFLOW_DESTINATION = "*"

T = TypeVar("T")
FlowKey = tuple[str, str, int, str]  # device, destination, port, protocol


@dataclass
class FlowRecord:
    device: str
    destination: str
    port: int
    protocol: str
    source: Source
    first_seen: datetime
    last_seen: datetime
    last_mono: float
    count: int = 0
    bytes: int | None = None
    process: Process | None = None
    overflow: bool = False
    reported_mono: float | None = None  # when take() last handed this record out
    # Names learnt for the destination; filled in when the record is classified.
    hostname: str | None = None
    names: tuple[str, ...] = field(default=())

    @property
    def key(self) -> FlowKey:
        return (self.device, self.destination, self.port, self.protocol)


class Aggregator:
    def __init__(
        self, max_keys: int = 4096, max_per_take: int = 500, min_report_interval_s: float = 30.0
    ) -> None:
        self.max_keys = max_keys
        self.max_per_take = max_per_take
        self.min_report_interval_s = min_report_interval_s
        self._records: dict[FlowKey, FlowRecord] = {}
        self._overflow_records = 0
        self._dirty: OrderedDict[FlowKey, None] = OrderedDict()
        self.dropped = 0  # flows counted nowhere (overflow records full too)
        self.overflowed = 0  # flows folded into a per-device overflow record

    def __len__(self) -> int:
        return len(self._records)

    @property
    def pending(self) -> int:
        return len(self._dirty)

    def observe(
        self,
        key: FlowKey,
        source: Source,
        now: datetime,
        mono: float,
        *,
        count: int = 1,
        nbytes: int | None = None,
        process: Process | None = None,
    ) -> FlowKey | None:
        """Count a flow; returns the key of the record that took it (the device's overflow record
        when the table is full) or None when it could only be counted as dropped."""
        rec = self._records.get(key)
        if rec is None:
            regular = len(self._records) - self._overflow_records
            if regular >= self.max_keys:
                self.overflowed += count
                device, _, _, protocol = key
                key = (device, OVERFLOW_DESTINATION, 0, protocol)
                rec = self._records.get(key)
                if rec is None:
                    if self._overflow_records >= self.max_keys:
                        self.dropped += count
                        return None
                    self._overflow_records += 1
            if rec is None:
                rec = FlowRecord(
                    *key,
                    source=source,
                    first_seen=now,
                    last_seen=now,
                    last_mono=mono,
                    overflow=key[1] == OVERFLOW_DESTINATION,
                )
                self._records[key] = rec
        rec.count += count
        rec.last_seen = max(rec.last_seen, now)
        rec.last_mono = mono
        if nbytes is not None:
            rec.bytes = (rec.bytes or 0) + nbytes
        if process is not None:
            rec.process = process
        self._dirty[key] = None
        return key

    def add_bytes(self, key: FlowKey, nbytes: int, now: datetime, mono: float) -> bool:
        """Counters of a flow that ended; False when there is no record to add them to."""
        rec = self._records.get(key)
        if rec is None:
            return False
        rec.bytes = (rec.bytes or 0) + nbytes
        rec.last_seen = max(rec.last_seen, now)
        rec.last_mono = mono
        self._dirty[key] = None
        return True

    def take(self, mono: float, render: Callable[[FlowRecord], T | None]) -> list[T]:
        """``render`` of up to ``max_per_take`` records changed since they were last sent, oldest
        change first; a record ``render`` turns into None (allowed) does not count as sent.

        A record is sent at once the first time, then at most once per ``min_report_interval_s``:
        a chatty flow is one message per interval, not one per drain.
        """
        out: list[T] = []
        for key in list(self._dirty):
            if len(out) >= self.max_per_take:
                break
            rec = self._records.get(key)
            if rec is None:
                del self._dirty[key]
                continue
            if rec.reported_mono is not None and mono - rec.reported_mono < self.min_report_interval_s:
                continue
            del self._dirty[key]
            body = render(rec)
            if body is not None:
                rec.reported_mono = mono
                out.append(body)
        return out

    def mark_unsent_changed(self) -> None:
        """Records never sent (e.g. allowed until now) are judged again at the next take()."""
        for key, rec in self._records.items():
            if rec.reported_mono is None:
                self._dirty[key] = None

    def forget_idle(self, mono: float, idle_s: float = IDLE_FORGET_S) -> int:
        stale = [k for k, r in self._records.items() if mono - r.last_mono > idle_s and k not in self._dirty]
        for k in stale:
            if self._records.pop(k).overflow:
                self._overflow_records -= 1
        return len(stale)
