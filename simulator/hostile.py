"""The exact hostile bytes each knob promises (pure), so tests can compare byte for byte."""

from __future__ import annotations

WRONG_CONTENT_TYPE = "text/html; charset=utf-8"
BOMB_LEVELS = 10  # lol0..lol9, each 10 references to the one below: 10**9 "lol"s when expanded
BOMB_FANOUT = 10


def entity_bomb(prefix: str = "env") -> bytes:
    """A SOAP-looking "billion laughs" document: harmless unless the reader expands entities."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<!DOCTYPE lolz [", ' <!ENTITY lol0 "lol">']
    for level in range(1, BOMB_LEVELS):
        refs = f"&lol{level - 1};" * BOMB_FANOUT
        lines.append(f' <!ENTITY lol{level} "{refs}">')
    lines.append("]>")
    lines.append(
        f'<{prefix}:Envelope xmlns:{prefix}="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
        f"<{prefix}:Body><tds:GetDeviceInformationResponse><tds:Manufacturer>&lol{BOMB_LEVELS - 1};"
        f"</tds:Manufacturer></tds:GetDeviceInformationResponse></{prefix}:Body></{prefix}:Envelope>"
    )
    return "\n".join(lines).encode()


def malformed(body: bytes) -> bytes:
    """The real answer cut before its last closing tag, with an unclosed element opened instead.

    Firmware that overruns a buffer sends exactly this kind of thing: correct start, broken end.
    """
    cut = body.rstrip().rfind(b"</")
    return body[:cut] + b"<tt:Truncated attr='1'"


def oversize(body: bytes, size: int) -> bytes:
    """``body`` padded with one XML comment to exactly ``size`` bytes (still well-formed)."""
    filler = size - len(body) - len(b"<!---->")
    if filler < 0:
        return body
    return body + b"<!--" + b"x" * filler + b"-->"
