"""Enrolment by approval, key rotation and revocation: who the collector believes, and when."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.enrol import key_fingerprint, open_enrol, seal_enrol
from agent.wire.envelope import Kind, encode, seal
from agent.wire.errors import RejectReason
from agent.wire.signing import public_key_to_text
from collector.cli import main as collector_main
from collector.ingest import KEY_REFRESH_INTERVAL_S, Ingestor
from collector.store.sqlite import SqliteStore
from tests.support.clock import FakeClock
from tests.support.mosquitto import Broker
from tests.support.pipeline import CountingSweep, agent_config, running_agent, running_collector, wait_until

NOW = datetime(2026, 11, 23, tzinfo=UTC)
TOPIC = "camsentry/v1/hq/pi/health"


def message(key: Ed25519PrivateKey, seq: int) -> tuple[str, bytes]:
    env = seal(key, agent="pi", site="hq", boot="b", seq=seq, ts=NOW, kind=Kind.HEALTH, body={})
    return TOPIC, encode(env)


def test_rotation_and_revocation_take_effect_within_the_refresh_interval(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(tmp_path / "c.sqlite")
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    store.add_agent("hq", "pi", public_key_to_text(old.public_key()), NOW.isoformat())
    ingestor = Ingestor(store, clock=clock)
    assert len(ingestor.ingest([message(old, 1)]).new) == 1

    # rotation, as `agents add` from another process would do it
    store.add_agent("hq", "pi", public_key_to_text(new.public_key()), NOW.isoformat())
    clock.advance(KEY_REFRESH_INTERVAL_S)
    result = ingestor.ingest([message(old, 2), message(new, 3)])
    assert result.rejected == {RejectReason.BAD_SIGNATURE: 1}, "the old key stops working"
    assert [e.seq for e in result.new] == [3], "the rotated key works"

    assert store.revoke_agent("hq", "pi", NOW.isoformat())
    clock.advance(KEY_REFRESH_INTERVAL_S)
    result = ingestor.ingest([message(new, 4)])
    assert result.rejected == {RejectReason.REVOKED_AGENT: 1}
    assert store.counters()[("hq", "pi")]["rejected:revoked_agent"] == 1
    store.close()


def test_enrol_request_must_be_signed_by_the_key_it_names() -> None:
    key = Ed25519PrivateKey.generate()
    payload = seal_enrol(key, site="hq", agent="pi", host="box", now=NOW)
    request = open_enrol(payload)
    assert request is not None and request.public_key == public_key_to_text(key.public_key())
    swapped = payload.replace(
        request.public_key.encode(), public_key_to_text(Ed25519PrivateKey.generate().public_key()).encode()
    )
    assert open_enrol(swapped) is None
    assert open_enrol(b"{}") is None and open_enrol(b"x" * 10_000) is None


def test_unenrolled_agent_asks_and_is_accepted_after_approval(
    broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_collector(broker, tmp_path / "c") as col:
        key = Ed25519PrivateKey.generate()
        config = agent_config(broker, tmp_path / "a", col.key)
        cli_config = tmp_path / "collector.toml"
        cli_config.write_text(
            f'state_dir = "{tmp_path / "c"}"\ndatabase = "{col.config.database}"\n'
            '[mqtt]\nhost = "127.0.0.1"\n'
        )
        with running_agent(config, key, CountingSweep(per_sweep=3)) as daemon:
            wait_until(lambda: len(col.store.pending()) == 1, 10, "the enrolment request")
            assert col.store.devices() == [], "nothing is stored before approval"
            wait_until(
                lambda: col.store.counters().get(("?", "?"), {}).get("rejected:unknown_agent", 0) >= 1,
                10,
                "the unenrolled agent's telemetry refused",
            )

            assert collector_main(["--config", str(cli_config), "agents", "pending"]) == 0
            fingerprint = key_fingerprint(public_key_to_text(key.public_key()))
            assert fingerprint in capsys.readouterr().out
            approve = ["--config", str(cli_config), "agents", "approve", "--site", "hq", "--agent", "pi-01"]
            assert collector_main([*approve, "--fingerprint", "0000:0000:0000:0000"]) == 1
            assert "not 0000" in capsys.readouterr().err
            assert collector_main([*approve, "--fingerprint", fingerprint]) == 0
            # the agent resends what was refused; now it is stored
            wait_until(lambda: len(col.store.devices()) == 3, 20, "the devices after approval")
            wait_until(lambda: daemon.outbox.stats().depth == 0, 20, "receipts for everything")
        assert col.store.pending() == []
