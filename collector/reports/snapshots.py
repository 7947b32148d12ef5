"""Daily snapshots of restricted devices per site, the history a removal plan's progress is drawn from.

``site_counts`` (pure) counts restricted and prohibited devices per site; ``take_snapshot``
writes a day's figures (one row per site, replaced if taken again the same day); ``snapshots``
reads them back. The collector service takes one after its first policy pass of each UTC day
(``DailySnapshots``); ``report removal-plan`` refreshes today's, so a collector stopped for a
day leaves a gap in the history, never a wrong figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from agent.runtime.clock import Clock
from agent.wire.timefmt import format_utc
from collector.judge.dbio import load_verdicts
from collector.policy.model import Policy
from collector.reports.identity import row_status, with_centre_verdicts
from collector.store.transaction import Database


@dataclass(frozen=True)
class SiteSnapshot:
    day: str  # YYYY-MM-DD (UTC)
    site: str
    department: str
    restricted: int
    prohibited: int


def take_snapshot(db: Database, rows: Sequence[SiteSnapshot], *, taken_at: str) -> None:
    """Store one day's figures for these sites, replacing what that day already had for them."""
    with db.transaction("recording the removal snapshot") as tx:
        for r in rows:
            tx.execute("DELETE FROM removal_snapshots WHERE day = ? AND site = ?", (r.day, r.site))
            tx.execute(
                "INSERT INTO removal_snapshots (day, site, department, restricted, prohibited, taken_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (r.day, r.site, r.department, r.restricted, r.prohibited, taken_at),
            )


def snapshots(db: Database) -> list[SiteSnapshot]:
    rows = db.read(
        "reading removal snapshots",
        "SELECT day, site, department, restricted, prohibited FROM removal_snapshots ORDER BY day, site",
    )
    return [SiteSnapshot(str(d), str(s), str(dept), int(r), int(p)) for d, s, dept, r, p in rows]


def site_counts(policy: Policy, devices: Iterable[tuple[str, str]], day: date) -> list[SiteSnapshot]:
    """One snapshot row per site the policy names or a device is at, from (site, maker) pairs."""
    pairs = [(site, maker.lower()) for site, maker in devices]
    out = []
    for site in sorted(set(policy.sites) | {s for s, _ in pairs}):
        restricted = [m for s, m in pairs if s == site and m and policy.restricted_maker(m)]
        out.append(
            SiteSnapshot(
                day=day.isoformat(),
                site=site,
                department=policy.site(site).department,
                restricted=len(restricted),
                prohibited=sum(policy.restricted_at(m, site) for m in restricted),
            )
        )
    return out


class DailySnapshots:
    """Takes the day's snapshot once per UTC day, after the collector's first policy pass of it."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.last_day: date | None = None

    def after_pass(self, source: Any, policy: Policy) -> bool:
        """True when it took one; ``source.devices()`` is read only then."""
        now = self.clock.now()
        if self.last_day == now.date():
            return False
        # Counted as the reports count them: the centre's verdict where one is stored.
        devices = with_centre_verdicts(source.devices(), load_verdicts(self.db))
        pairs = (
            (str(d["site"]), str(d.get("maker") or "") if row_status(policy, d) == "yes" else "")
            for d in devices
        )
        rows = site_counts(policy, pairs, now.date())
        take_snapshot(self.db, rows, taken_at=format_utc(now))
        self.last_day = now.date()
        return True
