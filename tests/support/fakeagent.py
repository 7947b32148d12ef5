"""An enrolled agent reduced to its key and a sequence number: signs envelopes a test publishes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire.envelope import Kind, encode, seal
from agent.wire.inventory import DeviceRecord, Signals, inventory_body
from agent.wire.signing import public_key_to_text
from agent.wire.topics import topic
from collector.store import Store
from tests.support.rawmqtt import publish_and_wait


def camera(i: int) -> DeviceRecord:
    """A Hikvision-made camera (by maker and OUI) at 10.77.1.<i>."""
    mac = f"44:19:b6:00:01:{i:02x}"
    return DeviceRecord(f"10.77.1.{i}", 80, mac=mac, maker="Hikvision", signals=Signals(mac=mac))


class FakeAgent:
    def __init__(self, store: Store, site: str = "hq", agent: str = "pi-01") -> None:
        self.key = Ed25519PrivateKey.generate()
        self.site, self.agent = site, agent
        store.add_agent(site, agent, public_key_to_text(self.key.public_key()), "2026-01-01T00:00:00.000Z")
        self.seq = 0

    def envelope(self, kind: Kind, body: dict[str, Any], *, key: Ed25519PrivateKey | None = None) -> bytes:
        self.seq += 1
        env = seal(
            key or self.key, agent=self.agent, site=self.site, boot="b1", seq=self.seq, ts=datetime.now(UTC),
            kind=kind, body=body,
        )  # fmt: skip
        return encode(env)

    def inventory(self, client: Any, first: int, count: int) -> list[bytes]:
        sent = []
        for i in range(first, first + count):
            payload = self.envelope(Kind.INVENTORY, inventory_body(camera(i), sweep=f"s{i}", snapshot=False))
            publish_and_wait(client, topic(self.site, self.agent, "inventory"), payload)
            sent.append(payload)
        return sent
