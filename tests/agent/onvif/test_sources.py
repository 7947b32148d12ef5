"""Target sources, pure: ranges, interfaces, the site scope, merging, and which channels are followed."""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from typing import Any

import pytest

from agent.onvif.discovery import Discovered, ProbeReport, WsDiscovery
from agent.onvif.sitesweep import SiteSweep
from agent.onvif.sources import (
    DiscoverySettings,
    LocalInterface,
    SiteScope,
    check_interface,
    follow_channels,
    merge_targets,
    parse_range,
    resolve_interfaces,
    unicast_host_count,
)
from agent.onvif.targets import CameraTarget
from agent.wire.inventory import ChannelEntry, DeviceRecord

ADDRS = {"lo": [("127.0.0.1", "255.0.0.0")], "eth0": [("192.0.2.1", "255.255.255.0")], "wg0": []}


def test_ranges_are_strict_and_say_what_was_meant() -> None:
    assert str(parse_range("10.1.2.0/28")) == "10.1.2.0/28"
    assert str(parse_range("10.1.2.7")) == "10.1.2.7/32"
    with pytest.raises(ValueError, match=r"host bits set; did you mean 10\.1\.2\.0/28"):
        parse_range("10.1.2.5/28")
    with pytest.raises(ValueError, match="not an address or CIDR range"):
        parse_range("10.1.2.0/33")
    assert unicast_host_count(["10.0.0.0/28", "10.0.1.5", "10.0.2.0/31"]) == 14 + 1 + 2


def test_interfaces_are_addresses_or_names() -> None:
    assert check_interface("192.0.2.1") == "192.0.2.1"
    assert check_interface("eth0.20") == "eth0.20"
    for bad in ("", "a-name-far-too-long", "eth 0", "10.0.0.0/24"):
        with pytest.raises(ValueError, match="neither an IPv4 address nor an interface name"):
            check_interface(bad)


def test_interfaces_resolve_to_an_address_and_subnet_or_a_problem() -> None:
    found, problems = resolve_interfaces(["eth0", "127.0.0.1", "wg0", "eth9", "198.51.100.1"], ADDRS)
    assert [(i.wanted, i.address, str(i.network)) for i in found] == [
        ("eth0", "192.0.2.1", "192.0.2.0/24"),
        ("127.0.0.1", "127.0.0.1", "127.0.0.0/8"),
    ]
    assert problems == [
        "wg0: no IPv4 address",
        "eth9: no such interface",
        "198.51.100.1: not an address of this host",
    ]


def test_scope_is_ranges_and_interface_subnets() -> None:
    settings = DiscoverySettings(unicast=("10.1.2.0/28",), channel_ranges=("10.9.0.0/24",))
    eth0 = LocalInterface("eth0", "192.0.2.1", parse_range("192.0.2.0/24"))  # type: ignore[arg-type]
    scope = SiteScope.of(settings, [eth0])
    assert "10.1.2.14" in scope and "10.9.0.200" in scope and "192.0.2.77" in scope
    assert "10.1.2.16" not in scope and "8.8.8.8" not in scope and "cam.example" not in scope
    assert "2001:db8::1" not in scope and None not in scope


def _found(address: str, port: int = 80, scopes: tuple[str, ...] = ()) -> Discovered:
    return Discovered(address, port, "/onvif/device_service", "urn:x", scopes, (), ())


def test_configured_address_wins_over_discovery_with_its_port_and_credentials() -> None:
    configured = [CameraTarget("10.0.0.5", 8000, "site", "site-pw")]
    merged = merge_targets(
        configured,
        [
            _found("10.0.0.5", 80, ("onvif://www.onvif.org/name/Dahua",)),
            _found("10.0.0.6"),
            _found("10.0.0.6", 8080),
        ],
        username="d",
        password="p",
    )
    first = merged[0]
    assert (first.port, first.username, first.password, first.source) == (8000, "site", "site-pw", "config")
    assert first.probe_scopes == ("onvif://www.onvif.org/name/Dahua",)  # the answer is still evidence
    assert [(t.address, t.port, t.username, t.source) for t in merged[1:]] == [
        ("10.0.0.6", 80, "d", "ws-discovery")
    ]


def _recorder(address: str, *channels: tuple[str, str]) -> DeviceRecord:
    return DeviceRecord(address, 80, channels=tuple(ChannelEntry(h, u) for h, u in channels))


def test_channels_followed_only_in_scope_once_and_bounded() -> None:
    records = [
        _recorder(
            "10.0.0.50",
            ("10.0.0.7", "http://10.0.0.7:8080/onvif/device_service"),
            ("10.0.0.8", "rtsp://10.0.0.8:554/Streaming/Channels/101"),
            ("10.0.0.5", "rtsp://10.0.0.5/x"),  # already polled
            ("8.8.8.8", "http://8.8.8.8/onvif/device_service"),  # outside the site
            ("nvr-cam.example", "rtsp://nvr-cam.example/"),  # a name the recorder chose
            ("10.0.0.9", "rtsp://10.0.0.9/"),
        ),
        _recorder("10.0.0.51", ("10.0.0.7", "rtsp://10.0.0.7/")),  # the same camera twice
        _recorder("10.0.0.5"),
    ]
    scope = SiteScope((parse_range("10.0.0.0/24"),))
    targets, skipped = follow_channels(
        records, known=["10.0.0.5"], in_scope=lambda h: h in scope, username="u", password="p", limit=2
    )
    assert [(t.address, t.port, t.path, t.source, t.username) for t in targets] == [
        ("10.0.0.7", 8080, "/onvif/device_service", "recorder:10.0.0.50", "u"),
        ("10.0.0.8", 80, "/onvif/device_service", "recorder:10.0.0.50", "u"),
    ]
    assert [(s.host, s.reason) for s in skipped] == [
        ("8.8.8.8", "outside the discovery scope"),
        ("nvr-cam.example", "not an IP address"),
        ("10.0.0.9", "over the limit"),
    ]


