"""Vendor cloud / P2P domains (data file with a source per row) and the tags they give a flow."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources

import structlog

from agent.wire.flows import CORE_NETWORK_TAG, VENDOR_CLOUD_TAG

log = structlog.get_logger("agent.egress.clouds")

__all__ = ["CORE_NETWORK_TAG", "VENDOR_CLOUD_TAG", "CloudDomain", "CloudTable", "load_cloud_domains"]
REQUIRED_COLUMNS = ("domain", "role", "source")  # plus "vendor" or "maker"


@dataclass(frozen=True)
class CloudDomain:
    domain: str  # matches itself and every subdomain
    vendor: str
    service: str
    role: str
    source: str


def parse_cloud_domains(text: str) -> tuple[CloudDomain, ...]:
    """Rows of the CSV (``agent/data`` names the vendor column ``maker``; ``vendor`` is accepted
    too); a row without a domain, vendor or source is refused (ValueError)."""
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    vendor_column = "vendor" if "vendor" in columns else "maker"
    if vendor_column not in columns:
        missing.append("vendor")
    if missing:
        raise ValueError(f"cloud domain table lacks columns {missing}")
    rows = []
    for n, row in enumerate(reader, start=2):
        domain = (row["domain"] or "").strip().lower().rstrip(".")
        vendor = (row[vendor_column] or "").strip().lower()
        if not domain or not vendor or not row["source"]:
            raise ValueError(f"cloud domain table line {n}: domain, vendor and source are required")
        rows.append(CloudDomain(domain, vendor, row.get("service") or "", row["role"], row["source"]))
    return tuple(rows)


def load_cloud_domains() -> tuple[CloudDomain, ...]:
    """The shared table identification ships in ``agent/data/cloud_domains.csv``; () if unusable."""
    try:
        text = resources.files("agent.data").joinpath("cloud_domains.csv").read_text(encoding="utf-8")
        return parse_cloud_domains(text)
    except (OSError, ModuleNotFoundError, ValueError) as exc:
        log.warning("cloud_domains_unusable", problem=str(exc))
        return ()


class CloudTable:
    def __init__(self, rows: tuple[CloudDomain, ...]) -> None:
        self._by_domain = {r.domain: r for r in rows}

    def match(self, names: tuple[str, ...]) -> CloudDomain | None:
        """The row for the first of ``names`` that is a listed domain or under one."""
        for raw in names:
            labels = raw.lower().rstrip(".").split(".")
            for i in range(len(labels) - 1):
                row = self._by_domain.get(".".join(labels[i:]))
                if row is not None:
                    return row
        return None

    def tags(self, names: tuple[str, ...]) -> list[str]:
        row = self.match(names)
        return [f"{VENDOR_CLOUD_TAG}{row.vendor}"] if row else []
