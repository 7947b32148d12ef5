"""IP address text from a peer or an operator, checked before it reaches a ruleset. Pure."""

from __future__ import annotations

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def plain_address(text: str) -> Address:
    """The address ``text`` names; ``ValueError`` for anything else, including a scoped IPv6
    address (``fe80::1%eth0``): since Python 3.9 ``ipaddress`` accepts any text after the
    ``%``, and that text would reach the nft ruleset as written."""
    if "%" in text:
        raise ValueError(f"scoped address {text[:60]!r} refused: give the address without a zone")
    return ipaddress.ip_address(text)


def is_plain_address(text: str) -> bool:
    try:
        plain_address(text)
    except ValueError:
        return False
    return True
