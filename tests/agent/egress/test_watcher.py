"""The watcher's logic without a network: events in, findings and health out, time moved by hand."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from agent.egress.config import EgressConfig, parse_egress_config
from agent.egress.conntrack import parse_conntrack_event
from agent.egress.devices import DeviceIdentity
from agent.egress.dns import parse_dns_answers
from agent.egress.model import FlowEvent, FlowKind
from agent.egress.watcher import EgressWatcher
from agent.wire.allowlist import Allowlist
from tests.agent.egress.peers import dns_response
from tests.support.clock import FakeClock

CAM = "198.51.100.2"
CONFIG = parse_egress_config(
    {
        "conntrack": False,
        "sockets": False,
        "dns": False,
        "device_networks": ["198.51.100.0/24"],
        "core_networks": ["10.0.0.0/8"],
        "min_report_interval_s": 0,
        "allow": [{"cidr": "203.0.113.53/32", "ports": [53]}, {"hostname": "*.example.org"}],
    },
    "test.toml",
)


def _new(dst: str, dport: int, cid: int, src: str = CAM, proto: str = "tcp") -> FlowEvent:
    return FlowEvent(FlowKind.NEW, proto, src, dst, 40000 + cid, dport, conntrack_id=cid)


def _watcher(config: EgressConfig = CONFIG) -> tuple[EgressWatcher, FakeClock]:
    clock = FakeClock()
    return EgressWatcher(config, lambda a: DeviceIdentity("cam-1") if a == CAM else None, clock), clock


def test_aggregates_counts_bytes_and_names() -> None:
    w, clock = _watcher()
    w.learn_name(parse_dns_answers(dns_response("cas.ys7.com", ["203.0.113.10"]))[0])
    for cid in range(3):
        w.observe_event(_new("203.0.113.10", 6500, cid))
        clock.advance(1)
    w.observe_event(replace(_new("203.0.113.10", 6500, 0), kind=FlowKind.DESTROY, bytes=385))
    [f] = [x.to_json() for x in w.drain_findings()]
    assert f["device"] == CAM and f["device_id"] == "cam-1"
    assert (f["destination"], f["port"], f["protocol"]) == ("203.0.113.10", 6500, "tcp")
    assert (f["count"], f["bytes"], f["hostname"]) == (3, 385, "cas.ys7.com")
    assert f["tags"] == ["vendor_cloud:hikvision"]
    assert f["first_seen"] == "2026-11-23T12:00:00.000Z"
    assert f["last_seen"] == "2026-11-23T12:00:03.000Z"
    assert f["allowed"] is False and f["source"] == "conntrack"
    assert [x.to_json() for x in w.drain_findings()] == []  # nothing changed since


def test_destroy_without_new_counts_once() -> None:
    w, _ = _watcher()
    line = (Path(__file__).with_name("testdata") / "conntrack-gateway.txt").read_text().splitlines()
    destroy = parse_conntrack_event(line[2])
    assert destroy is not None
    w.observe_event(destroy)
    [f] = [x.to_json() for x in w.drain_findings()]
    assert (f["count"], f["bytes"]) == (1, 385)
    assert f["first_seen"].startswith("2026-11-23T")  # the kernel's event time, not the fake clock


def test_allowed_flows_silent_unless_asked_and_core_tagged() -> None:
    w, _ = _watcher()
    w.learn_name(parse_dns_answers(dns_response("ntp.example.org", ["203.0.113.11"]))[0])
    w.observe_event(_new("203.0.113.53", 53, 1, proto="udp"))
    w.observe_event(_new("203.0.113.11", 123, 2, proto="udp"))
    w.observe_event(_new("10.1.2.3", 445, 3))
    w.observe_event(_new("203.0.113.99", 80, 4, src="192.0.2.200"))  # not a device
    [core] = [x.to_json() for x in w.drain_findings()]
    assert core["tags"] == ["core_network"] and core["destination"] == "10.1.2.3"
    loud, _ = _watcher(replace(CONFIG, report_allowed=True))
    loud.observe_event(_new("203.0.113.53", 53, 1, proto="udp"))
    [allowed] = [x.to_json() for x in loud.drain_findings()]
    assert allowed["allowed"] is True


def test_policy_push_replaces_allowlist() -> None:
    w, _ = _watcher()
    w.observe_event(_new("203.0.113.10", 443, 1))
    w.replace_allowlist(Allowlist.from_document({"allow": [{"cidr": "203.0.113.0/24"}]}))
    assert [x.to_json() for x in w.drain_findings()] == []
    w.replace_allowlist(Allowlist.from_document({"allow": []}))
    [f] = [
        x.to_json() for x in w.drain_findings()
    ]  # no new connection needed: the push alone makes it unexpected
    assert f["count"] == 1


def test_flood_is_bounded_with_exact_counts() -> None:
    config = replace(CONFIG, max_flow_keys=16, max_findings_per_drain=10)
    w, _ = _watcher(config)
    for i in range(10_000):
        w.observe_event(_new(f"203.0.{i % 100}.1", 443, i))
    for i in range(10_000):  # their ends, with counters: bytes land where the counts did
        w.observe_event(replace(_new(f"203.0.{i % 100}.1", 443, i), kind=FlowKind.DESTROY, bytes=10))
    drains = []
    while batch := [x.to_json() for x in w.drain_findings()]:
        drains.append(batch)
    assert [len(b) for b in drains] == [10, 7]  # 16 records + 1 overflow, 10 at a time
    bodies = [f for b in drains for f in b]
    assert sum(f["count"] for f in bodies) == 10_000
    [overflow] = [f for f in bodies if f["overflow"]]
    assert (overflow["destination"], overflow["count"]) == ("*", 10_000 - 16 * 100)
    assert overflow["bytes"] == 10 * overflow["count"]
    assert sum(f["bytes"] for f in bodies) == 10 * 10_000
    assert [h["component"] for h in [x.to_json() for x in w.health()]] == ["egress.aggregation"]


def test_conntrack_unavailable_is_a_health_finding(tmp_path: Path) -> None:
    tool = tmp_path / "conntrack"
    tool.write_text(
        "import sys\nsys.stderr.write('conntrack v1.4.7 (conntrack-tools): Operation not permitted\\n')\n"
        "sys.exit(1)\n"
    )
    config = replace(CONFIG, conntrack=True)
    w = EgressWatcher(
        config,
        clock=FakeClock(),
        conntrack_command=[sys.executable, str(tool)],
        nft_command=[sys.executable, "-c", "import sys; sys.exit(1)"],
        proc_root=tmp_path,
    )
    w.start()
    try:
        health = {h["component"]: h for h in [x.to_json() for x in w.health()]}
        assert health["egress.conntrack"]["status"] == "unavailable"
        assert "CAP_NET_ADMIN" in health["egress.conntrack"]["problem"]
        assert "egress.conntrack_hook" in health
        assert "egress.conntrack_bytes" in health
    finally:
        w.stop()


def test_a_chatty_flow_is_one_message_per_interval() -> None:
    w, clock = _watcher(replace(CONFIG, min_report_interval_s=30))
    w.observe_event(_new("203.0.113.10", 443, 0))
    assert [f["count"] for f in [x.to_json() for x in w.drain_findings()]] == [
        1
    ]  # the first sighting goes out at once
    sent = []
    for cid in range(1, 600):  # ten minutes of a connection every second, drained every second
        w.observe_event(_new("203.0.113.10", 443, cid))
        clock.advance(1)
        sent.extend([x.to_json() for x in w.drain_findings()])
    assert 19 <= len(sent) <= 21
    assert sent[-1]["count"] >= 570
    clock.advance(30)
    assert [x.to_json() for x in w.drain_findings()][-1]["count"] == 600


RECOVERING_TOOL = """
import sys, time
from pathlib import Path
marker = Path(sys.argv[1])
if not marker.exists():
    marker.write_text("failed once")
    sys.stderr.write("conntrack v1.4.7 (conntrack-tools): Operation not permitted\\n")
    sys.exit(1)
