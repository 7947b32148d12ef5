"""What the store hands back, and the one error it raises."""

from __future__ import annotations

from dataclasses import dataclass

from agent.wire.envelope import Envelope


class StoreError(RuntimeError):
    """The database refused or failed an operation (or could not be reached)."""


@dataclass(frozen=True)
class AgentRow:
    site: str
    agent: str
    public_key: str
    enrolled_at: str
    revoked_at: str | None


@dataclass(frozen=True)
class StoredBatch:
    new: list[Envelope]
    duplicates: list[Envelope]
