"""Generate agent/data/oui_registry.csv.gz from the whole IEEE registry (run by hand, offline).

Sources (both copies of https://regauth.standards.ieee.org/ data, read from local files):
- MA-L (24-bit): netaddr's ``netaddr/eui/oui.txt`` (pip package netaddr; the shipped file
  is named in the output, e.g. netaddr 1.3.0), the newer of the two copies found here;
- MA-L as well, MA-M (28-bit), MA-S (36-bit) and IAB: Debian package ieee-data
  (``/usr/share/ieee-data/{oui,mam,oui36,iab}.csv``, e.g. 20220827.1).
A prefix in both copies keeps the netaddr name. Every registrant is matched against
``agent/data/oui_registrants.csv`` (first matching pattern wins); only matched prefixes are
written (makers we know, their brands, related registrants as hints, Wi-Fi/cellular module
makers marked ``module`` = no evidence), so the agent ships a few kilobytes, not the registry.

    python agent/data/tools/build_oui.py --netaddr-oui PATH/oui.txt --netaddr-version 1.3.0 \
        --ieee-data /usr/share/ieee-data --ieee-data-version 20220827.1
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parents[1]
RULES = DATA / "oui_registrants.csv"
OUT = DATA / "oui_registry.csv.gz"
COLUMNS = ("prefix", "registrant", "points_to", "kind", "source")
_NETADDR_LINE = re.compile(r"^([0-9A-F]{6})\s+\(base 16\)\s+(.*)$")
_IEEE_FILES = {"oui.csv": "MA-L", "mam.csv": "MA-M", "oui36.csv": "MA-S", "iab.csv": "IAB"}


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    points_to: str
    kind: str


def read_rules(text: str) -> list[Rule]:
    return [
        Rule(re.compile(r["pattern"], re.IGNORECASE), r["points_to"], r["kind"])
        for r in csv.DictReader(io.StringIO(text))
    ]


def netaddr_registry(text: str) -> dict[str, str]:
    """prefix -> registrant from netaddr's oui.txt (the IEEE text format)."""
    out = {}
    for line in text.splitlines():
        m = _NETADDR_LINE.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def ieee_data_registry(directory: Path) -> dict[str, tuple[str, str]]:
    """prefix -> (registry, registrant) from Debian ieee-data's CSV files."""
    out = {}
    for name, registry in _IEEE_FILES.items():
        with (directory / name).open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                out[row["Assignment"].strip().upper()] = (registry, row["Organization Name"].strip())
    return out


def build(
    rules: list[Rule],
    netaddr: dict[str, str],
    ieee: dict[str, tuple[str, str]],
    netaddr_src: str,
    ieee_src: str,
) -> list[tuple[str, str, str, str, str]]:
    merged: dict[str, tuple[str, str]] = {
        p: (f"IEEE {r} via {ieee_src}", name) for p, (r, name) in ieee.items()
    }
    merged.update({p: (f"IEEE MA-L via {netaddr_src}", name) for p, name in netaddr.items()})
    rows = []
    for prefix in sorted(merged):
        source, registrant = merged[prefix]
        for rule in rules:
            if rule.pattern.search(registrant):
                rows.append((prefix, registrant, rule.points_to, rule.kind, source))
                break
    return rows


def render(rows: list[tuple[str, str, str, str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    # mtime=0: the same inputs give the same bytes, so a regenerated file only differs in data.
    return gzip.compress(buf.getvalue().encode("utf-8"), compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--netaddr-oui", type=Path, required=True)
    ap.add_argument("--netaddr-version", required=True)
    ap.add_argument("--ieee-data", type=Path, default=Path("/usr/share/ieee-data"))
    ap.add_argument("--ieee-data-version", required=True)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    rows = build(
        read_rules(RULES.read_text(encoding="utf-8")),
        netaddr_registry(args.netaddr_oui.read_text(encoding="utf-8", errors="replace")),
        ieee_data_registry(args.ieee_data),
        f"netaddr {args.netaddr_version} oui.txt",
        f"Debian ieee-data {args.ieee_data_version}",
    )
    args.out.write_bytes(render(rows))
    counts = Counter((r[2] or "module") for r in rows)
    print(
        f"{len(rows)} prefixes -> {args.out.name}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
