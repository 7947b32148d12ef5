"""Adapters from the collector store's rows to the engine's facts. Pure.

``device_facts(store.devices())``, ``agent_facts(store.agent_status())`` and
``flow_facts(store.envelope_bodies("flow"))`` give ``evaluate`` its input; rows with missing
or unparsable times are skipped (and counted by the caller if it wishes), never fatal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from agent.wire.timefmt import parse_utc
from collector.agenthealth import summarise
from collector.policy.engine import MAX_EVIDENCE_REFS, AgentFact, DeviceFact, EvidenceRef, FlowFact


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_utc(value)
    except ValueError:
        return None


def device_facts(rows: Iterable[Mapping[str, Any]]) -> list[DeviceFact]:
    """From ``devices()`` rows: site, agent, device_key, first/last_seen, evidence_boot/seq, record."""
    out = []
    for row in rows:
        first, last = _time(row.get("first_seen")), _time(row.get("last_seen"))
        record = row.get("record")
        if first is None or last is None or not isinstance(record, Mapping):
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
    revoked agents and agents never heard from are left out."""
    lost: dict[tuple[str, str], tuple[dict[str, int], tuple[EvidenceRef, ...]]] = {}
    for h in health:
        agent, boot, seq = str(h.get("agent")), h.get("boot"), h.get("seq")
        ref = (EvidenceRef(agent, boot, seq),) if isinstance(boot, str) and isinstance(seq, int) else ()
        lost[(str(h.get("site")), agent)] = (summarise(h.get("body")).evidence_lost, ref)
    out = []
    for row in rows:
        last = _time(row.get("last_seen"))
        if row.get("revoked_at") or last is None:
            continue
        site, agent = str(row.get("site")), str(row.get("agent"))
        evidence_lost, refs = lost.get((site, agent), ({}, ()))
        out.append(AgentFact(site, agent, last, refs, evidence_lost))
    return out


def _flow_records(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A flow body carries one record (``flow``), several (``flows``), or is the record itself."""
    if isinstance(body.get("flows"), list):
        return [f for f in body["flows"] if isinstance(f, Mapping)]
    if isinstance(body.get("flow"), Mapping):
        return [body["flow"]]
    return [body] if "destination" in body else []


def flow_facts(envelopes: Iterable[Mapping[str, Any]]) -> list[FlowFact]:
    """From ``envelope_bodies("flow")``: one fact per (site, agent, device, destination, port,
    protocol), keeping the record with the latest ``last_seen`` and every envelope as evidence."""
    merged: dict[tuple[Any, ...], tuple[Mapping[str, Any], list[EvidenceRef]]] = {}
    for env in envelopes:
        body = env.get("body")
        if not isinstance(body, Mapping):
            continue
        site, agent = str(env.get("site")), str(env.get("agent"))
        boot, seq = env.get("boot"), env.get("seq")
        ref = EvidenceRef(agent, boot, seq) if isinstance(boot, str) and isinstance(seq, int) else None
        for record in _flow_records(body):
            key = (site, agent, *(str(record.get(k)) for k in ("device", "destination", "port", "protocol")))
            prior = merged.get(key)
            if prior is None:
                merged[key] = (record, [ref] if ref else [])
                continue
            kept, refs = prior
            if ref is not None:
                refs.append(ref)
            if str(record.get("last_seen") or "") >= str(kept.get("last_seen") or ""):
                merged[key] = (record, refs)
    return [
        FlowFact(key[0], key[1], record, tuple(refs[-MAX_EVIDENCE_REFS:]))
        for key, (record, refs) in sorted(merged.items(), key=lambda item: item[0])
    ]
