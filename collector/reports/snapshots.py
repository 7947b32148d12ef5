"""Daily snapshots of restricted devices per site, the history a removal plan's progress is drawn from.

``take_snapshot`` writes today's figures (one row per site, replaced if taken again the same
day); ``snapshots`` reads them back. The collector takes one on each policy pass; the reports
take one too, so a collector stopped for a day leaves a gap, never a wrong figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
