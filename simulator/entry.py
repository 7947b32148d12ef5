"""The ``camsentry-sim`` console script: a clear one-line error where the ``sim`` extra is absent.

A console script cannot be installed only with an extra, so production hosts (installed without
``[sim]``) have the command too; there it says what is missing instead of a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

# What the simulator needs beyond the agent's five dependencies (the ``sim`` extra).
SIM_MODULES = ("aiohttp", "lxml")


def main(argv: Sequence[str] | None = None) -> int:
    for module in SIM_MODULES:
        try:
            __import__(module)
        except ImportError:
            print(
                f"camsentry-sim: the simulator needs the 'sim' extra ({module} is not installed): "
                "pip install 'camsentry[sim]'",
                file=sys.stderr,
            )
            return 2
    from simulator.cli import main as run

    return run(argv)
