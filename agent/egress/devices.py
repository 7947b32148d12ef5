"""Which addresses are cameras the agent knows: the sweep's inventory records → identities.

``identities_from_records`` (pure) maps each record's address to its ``DeviceIdentity`` (the
inventory ``device_key`` the collector stores it under, maker and brand). ``DeviceDirectory``
holds the latest map for the egress watcher's ``device_lookup``: the daemon calls ``update``
after each sweep (its thread), the watcher calls the directory from its event threads, so the
map is replaced whole, never changed in place.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from agent.wire.inventory import DeviceRecord

# One sweep of a large site is a few hundred cameras; a directory this size is a bug or a flood.
MAX_DEVICES = 65_536


@dataclass(frozen=True)
class DeviceIdentity:
    key: str
    maker: str | None = None
    brand: str | None = None


def identities_from_records(records: Iterable[DeviceRecord]) -> dict[str, DeviceIdentity]:
    """Address → identity for every record with a usable IP address (the first record wins)."""
    out: dict[str, DeviceIdentity] = {}
    for record in records:
        try:
            address = str(ipaddress.ip_address(record.address))
        except ValueError:
            continue
        if address in out:
            continue
        if len(out) >= MAX_DEVICES:
            break
        out[address] = DeviceIdentity(key=record.key, maker=record.maker or None, brand=record.brand or None)
    return out


class DeviceDirectory:
    """The watcher's ``device_lookup``; see module doc."""

    def __init__(self) -> None:
        self._by_address: Mapping[str, DeviceIdentity] = MappingProxyType({})

    def update(self, records: Iterable[DeviceRecord]) -> None:
        """Replace the map with this sweep's devices; a sweep that found none keeps the last map
        (a failed sweep is not evidence that every camera left)."""
        found = identities_from_records(records)
        if found:
            self._by_address = MappingProxyType(found)

    def __call__(self, address: str) -> DeviceIdentity | None:
        return self._by_address.get(address)

    def __len__(self) -> int:
        return len(self._by_address)
