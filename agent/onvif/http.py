"""A minimal HTTP/1.1 client on a plain socket: one deadline, a byte cap, nothing else.

A hostile camera can drip one byte per second forever, send gigabytes or never answer;
``http.client`` and requests enforce per-read timeouts only, so a slow drip stalls them. Here
every ``recv`` waits at most until the request's deadline and the response is cut off at
``max_bytes``. Parsing (``parse_response``) is pure and tested on bytes. With ``tls`` the
socket is wrapped and the peer's certificate checked against its pin (``agent.onvif.tls``)
before the request is sent.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.onvif.errors import (
    CameraTimeout,
    MalformedResponse,
    ResponseTooLarge,
    TlsFailed,
    Unreachable,
)
from agent.onvif.tls import TlsPeer

MAX_HEADER_BYTES = 16_384  # real cameras send under 400 bytes of headers
RECV_CHUNK = 65_536
CONNECT_TIMEOUT_S = 3.0  # a LAN camera answers SYN in milliseconds; 3 s covers a busy VLAN


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, last value wins
    body: bytes = b""


def _split_head(data: bytes) -> tuple[bytes, bytes] | None:
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if len(data) > MAX_HEADER_BYTES:
            raise MalformedResponse("HTTP header section too long")
        return None
    return data[:end], data[end + 4 :]


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise MalformedResponse(f"not an HTTP status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:65]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()[:1024]
    return int(parts[1]), headers


def decode_chunked(data: bytes) -> tuple[bytes, bool]:
    """Chunked transfer coding: (body so far, complete)."""
    out = bytearray()
    pos = 0
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            return bytes(out), False
        size_text = data[pos:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as exc:
            raise MalformedResponse("bad chunk size") from exc
        if size == 0:
            return bytes(out), True
        start = line_end + 2
        if len(data) < start + size + 2:
            return bytes(out), False
        out += data[start : start + size]
        pos = start + size + 2


def parse_response(data: bytes, *, eof: bool) -> HttpResponse | None:
    """The response in ``data`` if complete (or the connection closed); None if more is due."""
    split = _split_head(data)
    if split is None:
        if eof:
            raise MalformedResponse("connection closed before the HTTP headers ended")
        return None
    head, rest = split
    status, headers = _parse_head(head)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body, complete = decode_chunked(rest)
        if not complete and not eof:
            return None
        if not complete:
            raise MalformedResponse("connection closed inside a chunked body")
        return HttpResponse(status, headers, body)
    length_text = headers.get("content-length")
    if length_text is not None:
        if not length_text.isdigit():
            raise MalformedResponse("bad Content-Length")
        length = int(length_text)
        if len(rest) >= length:
            return HttpResponse(status, headers, rest[:length])
        if eof:
            raise MalformedResponse(f"connection closed after {len(rest)} of {length} body bytes")
        return None
    return HttpResponse(status, headers, rest) if eof else None


def build_request(
    method: str, host: str, port: int, path: str, body: bytes, headers: dict[str, str]
) -> bytes:
    host_header = f"[{host}]" if ":" in host else host
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host_header}:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(
    host: str,
    port: int,
    request: bytes,
    *,
    timeout_s: float,
    max_bytes: int,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    monotonic: Callable[[], float] = time.monotonic,
    tls: TlsPeer | None = None,
) -> HttpResponse:
    """Send one request and read its response within ``timeout_s`` in total (the connect and
    TLS handshake within ``connect_timeout_s`` of that) and ``max_bytes``."""
    deadline = monotonic() + timeout_s

    def remaining() -> float:
        left = deadline - monotonic()
        if left <= 0:
            raise CameraTimeout(f"no complete answer within {timeout_s:.1f} s")
        return left

    try:
        sock = socket.create_connection((host, port), timeout=min(connect_timeout_s, remaining()))
    except TimeoutError as exc:
        raise CameraTimeout(f"connect to {host}:{port} timed out") from exc
    except OSError as exc:
        raise Unreachable(f"connect to {host}:{port}: {exc.strerror or exc}") from exc
    if tls is not None:
        sock = _handshake(sock, host, tls, min(connect_timeout_s, remaining()))
    buf = bytearray()
    limit = max_bytes + MAX_HEADER_BYTES
    try:
        sock.settimeout(remaining())
        sock.sendall(request)
        while True:
            sock.settimeout(remaining())
            chunk = sock.recv(RECV_CHUNK)
            if not chunk:
                response = parse_response(bytes(buf), eof=True)
                assert response is not None
                return response
            buf += chunk
            if len(buf) > limit:
                raise ResponseTooLarge(f"answer exceeds {max_bytes} bytes; cut off")
            response = parse_response(bytes(buf), eof=False)
            if response is not None:
                return response
    except TimeoutError as exc:
        raise CameraTimeout(f"no complete answer within {timeout_s:.1f} s") from exc
    except OSError as exc:
        raise Unreachable(f"{host}:{port}: {exc}") from exc
    finally:
        sock.close()


def _handshake(sock: socket.socket, host: str, tls: TlsPeer, timeout_s: float) -> ssl.SSLSocket:
    """TLS over ``sock`` and the pin check; closes the socket on any failure (nothing sent)."""
    try:
        sock.settimeout(timeout_s)
        wrapped = tls.context.wrap_socket(sock, server_hostname=None if _is_ip(host) else host)
    except TimeoutError as exc:
        sock.close()
        raise CameraTimeout(f"TLS handshake with {tls.peer} timed out") from exc
    except ssl.SSLError as exc:
        sock.close()
        raise TlsFailed(f"TLS handshake with {tls.peer}: {exc.reason or exc}") from exc
    except OSError as exc:
        sock.close()
        raise Unreachable(f"TLS handshake with {tls.peer}: {exc.strerror or exc}") from exc
    try:
        der = wrapped.getpeercert(binary_form=True)
        if not der:
            raise TlsFailed(f"{tls.peer} sent no certificate")
        tls.pins.check(tls.peer, der)
    except BaseException:
        wrapped.close()
        raise
    return wrapped


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True
