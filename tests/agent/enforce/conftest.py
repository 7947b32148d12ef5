"""Shared helpers for the enforcement tests: keys, a moving clock, command factories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.commands import Command, CommandAction, seal_command

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return (self._now - T0).total_seconds()

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


@pytest.fixture
def collector_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


MakeCommand = Callable[..., bytes]


@pytest.fixture
def make_command(collector_key: Ed25519PrivateKey) -> MakeCommand:
    def make(
        cid: int,
        action: CommandAction = CommandAction.QUARANTINE,
        device: str = "10.77.1.2",
        *,
        site: str = "site-a",
        agent: str = "agent-1",
        issued: datetime = T0,
        ttl_s: float = 900,
        params: dict[str, Any] | None = None,
        key: Ed25519PrivateKey | None = None,
    ) -> bytes:
        command = Command(
            id=cid,
            site=site,
            agent=agent,
            action=action,
            device=device,
            issued=issued,
            expires=issued + timedelta(seconds=ttl_s),
            params=params or {},
        )
        return seal_command(key or collector_key, command)

    return make
