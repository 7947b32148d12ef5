"""Commands queued in the database (SQLite and PostgreSQL): ids, the service's dispatcher, and
what the CLI says when no service, or a slow one, is there to send."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.commands import CommandAction, open_command
from collector.cmdqueue import CommandDispatcher, QueuedSender, beat, is_sent, queue_command
from collector.store import Store, open_store
from tests.support.alerting import T0
from tests.support.clock import FakeClock


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = open_store(database_url, migrate=True)
    try:
        yield s
    finally:
        s.close()


def test_queued_commands_are_sealed_fresh_and_sent_once(store: Store) -> None:
    clock = FakeClock(T0)
    db = store.new_database()
    key = Ed25519PrivateKey.generate()
    sent: list[tuple[str, bytes]] = []
    try:
        first = queue_command(db, "hq", "a1", CommandAction.QUARANTINE, "10.0.0.5", {"recorders": []},
                              issued_by="alice", clock=clock)  # fmt: skip
        second = queue_command(
            db, "hq", "a1", CommandAction.RELEASE, "10.0.0.5", {}, issued_by="bob", clock=clock
        )
        assert (first, second) == (1, 2)
        clock.advance(600)  # the service starts ten minutes later: the expiry counts from now
        dispatcher = CommandDispatcher(db, key, lambda t, p: sent.append((t, p)), clock=clock)
        assert dispatcher.run_once() == 2 and dispatcher.run_once() == 0
        assert [t for t, _ in sent] == ["camsentry/v1/hq/a1/cmd"] * 2
        outcome = open_command(sent[0][1], key.public_key(), site="hq", agent="a1", now=clock.now(),
                               last_applied_id=0)  # fmt: skip
        assert outcome.accepted and outcome.command is not None and outcome.command.issued == clock.now()
        assert is_sent(db, "hq", "a1", 1) and is_sent(db, "hq", "a1", 2)
    finally:
        db.close()


def test_the_cli_says_when_a_command_only_waits_in_the_queue(store: Store) -> None:
    clock = FakeClock(T0)
    err = io.StringIO()
    sender = QueuedSender(
        store.new_database, clock=clock, err=err, wait_s=0.3, sleep=lambda s: clock.advance(s)
    )
    assert sender("hq", "a1", CommandAction.QUARANTINE, "10.0.0.5", {}, issued_by="alice") == 1
    assert "no collector service is running" in err.getvalue()
    # A service that beats but does not send in time: queued, and said so.
    db = store.new_database()
    try:
        beat(db, "collector-1", clock)
    finally:
        db.close()
    err.truncate(0)
    assert sender("hq", "a1", CommandAction.RELEASE, "10.0.0.5", {}, issued_by="alice") == 2
    assert "the running collector has not sent it yet" in err.getvalue()
