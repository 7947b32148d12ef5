"""Names for destinations: DNS answers parsed from packets (pure) and a bounded address → name cache.

Parsing follows RFC 1035 §4.1 with the caps a hostile peer needs: names of at most 255 bytes,
at most 16 compression jumps, at most 64 answers per message. Bad packets return an empty list.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import OrderedDict
from dataclasses import dataclass

DNS_PORT = 53
TYPE_A = 1
TYPE_CNAME = 5
TYPE_AAAA = 28
CLASS_IN = 1
MAX_NAME_BYTES = 255  # RFC 1035 §2.3.4
MAX_POINTER_JUMPS = 16
MAX_RECORDS = 64
# Firmware keeps using addresses long after their TTL; a stale name beats none. The cache's
# entry cap, not the TTL, bounds memory.
NAME_RETENTION_S = 24 * 3600.0
MAX_CACHE_ENTRIES = 50_000
MAX_NAMES_PER_ADDRESS = 8


@dataclass(frozen=True)
class DnsAnswer:
    """An address the resolver returned for ``qname`` (the name the client asked for)."""

    qname: str
    address: str
    ttl: int
    names: tuple[str, ...]  # qname, the CNAME chain and the record's owner


class DnsFormatError(ValueError):
    pass


# What decoding a packet from the wire may raise; parse_dns_message turns each into None.
DNS_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    DnsFormatError,
    struct.error,
    ValueError,
    IndexError,
    UnicodeError,
)


def _read_name(msg: bytes, offset: int) -> tuple[str, int]:
    """(name, offset after the name in the original position)."""
    labels: list[str] = []
    total = 0
    jumps = 0
    end: int | None = None
    while True:
        if offset >= len(msg):
            raise DnsFormatError("name runs past the message")
        length = msg[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(msg):
                raise DnsFormatError("truncated pointer")
            jumps += 1
            if jumps > MAX_POINTER_JUMPS:
                raise DnsFormatError("too many compression pointers")
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | msg[offset + 1]
            continue
        if length & 0xC0:
            raise DnsFormatError("reserved label type")
        offset += 1
        if length == 0:
            break
        label = msg[offset : offset + length]
        if len(label) != length:
            raise DnsFormatError("truncated label")
        total += length + 1
        if total > MAX_NAME_BYTES:
            raise DnsFormatError("name too long")
        labels.append(label.decode("ascii", errors="replace").lower())
        offset += length
    return ".".join(labels), (end if end is not None else offset)


def parse_dns_answers(msg: bytes) -> list[DnsAnswer]:
    """A/AAAA answers of one DNS response message; [] for queries, errors and malformed bytes."""
    return parse_dns_message(msg) or []


def parse_dns_message(msg: bytes) -> list[DnsAnswer] | None:
    """Like parse_dns_answers, but None when the bytes are malformed, so the caller can count them."""
    try:
        return _parse(msg)
    except DNS_DECODE_ERRORS:
        return None


def _parse(msg: bytes) -> list[DnsAnswer]:
    if len(msg) < 12:
        return []
    _id, flags, qdcount, ancount = struct.unpack_from("!HHHH", msg, 0)
    if not flags & 0x8000 or flags & 0x000F:  # not a response, or rcode != NOERROR
        return []
    if qdcount != 1 or ancount == 0:
        return []
    offset = 12
    qname, offset = _read_name(msg, offset)
    offset += 4
    cname_of: dict[str, str] = {}
    records: list[tuple[str, str, int]] = []
    for _ in range(min(ancount, MAX_RECORDS)):
        owner, offset = _read_name(msg, offset)
        rtype, rclass, ttl, rdlength = struct.unpack_from("!HHIH", msg, offset)
        offset += 10
        rdata = msg[offset : offset + rdlength]
        if len(rdata) != rdlength:
            raise DnsFormatError("truncated rdata")
        if rclass == CLASS_IN:
            if rtype == TYPE_A and rdlength == 4:
                records.append((owner, str(ipaddress.IPv4Address(rdata)), ttl))
            elif rtype == TYPE_AAAA and rdlength == 16:
                records.append((owner, str(ipaddress.IPv6Address(rdata)), ttl))
            elif rtype == TYPE_CNAME:
                cname_of[owner] = _read_name(msg, offset)[0]
        offset += rdlength
    chain = [qname]
    while chain[-1] in cname_of and len(chain) <= MAX_POINTER_JUMPS:
        chain.append(cname_of[chain[-1]])
    out = []
    for owner, address, ttl in records:
        names = tuple(dict.fromkeys([*chain, owner]))
        out.append(DnsAnswer(qname if owner in chain else owner, address, ttl, names))
    return out


def parse_ip_udp(packet: bytes) -> tuple[str, str, int, int, bytes] | None:
    """(src, dst, sport, dport, payload) of an IPv4/IPv6 UDP packet starting at the IP header."""
    if not packet:
        return None
    version = packet[0] >> 4
    try:
        if version == 4:
            ihl = (packet[0] & 0x0F) * 4
            if ihl < 20 or len(packet) < ihl + 8 or packet[9] != 17:
                return None
            if struct.unpack_from("!H", packet, 6)[0] & 0x1FFF:
                return None  # a non-first fragment carries no UDP header
            src = str(ipaddress.IPv4Address(packet[12:16]))
            dst = str(ipaddress.IPv4Address(packet[16:20]))
            udp = ihl
        elif version == 6:
            if len(packet) < 48 or packet[6] != 17:
                return None
            src = str(ipaddress.IPv6Address(packet[8:24]))
            dst = str(ipaddress.IPv6Address(packet[24:40]))
            udp = 40
        else:
            return None
        sport, dport, length = struct.unpack_from("!HHH", packet, udp)
    except DNS_DECODE_ERRORS:
        return None
    end = udp + length if length >= 8 else len(packet)
    return src, dst, sport, dport, packet[udp + 8 : end]


@dataclass
class _Entry:
    hostname: str
    names: tuple[str, ...]
    expires: float


class NameCache:
    """address → the hostname a client asked for; bounded, least recently answered dropped first."""

    def __init__(self, max_entries: int = MAX_CACHE_ENTRIES, retention_s: float = NAME_RETENTION_S) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._max = max_entries
        self._retention_s = retention_s
        self.answers_seen = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, answer: DnsAnswer, now: float) -> None:
        self.answers_seen += 1
        old = self._entries.pop(answer.address, None)
        names = tuple(dict.fromkeys([*answer.names, *(old.names if old else ())]))
        expires = now + max(float(answer.ttl), self._retention_s)
        self._entries[answer.address] = _Entry(answer.qname, names[:MAX_NAMES_PER_ADDRESS], expires)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def lookup(self, address: str, now: float) -> tuple[str, tuple[str, ...]] | None:
        """(hostname asked for, every name that led to this address) or None."""
        entry = self._entries.get(address)
        if entry is None:
            return None
        if entry.expires < now:
            del self._entries[address]
            return None
        return entry.hostname, entry.names