def test_settings_never_show_the_password() -> None:
    assert "hunter2" not in repr(DiscoverySettings(username="u", password="hunter2"))
    assert "hunter2" not in repr(CameraTarget("10.0.0.1", 80, "u", "hunter2"))


class _RefusingSocket(socket.socket):
    def sendto(self, *_args: Any, **_kwargs: Any) -> int:  # type: ignore[override]
        raise PermissionError(errno.EPERM, "Operation not permitted")


def test_a_probe_that_cannot_be_sent_is_an_error_in_the_report_not_an_exception() -> None:
    discovery = WsDiscovery(
        wait_s=0.05, socket_factory=lambda: _RefusingSocket(socket.AF_INET, socket.SOCK_DGRAM)
    )
    report = discovery.probe_report(interfaces=["127.0.0.1", "192.0.2.123"], unicast=["127.0.0.1"])
    assert report.found == ()
    assert [(e.where, e.errno) for e in report.errors] == [
        ("127.0.0.1", errno.EPERM),
        ("192.0.2.123", errno.EADDRNOTAVAIL),  # not ours: refused before anything is sent
        ("unicast", errno.EPERM),
    ]


class _Sweeper:
    """Records what it was asked to poll; answers with a record per target (a recorder for one)."""

    def __init__(self, channels: dict[str, list[str]] | None = None) -> None:
        self.calls: list[list[CameraTarget]] = []
        self.channels = channels or {}

    def sweep(self, targets: Sequence[CameraTarget]) -> list[DeviceRecord]:
        self.calls.append(list(targets))
        return [
            DeviceRecord(
                t.address,
                t.port,
                source=t.source,
                channels=tuple(ChannelEntry(h) for h in self.channels.get(t.address, [])),
            )
            for t in targets
        ]


class _Prober:
    def __init__(self, report: ProbeReport | Exception) -> None:
        self.report = report
        self.asked: list[tuple[list[str], list[str]]] = []

    def probe_report(self, *, interfaces: Sequence[str] = (), unicast: Sequence[str] = ()) -> ProbeReport:
        self.asked.append((list(interfaces), list(unicast)))
        if isinstance(self.report, Exception):
            raise self.report
        return self.report


CONFIGURED = [CameraTarget("192.0.2.10", 80, "site", "pw")]


def test_forged_answers_from_outside_the_scope_are_not_polled() -> None:
    prober = _Prober(ProbeReport((_found("192.0.2.20"), _found("203.0.113.9")), datagrams=2))
    sweeper = _Sweeper()
    sweep = SiteSweep(
        sweeper,
        CONFIGURED,
        DiscoverySettings(interfaces=("eth0", "eth9")),
        discovery=prober,
        interface_addresses=lambda: ADDRS,
    )
    records = [x.to_json() for x in sweep()]
    assert prober.asked == [(["192.0.2.1"], [])]  # eth0's address; eth9 does not exist
    assert [(r["address"], r["source"]) for r in records] == [
        ("192.0.2.10", "config"),
        ("192.0.2.20", "ws-discovery"),
    ]
    assert [(h["problem"], h["detail"]) for h in [x.to_json() for x in sweep.health()]] == [
        ("interface_unavailable", "eth9: no such interface"),
        ("answer_outside_scope", "1 WS-Discovery answers from outside the scope"),
    ]


def test_a_probe_that_raises_costs_only_discovery_and_health_is_per_sweep() -> None:
    sweeper = _Sweeper()
    sweep = SiteSweep(
        sweeper,
        CONFIGURED,
        DiscoverySettings(unicast=("192.0.2.0/28",)),
        discovery=_Prober(RuntimeError("bug")),
    )
    assert [r["address"] for r in [x.to_json() for x in sweep()]] == ["192.0.2.10"]
    assert [h["problem"] for h in [x.to_json() for x in sweep.health()]] == ["discovery_failed"]
    sweep._discovery = _Prober(ProbeReport(()))
    [x.to_json() for x in sweep()]
    assert [x.to_json() for x in sweep.health()] == []


def test_channels_of_channels_are_not_followed() -> None:
    """One level: a recorder found in the second pass lists a camera that stays unpolled."""
    sweeper = _Sweeper({"192.0.2.10": ["192.0.2.30"], "192.0.2.30": ["192.0.2.31"]})
    sweep = SiteSweep(sweeper, CONFIGURED, DiscoverySettings(channel_ranges=("192.0.2.0/24",)))
    records = [x.to_json() for x in sweep()]
    assert [(r["address"], r["source"]) for r in records] == [
        ("192.0.2.10", "config"),
        ("192.0.2.30", "recorder:192.0.2.10"),
    ]
    assert len(sweeper.calls) == 2 and [x.to_json() for x in sweep.health()] == []
