"""The edge: hand a rendered ruleset to ``nft -f -``. The only module that runs nft."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Protocol

from agent.enforce.errors import EnforceError

# nft answers in milliseconds; a hung nft must not hang the daemon's command handling.
NFT_TIMEOUT_S = 10.0


class NftRunner(Protocol):
    def __call__(self, ruleset: str) -> None: ...


class SubprocessNft:
    """Run ``<argv> -f -`` with the ruleset on stdin; ``argv`` may prefix ``ip netns exec NS``."""

    def __init__(self, argv: Sequence[str] = ("nft",)) -> None:
        self.argv = tuple(argv)

    def __call__(self, ruleset: str) -> None:
        try:
            done = subprocess.run(
                [*self.argv, "-f", "-"],
                input=ruleset.encode("utf-8"),
                capture_output=True,
                timeout=NFT_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EnforceError(f"nft could not run: {exc}") from exc
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip()[:2000]
            raise EnforceError(f"nft refused the ruleset (exit {done.returncode}): {message}")


class DryRunNft:
    """Records rulesets instead of applying them; touches nothing."""

    def __init__(self) -> None:
        self.rulesets: list[str] = []

    def __call__(self, ruleset: str) -> None:
        self.rulesets.append(ruleset)
