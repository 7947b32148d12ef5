"""``[discovery]`` in the agent config: defaults, values, and errors that name file, key and problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from structlog.testing import capture_logs

from agent.config import parse_agent_config
from agent.onvif.sources import DiscoverySettings
from agent.runtime.errors import ConfigError
from agent.wire.signing import public_key_to_text

KEY = public_key_to_text(Ed25519PrivateKey.generate().public_key())


def _config(discovery: Any) -> Any:
    data = {"site": "hq", "agent": "pi", "collector": {"public_key": KEY}, "mqtt": {"host": "127.0.0.1"}}
    if discovery is not None:
        data["discovery"] = discovery
    return parse_agent_config(data, "agent.toml")


def test_no_table_means_no_probing() -> None:
    settings = _config(None).discovery
    assert settings == DiscoverySettings() and not settings.probing and settings.follow_recorder_channels


def test_values_are_read_and_the_password_comes_from_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "onvif-password"
    secret.write_text("s3cret-Pa55\n")
    with capture_logs() as logs:
        config = _config(
            {
                "interfaces": ["eth0", "192.0.2.1", "eth0"],
                "unicast": ["10.1.2.0/28", "10.1.3.7"],
                "channel_ranges": ["10.9.0.0/24"],
                "wait_s": 3,
                "username": "camsentry",
                "password_file": str(secret),
                "follow_recorder_channels": False,
            }
        )
    d = config.discovery
    assert d.interfaces == ("eth0", "192.0.2.1")  # duplicates dropped
    assert d.unicast == ("10.1.2.0/28", "10.1.3.7/32") and d.channel_ranges == ("10.9.0.0/24",)
    assert (d.wait_s, d.username, d.password, d.follow_recorder_channels) == (
        3.0,
        "camsentry",
        "s3cret-Pa55",
        False,
    )
    assert "s3cret-Pa55" not in repr(config) and "s3cret-Pa55" not in repr(logs)


@pytest.mark.parametrize(
    ("discovery", "key", "problem"),
    [
        ({"unicast": ["10.1.2.5/28"]}, "discovery.unicast", "host bits set; did you mean 10.1.2.0/28?"),
        ({"unicast": ["10.1.2.0/33"]}, "discovery.unicast", "is not an address or CIDR range"),
        ({"unicast": ["10.0.0.0/19"]}, "discovery.unicast", "covers 8190 addresses; at most 4096 per sweep"),
        ({"unicast": ["2001:db8::/120"]}, "discovery.unicast", "IPv4 ranges only"),
        ({"unicast": "10.1.2.0/28"}, "discovery.unicast", "must be a list of strings"),
        ({"interfaces": ["eth 0"]}, "discovery.interfaces", "neither an IPv4 address nor an interface name"),
        ({"channel_ranges": ["nvr.local"]}, "discovery.channel_ranges", "not an address or CIDR range"),
        ({"wait_s": 0}, "discovery.wait_s", "must be at least 0.1"),
        ({"wait_s": 60}, "discovery.wait_s", "must be at most 30"),
        ({"username": "admin"}, "discovery.password_file", "username and password_file go together"),
        ({"password_file": "/nonexistent/pw"}, "discovery.password_file", "cannot read /nonexistent/pw"),
        ({"follow_recorder_channels": "yes"}, "discovery.follow_recorder_channels", "must be true or false"),
        ({"unicats": ["10.0.0.0/24"]}, "discovery.unicats", "unknown key"),
        ("on", "discovery", "must be a table"),
    ],
)
def test_errors_name_file_key_and_problem(discovery: Any, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config(discovery)
    assert info.value.file == "agent.toml" and info.value.key == key, str(info.value)
    assert problem in str(info.value)
