"""/proc/net parsing, owners from a recorded fake /proc, and the socket poller."""

from __future__ import annotations

import os
from pathlib import Path

from agent.egress.model import Process, Socket
from agent.egress.procnet import ProcNet, parse_proc_net
from agent.egress.sockets import SocketPoller

DATA = Path(__file__).with_name("testdata")


def test_parse_recorded_tcp() -> None:
    socks = parse_proc_net((DATA / "proc-net-tcp.txt").read_text(), "tcp")
    assert [(s.local, s.lport, s.remote, s.rport, s.state, s.inode) for s in socks] == [
        ("192.0.2.5", 8080, "0.0.0.0", 0, "LISTEN", 266043),
        ("192.0.2.5", 43264, "192.0.2.77", 443, "SYN_SENT", 266046),
        ("192.0.2.5", 8080, "192.0.2.5", 36004, "ESTABLISHED", 266045),
        ("192.0.2.5", 36004, "192.0.2.5", 8080, "ESTABLISHED", 266044),
    ]


def test_parse_recorded_tcp6_and_garbage() -> None:
    socks = parse_proc_net((DATA / "proc-net-tcp6.txt").read_text(), "tcp")
    assert socks[1].local == "2001:db8::5"
    assert (socks[1].remote, socks[1].rport) == ("2001:db8::5", 8443)
    assert parse_proc_net("header\n  0: zz:1 00:0 01 x x x x x 5\nshort line\n") == []


def _fake_proc(root: Path) -> None:
    (root / "net").mkdir(parents=True)
    (root / "net" / "tcp").write_text((DATA / "proc-net-tcp.txt").read_text())
    for pid, inode, name in [(4242, 266046, "nvrd"), (77, 266043, "httpd")]:
        (root / str(pid) / "fd").mkdir(parents=True)
        os.symlink(f"socket:[{inode}]", root / str(pid) / "fd" / "5")
        os.symlink("/dev/null", root / str(pid) / "fd" / "0")
        (root / str(pid) / "comm").write_text(name + "\n")
        os.symlink(f"/opt/{name}/bin/{name}", root / str(pid) / "exe")


def test_owner_from_fake_proc_scans_only_for_unknown_inodes(tmp_path: Path) -> None:
    _fake_proc(tmp_path)
    procnet = ProcNet(tmp_path)
    socks = procnet.sockets()
    assert len(socks) == 4  # tcp6/udp/udp6 absent from this fake /proc: skipped
    outbound = next(s for s in socks if s.rport == 443)
    assert procnet.owner(outbound) == Process(4242, "nvrd", "/opt/nvrd/bin/nvrd")
    assert procnet.owner(outbound) == Process(4242, "nvrd", "/opt/nvrd/bin/nvrd")
    assert procnet.fd_scans == 1
    assert procnet.owner(Socket("tcp", "a", 1, "b", 2, "TIME_WAIT", 0)) is None
    assert procnet.fd_scans == 1


def test_poller_reports_new_outbound_only(tmp_path: Path) -> None:
    _fake_proc(tmp_path)
    procnet = ProcNet(tmp_path)
    poller = SocketPoller(procnet.sockets, procnet.owner)
    first = poller.poll()
    # The listener's accepted connection (local port 8080) is inbound; the loopback-free
    # outbound SYN_SENT to 192.0.2.77:443 and the client side of the local connection remain.
    assert {(f.socket.remote, f.socket.rport) for f in first} == {("192.0.2.77", 443), ("192.0.2.5", 8080)}
    assert next(f for f in first if f.socket.rport == 443).process == Process(
        4242, "nvrd", "/opt/nvrd/bin/nvrd"
    )
    assert poller.poll() == []


def test_poller_skips_loopback_and_unconnected() -> None:
    socks = [
        Socket("tcp", "127.0.0.1", 5000, "127.0.0.1", 80, "ESTABLISHED"),
        Socket("udp", "0.0.0.0", 5353, "0.0.0.0", 0, "UNCONNECTED"),
        Socket("udp", "192.0.2.5", 40000, "203.0.113.9", 123, "ESTABLISHED"),
    ]
    poller = SocketPoller(lambda: socks, lambda _s: None)
    assert [f.socket.rport for f in poller.poll()] == [123]


def test_psutil_reader_lists_our_own_connection_with_pid() -> None:
    import socket

    from agent.egress.sockets import psutil_owner, psutil_sockets

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        with socket.create_connection(srv.getsockname()) as client:
            port = srv.getsockname()[1]
            mine = [s for s in psutil_sockets() if s.rport == port and s.lport == client.getsockname()[1]]
            assert len(mine) == 1 and mine[0].pid == os.getpid()
            owner = psutil_owner(mine[0])
            assert owner is not None and owner.pid == os.getpid()
