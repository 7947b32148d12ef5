"""``camsentry-agent scan --discover / --interface / --range``: an installer finds cameras without
knowing their addresses (simulator on loopback, unicast probe); bad arguments exit 2 naming the flag."""

from __future__ import annotations

import json
import socket

import pytest
from structlog.testing import capture_logs

from agent.onvif.scan_cli import build_parser, discovery_settings, run_scan

fleet_mod = pytest.importorskip("simulator.fleet")
runner_mod = pytest.importorskip("simulator.runner")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_range_finds_and_identifies_cameras(capsys: pytest.CaptureFixture[str]) -> None:
    cameras = [
        {"profile": "hilook-ipc-b140h-v5.5.800", "id": "a", "knobs": {"default_password": True}},
        {"profile": "hikvision-ds-2cd2143g0-i-v5.5.61", "id": "b", "knobs": {"default_password": True}},
    ]
    head = {"seed": "scan-discover", "base_address": "127.23.6.1", "port": _free_port()}
    with runner_mod.FleetRunner(
        fleet_mod.load_fleet({"fleet": head, "cameras": cameras}), phone_home=False
    ) as r:
        argv = [
            "--range",
            "127.23.6.0/29",
            "--wait",
            "0.5",
            "--user",
            "admin",
            "--password",
            "12345",
            "--json",
        ]
        with capture_logs() as logs:
            code = run_scan(argv, configure_logs=False)
        manifest = r.manifest
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = out.out.splitlines()  # the fleet thread's own log lines may surround the JSON
    records = json.loads("\n".join(lines[lines.index("[") : len(lines) - lines[::-1].index("]")]))
    assert [(x["address"], x["port"], x["source"], x["brand"]) for x in records] == [
        (m["address"], m["port"], "ws-discovery", b)
        for m, b in zip(manifest, ("hilook", "hikvision"), strict=True)
    ]
    assert all(x["authenticated"] for x in records)
    assert "12345" not in out.err and "12345" not in repr(logs)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--range", "10.0.0.3/24"], "config error: --range: 10.0.0.3/24: '10.0.0.3/24' has host bits set"),
        (["--range", "10.0.0.0/16"], "more than 4096 addresses"),
        (["--interface", "eth 0"], "config error: --interface: eth 0:"),
        (["--range", "10.0.0.0/30", "--wait", "99"], "config error: --wait: 99.0: must be 0.1-30 seconds"),
        ([], "give --target HOST[:PORT], --config FILE, --discover or --range CIDR"),
    ],
)
def test_bad_discovery_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_scan(argv, configure_logs=False) == 2
    assert message in capsys.readouterr().err


def test_an_interface_that_does_not_exist_is_reported_and_nothing_found_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_scan(["--interface", "cs-nosuch0", "--wait", "0.1"], configure_logs=False) == 1
    err = capsys.readouterr().err
    assert "discovery: interface_unavailable: cs-nosuch0: no such interface" in err
    assert "no camera answered the probe" in err


def test_discover_alone_probes_every_interface_but_loopback() -> None:
    args = build_parser().parse_args(["--discover"])
    addresses = {"lo": [("127.0.0.1", "255.0.0.0")], "eth0": [("192.0.2.4", "255.255.255.0")], "wg0": []}
    settings = discovery_settings(args, lambda: addresses)
    assert settings.interfaces == ("eth0",) and settings.unicast == () and settings.username is None
    chosen = discovery_settings(
        build_parser().parse_args(["--discover", "--interface", "lo"]), lambda: addresses
    )
    assert chosen.interfaces == ("lo",)
