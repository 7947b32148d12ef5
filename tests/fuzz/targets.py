"""Fuzz targets: one function per parser that reads bytes from a peer or an operator.

Each target feeds arbitrary bytes to the parser and lets through only the typed refusal that
parser promises (``WireError``, ``None``, a refusal outcome, ``MalformedResponse``,
``ConfigError``...). Anything else escaping is a crash: the fuzzer reports it.

Used by ``make fuzz`` (atheris, ``tests/fuzz/run.py``) and by the smoke test in ``make test``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import parse_agent_config
from agent.egress.config import parse_egress_config
from agent.egress.conntrack import parse_conntrack_event
from agent.egress.dns import parse_dns_answers, parse_ip_udp
from agent.enforce.state import _DAMAGE, _parse_state
from agent.onvif import soap
from agent.onvif.discovery import discovered_from
from agent.onvif.errors import MalformedResponse
from agent.onvif.targets import parse_camera_tables
from agent.runtime.configfile import TomlTextError, parse_toml_bytes
from agent.runtime.errors import ConfigError
from agent.wire.commands import open_command
from agent.wire.enrol import open_enrol
from agent.wire.envelope import decode, verify
from agent.wire.errors import WireError
from agent.wire.receipts import open_receipt
from collector.config import parse_collector_config
from collector.policy.model import parse_policy

# A fixed key: the fuzzer cannot forge a signature, it can only reach what comes before and after.
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key()
NOW = datetime(2026, 11, 23, tzinfo=UTC)

_SOAP_PARSERS = (
    soap.parse_fault,
    soap.parse_device_information,
    soap.parse_system_date_and_time,
    soap.parse_network_interfaces,
    soap.parse_scopes,
    soap.parse_hostname,
    soap.parse_dns,
    soap.parse_ntp,
    soap.parse_network_protocols,
    soap.parse_users,
    soap.parse_services,
    soap.parse_capabilities,
    soap.parse_receiver_channels,
    soap.parse_recording_channels,
)


def envelope(data: bytes) -> None:
    try:
        env = decode(data)
        verify(env, PUBLIC)
    except WireError:
        return


def receipt(data: bytes) -> None:
    open_receipt(data, PUBLIC)


def command(data: bytes) -> None:
    outcome = open_command(data, PUBLIC, site="hq", agent="pi", now=NOW, last_applied_id=0)
    assert outcome.refusal is not None or outcome.command is not None


def enrol(data: bytes) -> None:
    request = open_enrol(data)
    if request is not None:
        assert request.fingerprint


def soap_xml(data: bytes) -> None:
    try:
        payload = soap.body_payload(soap.parse_xml(data))
    except MalformedResponse:
        return
    for parse in _SOAP_PARSERS:
        with contextlib.suppress(MalformedResponse):
            parse(payload)  # type: ignore[operator]


def ws_discovery(data: bytes) -> None:
    with contextlib.suppress(MalformedResponse):
        soap.parse_probe_matches(data)
    with contextlib.suppress(MalformedResponse):
        discovered_from("192.0.2.7", data)


def dns(data: bytes) -> None:
    parse_dns_answers(data)
    parse_ip_udp(data)
    if len(data) > 28:
        parse_dns_answers(data[28:])


def conntrack(data: bytes) -> None:
    for line in data.decode("utf-8", "replace").splitlines() or [""]:
        parse_conntrack_event(line)


def agent_config(data: bytes) -> None:
    try:
        doc = parse_toml_bytes(data)
        config = parse_agent_config(doc, "fuzz.toml")
        parse_camera_tables(list(config.cameras), "fuzz.toml")
        if config.egress:
            parse_egress_config(config.egress, "fuzz.toml")
    except (ConfigError, TomlTextError):
        return


def collector_config(data: bytes) -> None:
    try:
        parse_collector_config(parse_toml_bytes(data), "fuzz.toml")
    except (ConfigError, TomlTextError):
        return


def policy(data: bytes) -> None:
    result, errors = parse_policy(data, "fuzz.toml")
    assert (result is None) == bool(errors)


def enforce_state(data: bytes) -> None:
    try:
        _parse_state(data)
    except _DAMAGE:
        return


TARGETS: dict[str, Callable[[bytes], None]] = {
    "envelope": envelope,
    "receipt": receipt,
    "command": command,
    "enrol": enrol,
    "soap": soap_xml,
    "ws_discovery": ws_discovery,
    "dns": dns,
    "conntrack": conntrack,
    "agent_config": agent_config,
    "collector_config": collector_config,
    "policy": policy,
    "enforce_state": enforce_state,
}
