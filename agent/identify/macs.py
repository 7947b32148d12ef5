"""Every MAC a device gives away, and what the registry says of its prefix (pure).

A camera's MAC comes from GetNetworkInterfaces (every interface), a ``MAC`` scope, a serial
number that is the MAC (Axis, Vivotek) and, less surely, an endpoint reference that ends in
12 hex digits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.identify.model import XADDR_MAC_FACTOR, Signal, Signals
from agent.identify.scopes import scope_parts
from agent.identify.tables import Oui, Tables, oui_key

_MACLIKE = re.compile(r"^[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}$")
_UUID_TAIL = re.compile(r"[-:]([0-9A-Fa-f]{12})$")


def serial_mac(serial: str) -> str:
    """The serial number when it is a MAC: 12 hex digits, any separators, not all digits."""
    s = serial.strip()
    return s if _MACLIKE.match(s) and not s.isdigit() else ""


def xaddr_mac(hint: str) -> str:
    """The 12 hex digits an endpoint reference (``urn:uuid:…``) ends in, if it does."""
    m = _UUID_TAIL.search(hint.strip())
    return m.group(1) if m and hint.lower().startswith(("urn:uuid:", "uuid:")) else ""


def mac_candidates(signals: Signals, scopes: Sequence[str]) -> list[tuple[str, Signal, float]]:
    """(mac, signal it came from, weight factor), strongest sources first."""
    out: list[tuple[str, Signal, float]] = [
        (m, Signal.MAC_OUI, 1.0) for m in (signals.mac, *signals.macs) if m
    ]
    out += [
        (p[1], Signal.SCOPE_MAC, 1.0)
        for s in scopes
        if (p := scope_parts(s)) and p[0] in ("mac", "macaddress")
    ]
    if mac := serial_mac(signals.serial):
        out.append((mac, Signal.SERIAL_MAC, 1.0))
    out += [(m, Signal.XADDR, XADDR_MAC_FACTOR) for h in signals.xaddr_hints if (m := xaddr_mac(h))]
    return out


def oui_of(tables: Tables, mac: str) -> Oui | None:
    """The longest registered prefix (36, 28, then 24 bits); None for locally administered MACs."""
    digits = oui_key(mac.replace("-", ":"))
    if len(digits) != 12 or int(digits[1], 16) & 0x2:  # locally administered: says nothing
        return None
    for length in (9, 7, 6):
        row = tables.ouis.get(digits[:length])
        if row is not None:
            return row
    return None
