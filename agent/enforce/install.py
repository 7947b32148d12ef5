"""Apply a planned ruleset and prove it: nft applies it, nft lists the table, the listing matches.

``install`` is the only way the agent changes its table. It returns None when the table read
back is the one planned, and otherwise the ``AckReason`` and a detail for the ack; ``nft``
None means enforcement is disabled in ``[enforce]`` and nothing is attempted.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.enforce.errors import EnforceError
from agent.enforce.nft import Nft
from agent.enforce.readback import differences, summary
from agent.enforce.rules import Ruleset
from agent.wire.commands import UNENFORCEABLE, AckOutcome, AckReason


@dataclass(frozen=True)
class NotInstalled:
    reason: AckReason
    detail: str

    @property
    def outcome(self) -> AckOutcome:
        """Refused when this agent cannot enforce at all (nothing was tried), failed otherwise."""
        return AckOutcome.REFUSED if self.reason in UNENFORCEABLE else AckOutcome.FAILED


def install(nft: Nft | None, planned: Ruleset) -> NotInstalled | None:
    """Apply ``planned`` and read it back; None only when nftables holds exactly ``planned``."""
    if nft is None:
        return NotInstalled(
            AckReason.ENFORCEMENT_DISABLED, "[enforce] enabled = false on this agent: no rules were applied"
        )
    try:
        nft.apply(planned)
        installed = nft.installed(planned.table)
    except EnforceError as exc:
        return NotInstalled(exc.reason, str(exc))
    problems = differences(planned, installed)
    if problems:
        return NotInstalled(
            AckReason.READBACK_MISMATCH,
            f"nft accepted the ruleset but table {planned.table} reads back differently: {summary(problems)}",
        )
    return None
