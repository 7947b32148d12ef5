"""Errors of the enforcement package (see the package docstring)."""

from __future__ import annotations

from agent.runtime.errors import CamsentryError
from agent.wire.commands import AckReason


class EnforceError(CamsentryError):
    """nft could not apply or list the ruleset, or the quarantine state file is unusable;
    ``reason`` is what the ack reports."""

    def __init__(self, message: str, reason: AckReason = AckReason.STATE_UNUSABLE) -> None:
        super().__init__(message)
        self.reason = reason
