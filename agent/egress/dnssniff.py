"""The DNS edge: a packet socket on the camera-side interfaces, filtered in the kernel to UDP
from port 53, in both directions (answers from an upstream resolver and from this gateway when
it is the resolver). Needs CAP_NET_RAW; without it ``start()`` raises ``OSError`` and the
watcher reports the degradation.
"""

from __future__ import annotations

import ctypes
import select
import socket
import struct
import threading
from collections.abc import Callable, Sequence

import structlog

from agent.egress.dns import DNS_PORT, DnsAnswer, parse_dns_message, parse_ip_udp

log = structlog.get_logger("agent.egress.dnssniff")

ETH_P_ALL = 0x0003  # outgoing packets reach only ETH_P_ALL sockets (dev_queue_xmit_nit)
SO_ATTACH_FILTER = 26
SKF_AD_PROTOCOL = 0xFFFFF000  # SKF_AD_OFF + SKF_AD_PROTOCOL: the packet's ethertype
MAX_PACKET_BYTES = 65_535
MAX_CONSECUTIVE_ERRORS = 100
# Classic BPF, offsets from the network header (SOCK_DGRAM): IPv4 or IPv6, UDP, source port 53,
# first fragments only. Worked out by hand from linux/filter.h opcodes; tests prove it in a
# namespace.
_FILTER: tuple[tuple[int, int, int, int], ...] = (
    (0x28, 0, 0, SKF_AD_PROTOCOL),  # 0  ldh proto
    (0x15, 0, 7, 0x0800),  # 1  jeq IPv4 ? 2 : 9
    (0x30, 0, 0, 9),  # 2  ldb [9] protocol
    (0x15, 0, 11, 17),  # 3  jeq UDP ? 4 : drop
    (0x28, 0, 0, 6),  # 4  ldh [6] fragment offset
    (0x45, 9, 0, 0x1FFF),  # 5  jset ? drop : 6
    (0xB1, 0, 0, 0),  # 6  ldxb 4*([0]&0xf)
    (0x48, 0, 0, 0),  # 7  ldh [x+0] source port
    (0x15, 5, 6, DNS_PORT),  # 8  jeq 53 ? accept : drop
    (0x15, 0, 5, 0x86DD),  # 9  jeq IPv6 ? 10 : drop
    (0x30, 0, 0, 6),  # 10 ldb [6] next header
    (0x15, 0, 3, 17),  # 11 jeq UDP ? 12 : drop
    (0x28, 0, 0, 40),  # 12 ldh [40] source port
    (0x15, 0, 1, DNS_PORT),  # 13 jeq 53 ? accept : drop
    (0x06, 0, 0, MAX_PACKET_BYTES),  # 14 accept
    (0x06, 0, 0, 0),  # 15 drop
)


def _attach_filter(sock: socket.socket) -> None:
    code = b"".join(struct.pack("HBBI", *ins) for ins in _FILTER)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = struct.pack("HL", len(_FILTER), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, prog)


class DnsSniffer:
    """Feeds each DNS answer seen on ``interfaces`` (all when empty) to ``on_answer(server, answer)``,
    ``server`` being the address the response came from."""

    def __init__(self, interfaces: Sequence[str], on_answer: Callable[[str, DnsAnswer], None]) -> None:
        self._interfaces = list(interfaces)
        self._on_answer = on_answer
        self._socks: list[socket.socket] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread: threading.Thread | None = None
        self.packets = 0
        self.answers = 0
        self.malformed = 0

    def start(self) -> None:
        """Open the sockets (raises OSError without CAP_NET_RAW) and start the reader thread."""
        try:
            for ifname in self._interfaces or [""]:
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
                self._socks.append(sock)
                _attach_filter(sock)
                if ifname:
                    sock.bind((ifname, ETH_P_ALL))
        except OSError:
            self._close()
            raise
        self._thread = threading.Thread(target=self._run, name="egress-dns", daemon=True)
        self._thread.start()
        log.info("dns_sniffer_started", interfaces=self._interfaces or ["all"])

    def _run(self) -> None:
        watched: list[socket.socket] = [*self._socks, self._wake_r]
        errors = dict.fromkeys(self._socks, 0)
        while len(watched) > 1:
            ready, _, _ = select.select(watched, [], [])
            if self._wake_r in ready:
                return
            for sock in ready:
                try:
                    packet = sock.recv(MAX_PACKET_BYTES)
                except OSError as exc:
                    # One error (interface went down) is normal; a socket that only errors
                    # would spin this loop, so it is given up.
                    errors[sock] += 1
                    if errors[sock] >= MAX_CONSECUTIVE_ERRORS:
                        log.warning("dns_socket_abandoned", error=str(exc))
                        watched.remove(sock)
                    continue
                errors[sock] = 0
                self.packets += 1
                parsed = parse_ip_udp(packet)
                if parsed is None or parsed[2] != DNS_PORT:
                    continue
                answers = parse_dns_message(parsed[4])
                if answers is None:
                    self.malformed += 1  # counted; a debug line only, a sniffer sees any junk
                    if self.malformed == 1 or self.malformed % 1000 == 0:
                        log.debug("dns_malformed", count=self.malformed)
                    continue
                for answer in answers:
                    self.answers += 1
                    self._on_answer(parsed[0], answer)

    def stop(self) -> None:
        if self._thread is not None:
            self._wake_w.send(b"x")
            self._thread.join(timeout=5)
            self._thread = None
        self._close()

    def _close(self) -> None:
        for sock in self._socks:
            sock.close()
        self._socks = []
        self._wake_r.close()
        self._wake_w.close()
