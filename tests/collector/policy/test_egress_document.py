"""The collector's policy and the agent's allowlist share one entry validator: whatever egress
document the collector builds, the agent accepts, and means the same by it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.wire.allowlist import Allowlist, check_entry
from collector.policy.model import load_policy, parse_policy

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = [ROOT / "deploy" / "policy.example.toml", ROOT / "simulator" / "fleets" / "demo-policy.toml"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_policy_document_is_accepted_by_the_agent(path: Path) -> None:
    policy = load_policy(path)
    sites = {*policy.sites, *policy.egress_sites, "a-site-the-file-does-not-name"}
    for site in sorted(sites):
        doc = policy.egress_document(site)
        if doc is None:
            assert not policy.governs_egress(site)
            continue
        allowlist = Allowlist.from_document(doc, origin=policy.version)
        assert allowlist.entries == policy.allowlist(site)
        assert allowlist.as_document() == doc


def test_example_policy_governs_the_sites_it_names_and_no_others() -> None:
    policy = load_policy(ROOT / "deploy" / "policy.example.toml")
    hq = policy.egress_document("hq-london")  # through its group, london
    assert hq is not None and len(hq["allow"]) == 2
    assert policy.egress_document("a-site-the-file-does-not-name") is None


POLICY = b"""
[sites.hq]
class = "standard"

[egress.sites.hq]
allow = [
  { cidr = "192.0.2.0/24", port = 123, protocol = "udp" },
  { hostname = "*.Updates.Example.org.", ports = [443, 8443] },
  { tag = "vendor_cloud:axis" },
  { cidr = "2001:db8:2::/64", hostname = "ntp.example.org" },
]
"""


def test_entries_round_trip_between_policy_and_agent() -> None:
    policy, errors = parse_policy(POLICY, "p.toml")
    assert errors == [] and policy is not None
    doc = policy.egress_document("hq")
    assert doc is not None
    assert doc["allow"][1] == {"hostname": "*.updates.example.org", "ports": [443, 8443]}
    for item in doc["allow"]:
        entry, problems = check_entry(item)
        assert problems == [] and entry is not None and entry.as_document() == item


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"cidr": "10.1.2.3/8"}, ".cidr"),  # host bits: refused on both sides alike
        ({"cidr": "192.0.2.0/24", "ports": [1], "port": 2}, ".port"),
        ({"hostname": "*."}, ".hostname"),
        ({"tag": ""}, ".tag"),
        ({"hostname": "a.example", "protocol": "gre"}, ".protocol"),
    ],
)
def test_the_policy_file_refuses_what_the_agent_would_refuse(entry: dict[str, object], problem: str) -> None:
    assert check_entry(entry)[0] is None
    items = ", ".join(f"{k} = {_toml(v)}" for k, v in entry.items())
    text = f"[sites.hq]\n[egress.sites.hq]\nallow = [{{ {items} }}]\n".encode()
    policy, errors = parse_policy(text, "p.toml")
    assert policy is None
    assert any(e.startswith(f"p.toml: egress.sites.hq.allow[0]{problem}:") for e in errors), errors


def _toml(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)
