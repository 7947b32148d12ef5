"""ONVIF scope URIs as (key, value) pairs (pure)."""

from __future__ import annotations

import re
from urllib.parse import unquote

# onvif://www.onvif.org/name/AXIS%20M5525-E, …/type/manufacturer/FOSCAM, …/MAC/00:40:8c:…
_SCOPE = re.compile(r"^onvif://www\.onvif\.org/(?:type/)?([A-Za-z_]+)/(.*)$")


def scope_parts(scope: str) -> tuple[str, str] | None:
    """``("name", "AXIS M5525-E")`` for an ONVIF scope, the key lower-cased; None for others."""
    m = _SCOPE.match(scope.strip())
    if not m:
        return None
    return m.group(1).lower(), unquote(m.group(2)).strip()
