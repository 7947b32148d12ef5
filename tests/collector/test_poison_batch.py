"""One hostile message never costs the batch it arrives in: it is counted, the rest is stored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.envelope import Kind, encode, seal
from agent.wire.errors import RejectReason
from agent.wire.signing import public_key_to_text
from collector.ingest import Ingestor
from collector.store.sqlite import SqliteStore
from tests.agent.wire.test_hostile_json import HOSTILE
from tests.support.clock import FakeClock

NOW = datetime(2026, 11, 23, tzinfo=UTC)
TOPIC = "camsentry/v1/hq/pi/health"


def message(key: Ed25519PrivateKey, seq: int, boot: str = "b") -> tuple[str, bytes]:
    env = seal(key, agent="pi", site="hq", boot=boot, seq=seq, ts=NOW, kind=Kind.HEALTH, body={"n": seq})
    return TOPIC, encode(env)


def test_hostile_payloads_among_good_ones_are_counted_and_the_good_ones_stored(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    store = SqliteStore(tmp_path / "c.sqlite")
    store.add_agent("hq", "pi", public_key_to_text(key.public_key()), NOW.isoformat())
    ingestor = Ingestor(store, clock=FakeClock())
    batch = [message(key, 1)]
    for payload in HOSTILE.values():
        batch += [(TOPIC, payload), (TOPIC, payload)]
    batch.append(message(key, 2))
    with structlog.testing.capture_logs() as logs:
        result = ingestor.ingest(batch)
    assert [e.seq for e in result.new] == [1, 2]
    assert sum(result.rejected.values()) == 2 * len(HOSTILE)
    assert set(result.rejected) == {RejectReason.MALFORMED_JSON}
    counters = store.counters()[("hq", "pi")]
    assert counters["rejected:malformed_json"] == 2 * len(HOSTILE) and counters["accepted"] == 2
    # loud once per agent and reason, quiet after; never a traceback per message
    loud = [e for e in logs if e["log_level"] == "warning"]
    assert len(loud) == 1 and loud[0]["reason"] == "malformed_json"
    assert not any("exc_info" in e or e["log_level"] == "error" for e in logs)
    store.close()


def test_a_message_the_database_refuses_is_rejected_alone(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    store = SqliteStore(tmp_path / "c.sqlite")
    store.add_agent("hq", "pi", public_key_to_text(key.public_key()), NOW.isoformat())
    # A real refusal by the real database for one row's data (a trigger stands in for a value
    # the engine cannot hold, such as a NUL in a PostgreSQL text column).
    conn = store.backend.connect(autocommit=True)
    conn.execute(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON envelopes WHEN NEW.boot = 'poison' "
        "BEGIN SELECT RAISE(ABORT, 'poison refused'); END"
    )
    conn.close()
    ingestor = Ingestor(store, clock=FakeClock())
    result = ingestor.ingest([message(key, 1), message(key, 1, boot="poison"), message(key, 2)])
    assert [e.seq for e in result.new] == [1, 2]
    assert result.rejected == {RejectReason.UNSTORABLE: 1}
    assert store.counters()[("hq", "pi")]["rejected:unstorable"] == 1
    assert store.count_envelopes() == 2
    store.close()
