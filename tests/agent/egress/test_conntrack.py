"""conntrack -E lines → FlowEvent (pure), and the stream edge against a fake tool."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from agent.egress.conntrack import ConntrackStream, parse_conntrack_event
from agent.egress.model import FlowEvent, FlowKind

DATA = Path(__file__).with_name("testdata")


def _lines(name: str) -> list[str]:
    return (DATA / name).read_text().splitlines()


def test_recorded_gateway_events() -> None:
    events = [parse_conntrack_event(line) for line in _lines("conntrack-gateway.txt")]
    assert all(e is not None for e in events)
    dns, tcp, tcp_end, dns_end = events
    assert tcp == FlowEvent(
        kind=FlowKind.NEW,
        protocol="tcp",
        src="198.51.100.2",
        dst="203.0.113.10",
        sport=50976,
        dport=6500,
        conntrack_id=2774726193,
        timestamp=1795437747.249932,
    )
    assert dns is not None and (dns.protocol, dns.dport, dns.bytes) == ("udp", 53, None)
    assert tcp_end is not None and tcp_end.kind is FlowKind.DESTROY
    assert (tcp_end.conntrack_id, tcp_end.bytes, tcp_end.packets) == (2774726193, 221 + 164, 7)
    assert dns_end is not None and dns_end.bytes == 57 + 73


def test_recorded_loopback_events() -> None:
    destroy, new6 = (parse_conntrack_event(line) for line in _lines("conntrack-loopback.txt"))
    assert destroy is not None and destroy.kind is FlowKind.DESTROY and destroy.bytes is None
    assert new6 is not None and (new6.src, new6.dst, new6.dport) == ("::1", "::1", 9998)


def test_without_timestamp_and_icmp() -> None:
    line = "[NEW] icmp     1 30 src=198.51.100.2 dst=203.0.113.10 type=8 code=0 id=7 [UNREPLIED] src=..."
    event = parse_conntrack_event(line)
    assert event is not None
    assert (event.protocol, event.dport, event.timestamp) == ("icmp", 0, None)


def test_other_lines_are_none() -> None:
    for line in [
        "",
        "NOTICE: Netlink socket buffer size has been set to 8388608 bytes.",
        " [UPDATE] tcp 6 60 SYN_RECV src=1.2.3.4 dst=5.6.7.8 sport=1 dport=2",
        "[NEW] tcp 6 120 SYN_SENT dst=5.6.7.8 sport=1 dport=2",  # no src
        "[NEW] tcp 6 120 SYN_SENT src=1.2.3.4 dst=5.6.7.8 sport=1 dport=99999",
        "[NEW] tcp 6 120 SYN_SENT src=1.2.3.4 dst=5.6.7.8 sport=x dport=2",
        "[abc] [NEW] tcp 6 120 src=1.2.3.4 dst=5.6.7.8 sport=1 dport=2",
        "[NEW] tcp 6 src=1.2.3.4 dst=5.6.7.8 sport=1 dport=2 bytes=-1",
        "[NEW] " + "x" * 5000,
    ]:
        assert parse_conntrack_event(line) is None, line


@given(st.text(max_size=400))
def test_never_raises(text: str) -> None:
    parse_conntrack_event(text)
    parse_conntrack_event("[NEW] tcp 6 " + text)


FAKE_TOOL = """
import sys, time
sys.stderr.write("NOTICE: Netlink socket buffer size has been set to 1 bytes.\\n"); sys.stderr.flush()
for line in open(sys.argv[1]):
    sys.stdout.write(line)
sys.stdout.flush()
sys.stderr.write("WARNING: We have hit ENOBUFS! We are losing events.\\n")
sys.stderr.write(sys.argv[2] + "\\n")
sys.exit(int(sys.argv[3]))
"""


def test_stream_feeds_events_and_reports_exit(tmp_path: Path) -> None:
    script = tmp_path / "fake_conntrack.py"
    script.write_text(FAKE_TOOL)
    events: list[FlowEvent] = []
    exited: list[tuple[int, str]] = []
    done = threading.Event()

    def on_exit(code: int, tail: str) -> None:
        exited.append((code, tail))
        done.set()

    data = str(DATA / "conntrack-gateway.txt")
    stream = ConntrackStream(
        events.append, on_exit, [sys.executable, str(script), data, "Operation not permitted", "1"]
    )
    stream.start()
    assert done.wait(10)
    stream.stop()
    assert len(events) == 4
    assert exited == [(1, "Operation not permitted")]
    assert stream.stats.lost_event_warnings == 1


def test_stream_reports_missing_tool() -> None:
    exited: list[tuple[int, str]] = []
    stream = ConntrackStream(lambda _e: None, lambda c, t: exited.append((c, t)), ["/nonexistent/ct"])
    stream.start()
    stream.stop()
    assert exited and exited[0][0] == -1 and "cannot run" in exited[0][1]
