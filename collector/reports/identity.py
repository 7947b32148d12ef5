"""Who made a device, as every report shows it: the centre's verdict when there is one.

The policy pass judges each device again at the collector (``collector.judge.centre``) and
raises its violations from that verdict; a report that showed the agent's maker instead could
contradict the violations for the same device. ``with_centre_verdicts`` gives the reports the
rows the policy saw: each record carries the stored centre verdict when it was made for the
device's current record (same fingerprint), else the agent's own, marked as such.
``restricted_status`` says yes / probable / no / unknown under the policy's own threshold and
restricted makers, the way the policy's rules decide (pure).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agent.wire.errors import BodyError
from agent.wire.inventory import DeviceRecord
from collector.judge.centre import record_digest, with_verdict
from collector.judge.dbio import StoredVerdict
from collector.policy.model import Policy

__all__ = [
    "AGENT_SOURCE",
    "RESTRICTED_STATUSES",
    "restricted_status",
    "verdict_source",
    "with_centre_verdicts",
]

RESTRICTED_STATUSES = ("yes", "probable", "no", "unknown")
AGENT_SOURCE = "agent"
# The row columns a verdict replaces (the device projection keeps the agent's).
_COLUMNS = ("maker", "brand", "maker_confidence")


def with_centre_verdicts(
    rows: Iterable[Mapping[str, Any]], stored: Mapping[tuple[str, str], StoredVerdict]
) -> list[dict[str, Any]]:
    """``Store.devices()`` rows with the centre's verdict in the record and the maker columns,
    where the stored verdict was made for the row's current record; other rows unchanged."""
    out: list[dict[str, Any]] = []
    for row in rows:
        record = row.get("record")
        verdict = stored.get((str(row.get("site")), str(row.get("device_key"))))
        if (
            not isinstance(record, Mapping)
            or verdict is None
            or verdict.record_fingerprint != record_digest(record)
        ):
            out.append(dict(row))
            continue
        judged = with_verdict(record, {**verdict.verdict, "tables_version": verdict.tables_version})
        out.append({**row, "record": judged, **{k: judged.get(k) for k in _COLUMNS}})
    return out


def verdict_source(record: Mapping[str, Any] | None) -> str:
    """``centre <tables_version>`` for a record carrying the centre's verdict, else ``agent``."""
    verdict = record.get("verdict") if isinstance(record, Mapping) else None
    if isinstance(verdict, Mapping) and verdict.get("by") == "collector":
        return f"centre {verdict.get('tables_version') or '?'}"
    return AGENT_SOURCE


def _confident(policy: Policy, maker: str, confidence: float | None) -> bool:
    return bool(maker.strip()) and (
        confidence is None or confidence >= policy.thresholds.min_maker_confidence
    )


def restricted_status(policy: Policy, record: DeviceRecord) -> str:
    """yes: a maker the policy restricts, at its confidence threshold (what the restricted-device
    rules act on); probable: the verdict says probable, or yes below the threshold, with evidence
    for a maker the policy restricts (what ``maker_uncertain`` acts on); no: a maker identified
    with confidence that the policy does not restrict; unknown: no maker with confidence."""
    maker = record.maker or ""
    confident = _confident(policy, maker, record.maker_confidence)
    if confident and policy.restricted_maker(maker):
        return "yes"
    uncertain = record.restricted == "probable" or (record.restricted == "yes" and not confident)
    if uncertain and any(e.weight > 0 and policy.restricted_maker(e.points_to) for e in record.evidence):
        return "probable"
    return "no" if confident else "unknown"


def status_of_columns(policy: Policy, maker: str, confidence: float | None) -> str:
    """For a row whose record does not decode: its maker columns only."""
    if not _confident(policy, maker, confidence):
        return "unknown"
    return "yes" if policy.restricted_maker(maker) else "no"


def row_status(policy: Policy, row: Mapping[str, Any]) -> str:
    """``restricted_status`` of a ``devices()`` row: its record, or its columns if that does not decode."""
    try:
        record = DeviceRecord.decode(row.get("record"))
    except BodyError:
        maker = row.get("maker")
        return status_of_columns(policy, maker if isinstance(maker, str) else "", row.get("maker_confidence"))
    return restricted_status(policy, record)
