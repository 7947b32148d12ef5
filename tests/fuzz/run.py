"""``python -m tests.fuzz.run TARGET [--seconds N]``: fuzz one target with atheris (libFuzzer),
coverage-guided, starting from tests/fuzz/corpus/TARGET. New inputs it finds go to a scratch
directory (``--work``), so the committed seeds stay small; a crash leaves ``crash-*`` there.

Without atheris (it needs a CPython it has wheels for), the same target runs under the
random mutator of the smoke test for the same time: less clever, still worth running.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run")
    parser.add_argument("target")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--work", help="where new inputs and crashes go (default: a temporary directory)")
    args = parser.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix=f"camsentry-fuzz-{args.target}-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        import atheris
    except ImportError:
        atheris = None
    if atheris is None:
        from tests.fuzz.mutate import fuzz_for
        from tests.fuzz.targets import TARGETS

        runs = fuzz_for(TARGETS[args.target], CORPUS / args.target, seconds=args.seconds)
        print(f"{args.target}: {runs} runs in {args.seconds} s (random mutation; atheris not installed)")
        return 0
    with atheris.instrument_imports():
        from tests.fuzz.targets import TARGETS
    target = TARGETS[args.target]
    started = time.monotonic()
    atheris.Setup(
        [
            sys.argv[0],
            f"-max_total_time={args.seconds}",
            "-max_len=65536",
            "-rss_limit_mb=1024",
            "-timeout=10",
            f"-artifact_prefix={work}/",
            str(work),
            str(CORPUS / args.target),
        ],
        target,
    )
    try:
        atheris.Fuzz()
    finally:
        print(f"{args.target}: ran {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
