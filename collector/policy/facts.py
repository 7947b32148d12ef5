"""Adapters from the collector store's rows to the engine's facts. Pure.

``device_facts(store.devices())``, ``agent_facts(store.agent_status())`` and
``flow_facts(store.envelope_bodies("flow"))`` give ``evaluate`` its input. Bodies are read only
through the wire contract's decoders (``DeviceRecord.decode``, ``FlowBody.decode``); a row whose
record does not decode, or whose times do not parse, is skipped and counted in ``Skipped``
(the caller logs it), never fatal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.wire.errors import BodyError
from agent.wire.flows import FlowBody, FlowFinding
from agent.wire.inventory import DeviceRecord
from agent.wire.timefmt import parse_utc
from collector.agenthealth import summarise
from collector.policy.engine import MAX_EVIDENCE_REFS, AgentFact, DeviceFact, EvidenceRef, FlowFact


@dataclass
class Skipped:
    """Rows left out of the facts, by why: a caller logs these once per pass."""

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)  # the first problem of each kind

    def add(self, why: str, detail: str) -> None:
        self.counts[why] = self.counts.get(why, 0) + 1
        self.first.setdefault(why, detail)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_utc(value)
    except ValueError:
        return None


def device_facts(rows: Iterable[Mapping[str, Any]], skipped: Skipped | None = None) -> list[DeviceFact]:
    """From ``devices()`` rows: site, agent, device_key, first/last_seen, evidence_boot/seq, record."""
    skipped = skipped if skipped is not None else Skipped()
    out = []
    for row in rows:
        first, last = _time(row.get("first_seen")), _time(row.get("last_seen"))
        if first is None or last is None:
            skipped.add("device_time", f"{row.get('device_key')}: first/last seen unreadable")
            continue
        try:
            record = DeviceRecord.decode(row.get("record"))
        except BodyError as exc:
            skipped.add("device_record", f"{row.get('device_key')}: {exc.detail}")
            continue
        site, agent = str(row.get("site")), str(row.get("agent"))
        boot, seq = row.get("evidence_boot"), row.get("evidence_seq")
        refs = (EvidenceRef(agent, boot, seq),) if isinstance(boot, str) and isinstance(seq, int) else ()
        out.append(DeviceFact(site, agent, str(row.get("device_key")), record, first, last, refs))
    return out


def agent_facts(
    rows: Iterable[Mapping[str, Any]], health: Iterable[Mapping[str, Any]] = ()
) -> list[AgentFact]:
    """From ``agent_status()`` rows, and ``agent_health()`` rows for the evidence each lost;
    revoked agents are left out. One never heard from keeps ``last_seen`` None and counts as
    silent from its enrolment (``enrolled_at``)."""
    lost: dict[tuple[str, str], tuple[dict[str, int], tuple[EvidenceRef, ...]]] = {}
    for h in health:
        agent, boot, seq = str(h.get("agent")), h.get("boot"), h.get("seq")
        ref = (EvidenceRef(agent, boot, seq),) if isinstance(boot, str) and isinstance(seq, int) else ()
        lost[(str(h.get("site")), agent)] = (summarise(h.get("body")).evidence_lost, ref)
    out = []
    for row in rows:
        if row.get("revoked_at"):
            continue
        last, since = _time(row.get("last_seen")), _time(row.get("enrolled_at"))
        if last is None and since is None:
            continue
        site, agent = str(row.get("site")), str(row.get("agent"))
        evidence_lost, refs = lost.get((site, agent), ({}, ()))
        out.append(AgentFact(site, agent, last, refs, evidence_lost, since=since))
    return out


def flow_facts(envelopes: Iterable[Mapping[str, Any]], skipped: Skipped | None = None) -> list[FlowFact]:
    """From ``envelope_bodies("flow")``: one fact per (site, agent, device, destination, port,
    protocol), keeping the finding with the latest ``last_seen`` and every envelope as evidence."""
    skipped = skipped if skipped is not None else Skipped()
    merged: dict[tuple[str, str, str, str, int, str], tuple[FlowFinding, list[EvidenceRef]]] = {}
    for env in envelopes:
        site, agent = str(env.get("site")), str(env.get("agent"))
        boot, seq = env.get("boot"), env.get("seq")
        try:
            body = FlowBody.decode(env.get("body"))
        except BodyError as exc:
            skipped.add("flow_body", f"{agent}/{boot}#{seq}: {exc.detail}")
            continue
        ref = EvidenceRef(agent, boot, seq) if isinstance(boot, str) and isinstance(seq, int) else None
        for finding in body.flows:
            key = (site, agent, *finding.key)
            prior = merged.get(key)
            if prior is None:
                merged[key] = (finding, [ref] if ref else [])
                continue
            kept, refs = prior
            if ref is not None:
                refs.append(ref)
            if finding.last_seen >= kept.last_seen:
                merged[key] = (finding, refs)
    return [
        FlowFact(key[0], key[1], finding, tuple(refs[-MAX_EVIDENCE_REFS:]))
        for key, (finding, refs) in sorted(merged.items(), key=lambda item: item[0])
    ]