sys.stderr.write("NOTICE: Netlink socket buffer size has been set to 1 bytes.\\n")
sys.stderr.flush()
print(open(sys.argv[2]).read().splitlines()[1], flush=True)
time.sleep(60)  # until the watcher stops it
"""


def test_conntrack_restarts_and_recovers(tmp_path: Path) -> None:
    tool = tmp_path / "conntrack.py"
    tool.write_text(RECOVERING_TOOL)
    data = Path(__file__).with_name("testdata") / "conntrack-gateway.txt"
    w = EgressWatcher(
        replace(CONFIG, conntrack=True, conntrack_hook=False),
        clock=FakeClock(),
        conntrack_command=[sys.executable, str(tool), str(tmp_path / "marker"), str(data)],
        proc_root=tmp_path,
        conntrack_restart_s=(0.05, 1.0),
    )
    w.start()
    try:
        assert "egress.conntrack" in {h["component"] for h in [x.to_json() for x in w.health()]}
        found: list[dict[str, object]] = []
        deadline = time.monotonic() + 10
        while not found and time.monotonic() < deadline:
            found = [x.to_json() for x in w.drain_findings()]
            time.sleep(0.05)  # polling the drain, as the daemon does
        assert [(f["destination"], f["port"]) for f in found] == [("203.0.113.10", 6500)]
        assert "egress.conntrack" not in {h["component"] for h in [x.to_json() for x in w.health()]}
    finally:
        w.stop()


def test_dns_on_a_missing_interface_is_a_health_finding() -> None:
    w = EgressWatcher(replace(CONFIG, dns=True, interfaces=("cs-egr-nosuch",)), clock=FakeClock())
    w.start()
    try:
        [dns] = [h for h in [x.to_json() for x in w.health()] if h["component"] == "egress.dns"]
        assert "cs-egr-nosuch" in dns["problem"]
    finally:
        w.stop()


def test_dns_answers_from_cameras_are_not_trusted() -> None:
    w, _ = _watcher()
    [forged] = parse_dns_answers(dns_response("ntp.example.org", ["203.0.113.66"]))
    w._on_dns_answer(CAM, forged)  # a camera answering for the allowlisted name
    w.observe_event(_new("203.0.113.66", 443, 1))
    [f] = [x.to_json() for x in w.drain_findings()]
    assert f["hostname"] is None and f["allowed"] is False
    assert w.stats()["dns_untrusted"] == 1
    strict, _ = _watcher(replace(CONFIG, resolvers=("203.0.113.53",)))
    strict._on_dns_answer("192.0.2.9", forged)
    strict._on_dns_answer("203.0.113.53", forged)
    assert strict.stats()["dns_untrusted"] == 1
    assert strict.stats()["names"] == 1


def test_device_lookup_brings_sources_outside_device_networks_in_scope() -> None:
    known = {"192.0.2.200": DeviceIdentity("nvr-7", "hikvision", "Annke")}
    w = EgressWatcher(CONFIG, known.get, FakeClock())
    w.observe_event(_new("203.0.113.99", 80, 1, src="192.0.2.200"))
    w.observe_event(_new("203.0.113.99", 80, 2, src="192.0.2.201"))
    [f] = [x.to_json() for x in w.drain_findings()]
    assert (f["device"], f["device_id"]) == ("192.0.2.200", "nvr-7")
    assert (f["device_maker"], f["device_brand"]) == ("hikvision", "Annke")
    assert w.stats()["out_of_scope"] == 1
