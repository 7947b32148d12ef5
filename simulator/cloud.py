"""Fake vendor-cloud endpoints for the "internet" namespace: accept TCP and UDP, report each contact as JSON.

``python -m simulator.cloud 192.0.2.10:443/tcp 198.51.100.20:8000/udp`` prints ``{"event": "listening"}``
once every endpoint is bound, then one line per contact
``{"event": "contact", "proto", "local", "peer", "data"}`` (first bytes, decoded leniently), until SIGTERM.
Refuses to bind anything outside the documentation ranges and loopback.
"""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

from simulator.knobs import Target
from simulator.safety import target_allowed

MAX_CAPTURE_BYTES = 512  # what a contact report keeps of the payload
READ_TIMEOUT_S = 5.0


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
    sys.stdout.flush()


def _report(proto: str, local: Any, peer: Any, data: bytes) -> None:
    _emit(
        {
            "event": "contact",
            "proto": proto,
            "local": f"{local[0]}:{local[1]}",
            "peer": f"{peer[0]}:{peer[1]}",
            "data": data[:MAX_CAPTURE_BYTES].decode("utf-8", "replace"),
        }
    )


async def _tcp_contact(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        data = await asyncio.wait_for(reader.read(MAX_CAPTURE_BYTES), READ_TIMEOUT_S)
    except (TimeoutError, OSError):
        data = b""
    _report("tcp", writer.get_extra_info("sockname"), writer.get_extra_info("peername"), data)
    writer.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, local: tuple[str, int]) -> None:
        self.local = local

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        _report("udp", self.local, addr, data)


async def serve(targets: Sequence[Target]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    closers = []
    for t in targets:
        if t.proto == "tcp":
            server = await asyncio.start_server(_tcp_contact, t.host, t.port, reuse_address=True)
            closers.append(server.close)
        else:
            transport, _ = await loop.create_datagram_endpoint(
                functools.partial(_Udp, (t.host, t.port)), local_addr=(t.host, t.port)
            )
            closers.append(transport.close)
    _emit({"event": "listening", "endpoints": [str(t) for t in targets]})
    await stop.wait()
    for close in closers:
        close()


def main(argv: Sequence[str] | None = None) -> int:
    targets = [Target.parse(a) for a in (sys.argv[1:] if argv is None else argv)]
    for t in targets:
        if not target_allowed(t, host_namespace=False):
            print(f"cloud: {t} is outside the documentation ranges", file=sys.stderr)
            return 2
    asyncio.run(serve(targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
