"""Collector ingest rate (size check, decode, verify, dedupe, store) against raw Ed25519 verify.

Both are measured in this run on this machine; the ratio is what matters (target >= 0.7x on
SQLite; on PostgreSQL no target is set yet, the ratio is reported).
Run: .venv/bin/python -m bench.bench_ingest [--messages N] [--database postgresql://USER@HOST/DB]

With ``--database postgresql://...`` the run uses a schema of its own in that database
(created, then dropped), so it neither needs an empty database nor leaves rows behind.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import secrets
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.runtime.clock import SystemClock
from agent.wire.canonical import canonical_json
from agent.wire.envelope import Kind, encode, seal
from agent.wire.inventory import DeviceRecord, Evidence, Vulnerability, inventory_body
from agent.wire.signing import public_key_to_text
from agent.wire.timefmt import format_utc
from agent.wire.topics import topic
from bench.common import Measured, measure, report
from collector.ingest import Ingestor
from collector.store import open_store

AGENTS = 10
BATCH = 1000
ROUNDS = 8


def device(i: int) -> DeviceRecord:
    return DeviceRecord(
        address=f"198.51.100.{i % 250}",
        port=80,
        reachable=True,
        manufacturer="HIKVISION",
        model="DS-2CD2143G0-I",
        firmware="V5.5.61 build 180718",
        serial=f"DS-2CD2143G0-I20180829AAWRC{i:08d}",
        mac=f"58:03:fb:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}",
        maker="Hikvision",
        brand="Hikvision",
        maker_confidence=0.98,
        evidence=(Evidence("oui", "58:03:FB", "Hikvision", 0.9),),
        vulnerabilities=(Vulnerability("CVE-2021-36260", kev=True),),
    )


@contextmanager
def database(url: str | None) -> Iterator[str]:
    """A URL to an empty store: a temporary SQLite file, or a throwaway schema in the given database."""
    if url is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        return
    if not url.startswith(("postgresql://", "postgres://")):
        raise SystemExit("--database: give a postgresql:// URL (without it the bench uses SQLite)")
    import psycopg

    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            joiner = "&" if "?" in url else "?"
            yield f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--database", help="a postgresql:// URL to measure on PostgreSQL (default: SQLite)")
    args = parser.parse_args()
    n = args.messages
    keys = [Ed25519PrivateKey.generate() for _ in range(AGENTS)]
    now = datetime.now(UTC)
    messages = []
    for i in range(n):
        a = i % AGENTS
        env = seal(
            keys[a],
            agent=f"a{a}",
            site="s",
            boot="b",
            seq=i + 1,
            ts=now,
            kind=Kind.INVENTORY,
            body=inventory_body(device(i), sweep="x", snapshot=False),
        )
        messages.append((topic("s", f"a{a}", "inventory"), encode(env)))
    size = sum(len(p) for _, p in messages) / n

    # Baseline: the bare cryptographic verify of the same signatures over the same bytes.
    prepared = []
    for _, payload in messages:
        doc = json.loads(payload)
        sig = base64.b64decode(doc.pop("sig"))
        prepared.append((keys[int(doc["agent"][1:])].public_key(), sig, canonical_json(doc)))

    with database(args.database) as url:
        store = open_store(url)
        for a, k in enumerate(keys):
            store.add_agent("s", f"a{a}", public_key_to_text(k.public_key()), format_utc(now))
        ingestor = Ingestor(store, clock=SystemClock())

        def ingest_round(first: int, last: int) -> None:
            for start in range(first, last, BATCH):
                batch = messages[start : min(start + BATCH, last)]
                result = ingestor.ingest(batch)
                assert len(result.new) == len(batch), result.rejected

        # Baseline and ingest alternate in rounds over the same messages, so a slow spell of a
        # shared machine (CPU steal, frequency) weighs on both sides instead of on one.
        raw, ingest = Measured(0.0, 0.0, 0), Measured(0.0, 0.0, 0)
        bounds = [n * r // ROUNDS for r in range(ROUNDS + 1)]
        for first, last in itertools.pairwise(bounds):
            chunk = prepared[first:last]
            raw += measure(last - first, lambda chunk=chunk: [k.verify(s, m) for k, s, m in chunk])
            ingest += measure(last - first, lambda f=first, la=last: ingest_round(f, la))
        assert store.count_envelopes() == n
        store.close()

    engine = "SQLite WAL" if args.database is None else "PostgreSQL"
    print(f"{n} inventory envelopes of {size:.0f} bytes, {AGENTS} agents, batches of {BATCH}, {engine}")
    ok = report("collector ingest per process", ingest, raw, 0.7)
    return 0 if ok or args.database is not None else 1


if __name__ == "__main__":
    sys.exit(main())
