"""A storm as one message (pure): counts of N alerts by rule, site, severity and event, and the
command that lists them; and the one-line and plain-text forms that mail and syslog carry."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from agent.wire.timefmt import format_utc

# The by-rule and by-site tables stay readable in a mail or a pager; the rest is counted as "other".
MAX_GROUPS = 20


def _top(counter: Counter[str]) -> dict[str, int]:
    top = dict(counter.most_common(MAX_GROUPS))
    rest = sum(counter.values()) - sum(top.values())
    if rest:
        top["(other)"] = rest
    return top


def see_command(since: str) -> str:
    return f"camsentry-collector violations --state open --since {since}"


def digest_document(alerts: Sequence[dict[str, Any]], since: str, at: datetime) -> dict[str, Any]:
    """One digest for ``alerts`` (their queue documents), the first queued at ``since``."""
    by_rule = Counter(str(a.get("rule", "")) for a in alerts)
    by_site = Counter(str(a.get("site", "")) for a in alerts)
    by_severity = Counter(str(a.get("severity", "")) for a in alerts)
    by_event = Counter(str(a.get("event", "")) for a in alerts)
    opened = by_event.get("opened", 0) + by_event.get("reopened", 0)
    rules = ", ".join(f"{rule} {n}" for rule, n in by_rule.most_common(3))
    return {
        "event": "digest",
        "count": len(alerts),
        "opened": opened,
        "since": since,
        "by_rule": _top(by_rule),
        "by_site": _top(by_site),
        "by_severity": dict(by_severity),
        "by_event": dict(by_event),
        "see": see_command(since),
        "summary": f"{len(alerts)} alerts ({opened} new violations) across {len(by_site)} site(s): {rules}",
        "at": format_utc(at),
    }


def subject(doc: dict[str, Any]) -> str:
    if doc.get("event") == "digest":
        return f"[camsentry] digest: {doc.get('summary', '')}"
    return (
        f"[camsentry] {doc.get('severity', '')} {doc.get('event', '')}: "
        f"{doc.get('rule', '')} at {doc.get('site', '')} {doc.get('address', '')}".rstrip()
    )


def text(doc: dict[str, Any]) -> str:
    """A plain-text body for people."""
    if doc.get("event") == "digest":
        lines = [str(doc.get("summary", "")), "", "By rule:"]
        lines += [f"  {k}: {v}" for k, v in dict(doc.get("by_rule", {})).items()]
        lines += ["", "By site:"]
        lines += [f"  {k}: {v}" for k, v in dict(doc.get("by_site", {})).items()]
        lines += ["", f"See them: {doc.get('see', '')}"]
        return "\n".join(lines) + "\n"
    fields = (
        "summary",
        "rule",
        "severity",
        "site",
        "agent",
        "device_id",
        "address",
        "state",
        "violation",
        "at",
    )
    lines = [f"{name}: {doc.get(name, '')}" for name in fields]
    return "\n".join(lines) + f"\n\nSee it: camsentry-collector audit {doc.get('violation', '')}\n"
