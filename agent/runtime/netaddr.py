"""Host names and addresses in configuration (pure)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name, an address, or a bracketed ``[V6]``) stays on this machine.

    Only ``localhost`` by name: any other name may resolve elsewhere, so it is not loopback.
    """
    host = host.strip()
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False
