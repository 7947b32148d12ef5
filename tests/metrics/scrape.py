"""Scraping /metrics over real HTTP(S) with urllib, parsed with prometheus-client's own parser."""

from __future__ import annotations

import json
import re
import ssl
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families


def scrape(url: str, *, headers: dict[str, str] | None = None, context: ssl.SSLContext | None = None) -> str:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - a test's loopback URL
    with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
        assert response.status == 200
        return response.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} for every sample in an exposition."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), float("nan"))


DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "camsentry.json"


def dashboard_metrics(prefix: str) -> set[str]:
    """Every series name starting with ``prefix`` that the Grafana dashboard queries."""
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]
    return {m for e in exprs for m in re.findall(rf"\b{prefix}\w+", e)}


def exposed(text: str) -> set[str]:
    """Every series name an exposition declares, with or without samples yet."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update({family.name + "_total"} if family.type == "counter" else set())
        names.update({family.name + "_sum", family.name + "_count"} if family.type == "summary" else set())
        names.update(s.name for s in family.samples)
    return names
