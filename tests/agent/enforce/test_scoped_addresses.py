"""A scoped IPv6 address (``fe80::1%<text>``) is refused everywhere an address enters, so the
text after the ``%`` never reaches the nft ruleset."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.enforce.rules import Quarantine, render_quarantine
from agent.wire.addresses import is_plain_address, plain_address
from agent.wire.allowlist import check_network
from agent.wire.commands import AckReason, CommandAction, open_command
from collector.policy.model import parse_policy
from tests.agent.enforce.conftest import T0, MakeCommand

SCOPED = ("fe80::1%eth0", 'fe80::1%x" accept; drop', "fe80::1%", "::1%0")


@pytest.mark.parametrize("address", SCOPED)
def test_scoped_addresses_are_refused_by_the_one_check(address: str) -> None:
    assert not is_plain_address(address)
    with pytest.raises(ValueError, match="scoped address"):
        plain_address(address)
    with pytest.raises(ValueError, match="scoped address"):
        Quarantine(address, (), 1)
    with pytest.raises(ValueError, match="scoped address"):
        Quarantine("fe80::2", (address,), 1)
    assert check_network(address + "/128")[0] is None


@pytest.mark.parametrize("address", SCOPED)
def test_a_signed_command_naming_a_scoped_device_is_refused_malformed(
    address: str, make_command: MakeCommand, collector_key: Ed25519PrivateKey
) -> None:
    payload = make_command(1, CommandAction.QUARANTINE, address)
    outcome = open_command(
        payload, collector_key.public_key(), site="site-a", agent="agent-1", now=T0, last_applied_id=0
    )
    assert outcome.refusal is AckReason.MALFORMED and "scoped" in outcome.detail


def test_plain_ipv6_still_renders_and_no_zone_reaches_the_ruleset() -> None:
    text = render_quarantine([Quarantine("fe80::1", ("fe80::5",), 1)])
    assert "ip6 saddr fe80::1" in text and "%" not in text


def test_the_policy_refuses_scoped_networks() -> None:
    policy, errors = parse_policy(b'core_networks = ["fe80::%eth0/64"]\n', "p.toml")
    assert policy is None and any("scoped" in e for e in errors)
