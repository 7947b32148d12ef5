"""WS-Security UsernameToken: the ONVIF Application Programmer's Guide vector, camera-clock
timestamps written in UTC with Z, envelopes built by zeep from the one shared Document."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

from lxml import etree

from agent.onvif import client
from agent.onvif.targets import CameraTarget
from agent.onvif.wsse import make_token, password_digest
from agent.wire.timefmt import format_utc


def test_programmers_guide_vector() -> None:
    nonce = base64.b64decode("LKqI6G/AikKCQrN0zqZFlg==")
    assert password_digest(nonce, "2010-09-16T07:50:45Z", "userpassword") == "tuOSpGlFlIXsozq4HFNeeGeFLEI="


def test_created_is_the_cameras_time_in_utc_with_z() -> None:
    ours = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=timezone(timedelta(hours=2)))
    assert format_utc(ours) == "2026-01-02T01:04:05.678Z"
    token = make_token("admin", "pw", now=ours, offset_s=-3 * 3600, nonce=b"0123456789abcdef")
    assert token.created == "2026-01-01T22:04:05.678Z"
    assert token.digest == password_digest(b"0123456789abcdef", token.created, "pw")
    assert "pw" not in repr(token) and token.digest not in repr(token)


def test_envelopes_are_built_once_per_process_and_signed_per_camera() -> None:
    client.preload()
    shared = client._get_shared()
    client.preload()
    assert client._get_shared() is shared  # one Document, one ServiceProxy
    now = datetime(2026, 1, 1, tzinfo=UTC)
    session = client.DeviceSession(
        CameraTarget("127.0.0.1", 1),
        max_response_bytes=65536,
        now=lambda: now,
        monotonic=lambda: 0.0,
        deadline=1.0,
    )
    session.offset_s = 7200.0
    token = make_token("admin", "pw", now=now, offset_s=session.offset_s)
    root = etree.fromstring(session.build("GetServices", token))
    assert root.find(".//{*}IncludeCapability").text == "false"  # type: ignore[union-attr]
    assert root.find(".//{*}Created").text == "2026-01-01T02:00:00.000Z"  # type: ignore[union-attr]
    assert root.find(".//{*}Password").get("Type", "").endswith("#PasswordDigest")  # type: ignore[union-attr]
    assert etree.fromstring(session.build("GetSystemDateAndTime", None)).find(".//{*}Security") is None
