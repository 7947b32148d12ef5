"""Programs the namespace tests run: a DNS server, a camera that resolves and connects, a
listener, a burst of connections. Each is a ``python -c`` string; DNS messages come from
``dns_query``/``dns_response`` (also used by the parser tests)."""

from __future__ import annotations

import ipaddress
import struct


def _name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def dns_query(name: str, qid: int = 0x1234) -> bytes:
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + _name(name) + struct.pack("!HH", 1, 1)


def dns_response(
    name: str, addresses: list[str], qid: int = 0x1234, cname: str | None = None, ttl: int = 60
) -> bytes:
    """A response to ``name``: optionally ``name`` CNAME ``cname``, then A/AAAA records."""
    answers = b""
    owner = b"\xc0\x0c"
    count = 0
    if cname:
        target = _name(cname)
        answers += owner + struct.pack("!HHIH", 5, 1, ttl, len(target)) + target
        owner = _name(cname)
        count += 1
    for addr in addresses:
        raw = ipaddress.ip_address(addr).packed
        rtype = 1 if len(raw) == 4 else 28
        answers += owner + struct.pack("!HHIH", rtype, 1, ttl, len(raw)) + raw
        count += 1
    header = struct.pack("!HHHHHH", qid, 0x8180, 1, count, 0, 0)
    return header + _name(name) + struct.pack("!HH", 1, 1) + answers


# Run with PYTHONPATH at the repository root (``topology.ENV``).
PRELUDE = """
import ipaddress, json, socket, struct, sys, time
from agent.egress.dns import parse_dns_answers
from tests.agent.egress.peers import dns_query, dns_response

def family(address):
    return socket.AF_INET6 if ":" in address else socket.AF_INET
"""

DNS_SERVER = (
    PRELUDE
    + """
zone = json.loads(sys.argv[2])
srv = socket.socket(family(sys.argv[1]), socket.SOCK_DGRAM)
srv.bind((sys.argv[1], 53))
print("ready", flush=True)
while True:
    data, peer = srv.recvfrom(512)
    qid = struct.unpack_from("!H", data)[0]
    labels, i = [], 12
    while data[i]:
        labels.append(data[i + 1 : i + 1 + data[i]].decode()); i += 1 + data[i]
    name = ".".join(labels)
    srv.sendto(dns_response(name, zone.get(name, []), qid=qid), peer)
"""
)

# argv: dns server, name, port, hold seconds → prints the address it connected to.
CAMERA = (
    PRELUDE
    + """
s = socket.socket(family(sys.argv[1]), socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(dns_query(sys.argv[2]), (sys.argv[1], 53))
address = parse_dns_answers(s.recv(512))[0].address
proto = sys.argv[5] if len(sys.argv) > 5 else "tcp"
if proto == "udp":
    u = socket.socket(family(address), socket.SOCK_DGRAM)
    u.sendto(b"hello", (address, int(sys.argv[3])))
else:
    with socket.create_connection((address, int(sys.argv[3])), timeout=3) as c:
        c.sendall(b"hello")
        time.sleep(float(sys.argv[4]))  # the connection's lifetime is what is being tested
print(address, flush=True)
"""
)

# argv: address, first port, port count: listens (never accepts: the kernel completes handshakes).
LISTENER = """
import socket, sys
socks = []
for port in range(int(sys.argv[2]), int(sys.argv[2]) + int(sys.argv[3])):
    s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], port))
    s.listen(4096)
    socks.append(s)
print("ready", flush=True)
sys.stdin.read()
"""

# argv: address, first port, port count, total, rate/s: connections to closed ports (RST), round
# robin, paced: conntrack -E itself loses events above ~20,000 new flows/s here (docs/egress.md).
BURST = """
import socket, sys, time
addr, first, ports, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rate = float(sys.argv[5])
start = time.monotonic()
for i in range(total):
    s = socket.socket()
    s.connect_ex((addr, first + i % ports))
    s.close()
    ahead = start + i / rate - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)  # pacing the burst, not waiting for an event
print("done", flush=True)
"""

# argv: address, port: connects, says so, holds the connection until stdin closes.
HOLDER = """
import os, socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
print(os.getpid(), flush=True)
sys.stdin.read()
"""
