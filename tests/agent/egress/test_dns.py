"""DNS answers from bytes (pure), IP/UDP unwrapping, the bounded name cache."""

from __future__ import annotations

import ipaddress
import struct

from hypothesis import given
from hypothesis import strategies as st

from agent.egress.dns import NameCache, parse_dns_answers, parse_ip_udp
from tests.agent.egress.peers import dns_query, dns_response

# A response as seen on the wire: cas.ys7.com → 203.0.113.10, TTL 60 (RFC 1035 layout, hex).
CAS_HEX = "123481800001000100000000036361730379733703636f6d0000010001c00c000100010000003c0004cb00710a"


def test_hex_fixture() -> None:
    [answer] = parse_dns_answers(bytes.fromhex(CAS_HEX))
    assert (answer.qname, answer.address, answer.ttl) == ("cas.ys7.com", "203.0.113.10", 60)
    assert bytes.fromhex(CAS_HEX) == dns_response("cas.ys7.com", ["203.0.113.10"])


def test_cname_chain_and_aaaa() -> None:
    msg = dns_response("dev.Hik-Connect.com", ["203.0.113.7", "2001:db8::7"], cname="edge.cdn.example")
    answers = parse_dns_answers(msg)
    assert [a.address for a in answers] == ["203.0.113.7", "2001:db8::7"]
    assert all(a.qname == "dev.hik-connect.com" for a in answers)
    assert answers[0].names == ("dev.hik-connect.com", "edge.cdn.example")


def test_queries_errors_and_garbage_give_nothing() -> None:
    assert parse_dns_answers(dns_query("cas.ys7.com")) == []
    nxdomain = bytearray(dns_response("x.example", ["192.0.2.1"]))
    nxdomain[3] |= 3
    assert parse_dns_answers(bytes(nxdomain)) == []
    assert parse_dns_answers(b"") == []
    assert parse_dns_answers(dns_response("a.example", ["192.0.2.1"])[:-2]) == []


def test_compression_loop_is_refused() -> None:
    header = struct.pack("!HHHHHH", 1, 0x8180, 1, 1, 0, 0)
    loop = header + b"\xc0\x0c" + struct.pack("!HH", 1, 1)
    assert parse_dns_answers(loop) == []


@given(st.binary(max_size=600))
def test_never_raises(data: bytes) -> None:
    parse_dns_answers(data)
    parse_dns_answers(dns_response("a.example", ["192.0.2.1"])[:12] + data)
    parse_ip_udp(data)


def _ipv4_udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0)
    return ip + ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed + udp


def test_ip_udp_unwrapping() -> None:
    payload = bytes.fromhex(CAS_HEX)
    packet = _ipv4_udp("203.0.113.53", "198.51.100.2", 53, 40000, payload)
    assert parse_ip_udp(packet) == ("203.0.113.53", "198.51.100.2", 53, 40000, payload)
    fragment = bytearray(packet)
    fragment[7] = 8  # fragment offset 64: no UDP header inside
    assert parse_ip_udp(bytes(fragment)) is None
    tcp = bytearray(packet)
    tcp[9] = 6
    assert parse_ip_udp(bytes(tcp)) is None


def test_name_cache_is_bounded_and_expires() -> None:
    cache = NameCache(max_entries=2, retention_s=100)
    for i, name in enumerate(["a.example", "b.example", "c.example"]):
        [answer] = parse_dns_answers(dns_response(name, [f"192.0.2.{i}"]))
        cache.add(answer, now=0)
    assert len(cache) == 2
    assert cache.lookup("192.0.2.0", 0) is None
    assert cache.lookup("192.0.2.2", 50) == ("c.example", ("c.example",))
    assert cache.lookup("192.0.2.2", 101) is None
