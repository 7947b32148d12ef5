"""The edge: hand a rendered ruleset to ``nft -f -`` and list the table back with ``nft -j``.
The only module that runs nft.

Failures become an ``EnforceError`` whose ``reason`` an operator can act on: ``nft_missing``
(not installed, not executable), ``no_capability`` (nft ran without CAP_NET_ADMIN),
``nft_refused`` (nft rejected the ruleset), ``nft_failed`` (it hung or could not start).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Protocol

from agent.enforce.errors import EnforceError
from agent.enforce.readback import Installed, ListingError, parse_listing
from agent.enforce.rules import Ruleset
from agent.wire.commands import AckReason

# nft answers in milliseconds; a hung nft must not hang the daemon's command handling.
NFT_TIMEOUT_S = 10.0
# What the kernel says through nft when the caller lacks CAP_NET_ADMIN (EPERM from netlink).
_EPERM = "Operation not permitted"
# `nft list table` of a table that does not exist: ENOENT from netlink, as nft words it.
_NO_TABLE = "Error: No such file or directory"
# A shell or env (exit 126/127) or `ip netns exec` ('exec of "nft" failed') that cannot run nft.
_NOT_FOUND_EXITS = {126, 127}
_EXEC_FAILED = "exec of "


class Nft(Protocol):
    def apply(self, ruleset: Ruleset) -> None:
        """Apply ``ruleset.text`` as one transaction; EnforceError with a reason when it did not."""
        ...

    def installed(self, table: str) -> Installed | None:
        """What nftables holds in ``table`` ("inet camsentry"); None if the table does not exist."""
        ...


class SubprocessNft:
    """Run ``<argv> ...``; ``argv`` may prefix ``ip netns exec NS`` or name another binary."""

    def __init__(self, argv: Sequence[str] = ("nft",)) -> None:
        self.argv = tuple(argv)

    def _run(self, args: Sequence[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                [*self.argv, *args],
                input=stdin,
                capture_output=True,
                timeout=NFT_TIMEOUT_S,
                check=False,
            )
        except FileNotFoundError as exc:
            raise EnforceError(
                f"{self.argv[0]}: not installed ({exc.strerror})", AckReason.NFT_MISSING
            ) from exc
        except PermissionError as exc:
            raise EnforceError(
                f"{self.argv[0]}: cannot execute ({exc.strerror})", AckReason.NFT_MISSING
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise EnforceError(
                f"nft did not finish within {NFT_TIMEOUT_S:g} s", AckReason.NFT_FAILED
            ) from exc
        except OSError as exc:
            raise EnforceError(f"nft could not run: {exc}", AckReason.NFT_FAILED) from exc

    def _error(self, what: str, done: subprocess.CompletedProcess[bytes]) -> EnforceError:
        message = done.stderr.decode("utf-8", "replace").strip()[:2000]
        if done.returncode in _NOT_FOUND_EXITS or message.startswith(_EXEC_FAILED):
            reason = AckReason.NFT_MISSING
        elif _EPERM in message:
            reason = AckReason.NO_CAPABILITY
        else:
            reason = AckReason.NFT_REFUSED
        return EnforceError(f"{what} (exit {done.returncode}): {message}", reason)

    def apply(self, ruleset: Ruleset) -> None:
        done = self._run(["-f", "-"], ruleset.text.encode("utf-8"))
        if done.returncode != 0:
            raise self._error("nft refused the ruleset", done)

    def installed(self, table: str) -> Installed | None:
        done = self._run(["-j", "list", "table", *table.split()])
        if done.returncode != 0:
            if done.stderr.decode("utf-8", "replace").startswith(_NO_TABLE):
                return None
            raise self._error(f"nft could not list table {table}", done)
        try:
            return parse_listing(done.stdout.decode("utf-8", "replace"), table)
        except ListingError as exc:
            raise EnforceError(f"reading table {table} back: {exc}", AckReason.READBACK_MISMATCH) from exc
