"""Write the seed corpus (tests/fuzz/corpus/<target>/): valid inputs of every parser, plus the
hostile shapes that once got through. Run from the checkout: ``python -m tests.fuzz.seed_corpus``.

The ONVIF seeds are what the simulator answers for each bundled fleet camera (its profiles
follow the real captures' shapes: prefixes, layouts, quirks); the captures themselves are not
copied into the repo.
"""

from __future__ import annotations

import struct
from pathlib import Path

from agent.wire.commands import Command, CommandAction, seal_command
from agent.wire.enrol import seal_enrol
from agent.wire.envelope import Kind, encode, seal
from agent.wire.receipts import Receipt, seal_receipt
from simulator.discovery import probe_matches
from simulator.fleet import bundled_fleet_path, load_fleet
from simulator.operations import OPERATIONS, fault
from simulator.wire import envelope as soap_envelope
from tests.fuzz.targets import KEY, NOW

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
HOSTILE = [
    b'{"v":1,"seq":' + b"7" * 5000 + b"}",
    b'{"v":1,"body":' + b"[" * 990 + b"]" * 990 + b"}",
    b'{"v":1,"n":NaN,"m":1e999}',
    b'{"v":1,"s":"\\ud800"}',
]


def _dns_answer() -> bytes:
    name = b"\x07example\x03com\x00"
    header = struct.pack("!HHHHHH", 0x1234, 0x8180, 1, 1, 0, 0)
    question = name + struct.pack("!HH", 1, 1)
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([93, 184, 216, 34])
    return header + question + answer


def _ip_udp(payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 53, 40000, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([8, 8, 8, 8]), bytes([10, 0, 0, 2])
    )
    return ip + udp


def seeds() -> dict[str, list[bytes]]:
    env = seal(KEY, agent="pi", site="hq", boot="b1", seq=1, ts=NOW, kind=Kind.HEALTH, body={"n": 1})
    inv = seal(
        KEY,
        agent="pi",
        site="hq",
        boot="b1",
        seq=2,
        ts=NOW,
        kind=Kind.INVENTORY,
        body={"device": {"address": "192.0.2.10", "port": 80, "model": "DS-2CD2143G0-I"}},
    )
    cmd = Command(
        id=1,
        site="hq",
        agent="pi",
        action=CommandAction.QUARANTINE,
        device="192.0.2.10",
        issued=NOW,
        expires=NOW.replace(year=2027),
        params={"recorders": ["192.0.2.5"]},
    )
    dns = _dns_answer()
    root = ROOT / "deploy"
    return {
        "envelope": [encode(env), encode(inv), *HOSTILE],
        "receipt": [seal_receipt(KEY, Receipt("hq", "pi", "b1", ((1, 3), (5, 5))), NOW), *HOSTILE],
        "command": [seal_command(KEY, cmd), *HOSTILE],
        "enrol": [seal_enrol(KEY, site="hq", agent="pi", host="box", now=NOW), *HOSTILE],
        "dns": [dns, _ip_udp(dns)],
        "conntrack": [(ROOT / "tests/agent/egress/testdata/conntrack-gateway.txt").read_bytes()[:4000]],
        "agent_config": [(root / "agent.example.toml").read_bytes()],
        "collector_config": [(root / "collector.example.toml").read_bytes()],
        "policy": [(root / "policy.example.toml").read_bytes()],
        "enforce_state": [
            b'{"last_command_id": 3, "policy": {}, "quarantines": [{"command_id": 3, "device": "192.0.2.9",'
            b' "recorders": ["192.0.2.5"]}], "v": 1}'
        ],
    }


def onvif_seeds() -> tuple[list[bytes], list[bytes]]:
    """(SOAP answers, ProbeMatches) of one camera per distinct profile in the demo fleet."""
    answers: list[bytes] = []
    probes: list[bytes] = []
    seen: set[str] = set()
    for spec in load_fleet(bundled_fleet_path()).cameras:
        if spec.profile.id in seen:
            continue
        seen.add(spec.profile.id)
        style = spec.profile.wire.style
        for build in OPERATIONS.values():
            answers.append(soap_envelope(style, build(spec, NOW)))
        answers.append(
            soap_envelope(style, fault("Sender", ("ter:NotAuthorized",), "no")(style.envelope_prefix))
        )
        probes.append(probe_matches(spec, "urn:uuid:00000000-0000-0000-0000-000000000000"))
    return answers, probes


def main() -> None:
    answers, probes = onvif_seeds()
    for target, items in {**seeds(), "soap": answers, "ws_discovery": probes}.items():
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(items):
            (folder / f"seed-{i:02d}").write_bytes(data)


if __name__ == "__main__":
    main()
