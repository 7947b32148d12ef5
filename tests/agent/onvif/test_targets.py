"""[[camera]] tables and --target arguments into CameraTargets; errors name file and key."""

from __future__ import annotations

import pytest

from agent.onvif.targets import CameraTarget, parse_camera_tables, parse_target_arg
from agent.runtime.errors import ConfigError


def test_tables_become_targets_with_defaults() -> None:
    targets = parse_camera_tables(
        [
            {"address": "10.0.0.5"},
            {
                "address": "cam.example",
                "port": 8080,
                "username": "admin",
                "password": "pw",
                "path": "/onvif/x",
            },
        ],
        "agent.toml",
    )
    assert targets[0] == CameraTarget("10.0.0.5", 80)
    assert targets[1].port == 8080 and targets[1].username == "admin" and targets[1].path == "/onvif/x"
    assert "pw" not in repr(targets[1])


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({}, "camera[0].address"),
        ({"address": "10.0.0.5", "port": 0}, "camera[0].port"),
        ({"address": "10.0.0.5", "port": True}, "camera[0].port"),
        ({"address": "10.0.0.5", "username": "admin"}, "camera[0].password"),
        ({"address": "10.0.0.5", "colour": "red"}, "camera[0].colour"),
        ({"address": "bad host"}, "camera[0].address"),
        ({"address": "10.0.0.5", "scheme": "ftp"}, "camera[0].scheme"),
    ],
)
def test_bad_tables_name_file_and_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_camera_tables([table], "site.toml")
    assert err.value.file == "site.toml" and err.value.key == key


@pytest.mark.parametrize(
    ("text", "address", "port"),
    [("10.0.0.5", "10.0.0.5", 80), ("10.0.0.5:8080", "10.0.0.5", 8080), ("[fe80::1]:81", "fe80::1", 81)],
)
def test_target_arguments(text: str, address: str, port: int) -> None:
    target = parse_target_arg(text)
    assert (target.address, target.port) == (address, port)


@pytest.mark.parametrize("text", ["", "10.0.0.5:0", "10.0.0.5:http", "[fe80::1", "a b"])
def test_bad_target_arguments(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_target_arg(text)


def test_https_by_scheme_or_port_443() -> None:
    by_scheme, by_port, other_port, plain = parse_camera_tables(
        [
            {"address": "10.0.0.5", "scheme": "https"},
            {"address": "10.0.0.6", "port": 443},
            {"address": "10.0.0.7", "scheme": "https", "port": 8443},
            {"address": "10.0.0.8", "scheme": "http", "port": 443},
        ],
        "agent.toml",
    )
    assert (by_scheme.scheme, by_scheme.port) == ("https", 443) and by_scheme.tls
    assert (by_port.scheme, by_port.port) == ("https", 443)
    assert (other_port.scheme, other_port.port) == ("https", 8443)
    assert (plain.scheme, plain.port) == ("http", 443) and not plain.tls  # said so explicitly
    assert [(t.scheme, t.port) for t in map(parse_target_arg, ("https://cam.example", "10.0.0.5:443"))] == [
        ("https", 443),
        ("https", 443),
    ]
    assert parse_target_arg("https://10.0.0.5:8443/").port == 8443
