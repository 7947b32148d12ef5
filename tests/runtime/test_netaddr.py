"""The one loopback test the metrics endpoint, the web view and the SMTP relay settings share."""

from __future__ import annotations

import pytest

from agent.runtime.netaddr import is_loopback


@pytest.mark.parametrize(
    "host", ["localhost", "LocalHost", "127.0.0.1", "127.8.9.1", "::1", "[::1]", " ::1 "]
)
def test_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "[::]", "10.0.0.1", "mail.example.org", "localhost.evil", ""]
)
def test_not_loopback(host: str) -> None:
    assert not is_loopback(host)
