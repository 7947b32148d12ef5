"""A small, deterministic random mutator: the fuzz smoke test's engine, and the fallback of
``make fuzz`` where atheris does not install. Mutations: bit flips, byte edits, chunk
repeats and deletions, splices of two seeds, and tokens that once broke a parser."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

TOKENS = (
    b"9" * 5000,
    b"[" * 1000,
    b"{" * 1000,
    b"NaN",
    b"-Infinity",
    b"1e999",
    b"\\ud800",
    b"\x00",
    b"\xff\xfe",
    b"<!DOCTYPE x [<!ENTITY a 'b'>]>",
    b"%",
    b'"',
    b"::",
    b"\xc0\x0c",
)


def seeds(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()] if folder.is_dir() else []


def mutate(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(7)
        at = rng.randrange(len(buf) + 1)
        if choice == 0 and buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif choice == 1 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif choice == 2:
            buf[at:at] = rng.choice(TOKENS)
        elif choice == 3 and buf:
            end = min(len(buf), at + rng.randint(1, 64))
            del buf[at:end]
        elif choice == 4 and buf:
            end = min(len(buf), at + rng.randint(1, 32))
            buf[at:at] = buf[at:end] * rng.randint(2, 50)
        elif choice == 5 and pool:
            other = rng.choice(pool)
            cut = rng.randrange(len(other) + 1)
            buf = buf[:at] + bytearray(other[cut:])
        else:
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(buf[: 256 * 1024])


def fuzz_for(target: Callable[[bytes], None], corpus: Path, *, seconds: float, seed: int = 14) -> int:
    """Run every seed, then random mutations of them until ``seconds`` pass; returns the count.
    The first input that makes ``target`` raise propagates, with the input attached."""
    pool = seeds(corpus) or [b""]
    rng = random.Random(seed)
    runs = 0
    for data in pool:
        _run(target, data)
        runs += 1
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = mutate(rng.choice(pool), rng, pool)
        _run(target, data)
        runs += 1
    return runs


def _run(target: Callable[[bytes], None], data: bytes) -> None:
    try:
        target(data)
    except Exception as exc:
        exc.add_note(f"fuzz input ({len(data)} bytes): {data[:300]!r}")
        raise
