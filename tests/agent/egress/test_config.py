"""[egress] table parsing, the allowlist, the vendor cloud table, and the sample in docs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from agent.egress.clouds import CloudTable, load_cloud_domains, parse_cloud_domains
from agent.egress.config import parse_egress_config
from agent.runtime.errors import ConfigError
from agent.wire.allowlist import Allowlist

DOCS = Path(__file__).resolve().parents[3] / "docs" / "egress.md"


def test_sample_config_in_docs_loads() -> None:
    block = re.search(r"```toml\n(.*?)```", DOCS.read_text(), re.S)
    assert block is not None
    config = parse_egress_config(tomllib.loads(block.group(1))["egress"], "docs/egress.md")
    assert config.interfaces == ("eth1",)
    assert config.allowlist.allows("192.0.2.10", 123, "udp", ())
    assert not config.allowlist.allows("192.0.2.10", 123, "tcp", ())
    assert config.allowlist.allows("198.51.100.9", 443, "tcp", ("fw.updates.example.org",))
    assert config.allowlist.is_core("10.1.2.3")


def test_defaults() -> None:
    config = parse_egress_config({}, "agent.toml")
    assert config.conntrack and config.sockets and config.dns
    assert config.allowlist.entries == ()


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"allow": [{"ports": [443]}]}, "egress.allow[0]"),
        ({"allow": [{"cidr": "300.1.1.0/24"}]}, "egress.allow[0].cidr"),
        ({"allow": [{"cidr": "192.0.2.0/24", "ports": [0]}]}, "egress.allow[0].ports"),
        ({"allow": [{"hostname": "x.example", "protocol": "gre"}]}, "egress.allow[0].protocol"),
        ({"allow": [{"hostname": "x.example", "colour": 1}]}, "egress.allow[0].colour"),
        ({"allow": {"cidr": "192.0.2.0/24"}}, "egress.allow"),
        ({"core_networks": ["nope"]}, "egress.core_networks[0]"),
        ({"poll_interval_s": 0}, "egress.poll_interval_s"),
        ({"socket_reader": "netstat"}, "egress.socket_reader"),
        ({"interfaces": ["a/b"]}, "egress.interfaces"),
        ({"conntrak": True}, "egress.conntrak"),
        ({"resolvers": ["dns.example"]}, "egress.resolvers[0]"),
        ({"resolvers": ["2001:DB8::53"]}, "egress.resolvers[0]"),
    ],
)
def test_errors_name_file_and_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_egress_config(table, "agent.toml")
    assert (err.value.file, err.value.key) == ("agent.toml", key)


def test_policy_push_document() -> None:
    doc = {
        "allow": [{"hostname": "*.example.org", "ports": [443], "protocol": "tcp"}],
        "core_networks": ["10.0.0.0/8"],
    }
    allow = Allowlist.from_document(doc, origin="policy sha256:abc")
    assert allow.allows("203.0.113.1", 443, "tcp", ("a.b.example.org",))
    assert not allow.allows("203.0.113.1", 443, "tcp", ("example.org",))
    assert not allow.allows("203.0.113.1", 80, "tcp", ("a.example.org",))
    with pytest.raises(ConfigError) as err:
        Allowlist.from_document({"allow": [{"cidr": "x"}]}, origin="policy v2")
    assert (err.value.file, err.value.key) == ("policy v2", "allow[0].cidr")


def test_cloud_table_rows_are_sourced_and_match_subdomains() -> None:
    rows = load_cloud_domains()
    assert {"hik-connect.com", "ys7.com", "easy4ipcloud.com"} <= {r.domain for r in rows}
    assert all(r.source.strip() for r in rows)
    table = CloudTable(rows)
    assert table.tags(("cas.ys7.com",)) == ["vendor_cloud:hikvision"]
    assert table.tags(("www.easy4ipcloud.com",)) == ["vendor_cloud:dahua"]
    assert table.tags(("notys7.com", "ys7.com.example")) == []


def test_cloud_table_formats() -> None:
    ours = "domain,vendor,service,role,source\nys7.com,hikvision,EZVIZ,api,src\n"
    theirs = "domain,maker,role,confidence,source\nys7.com,hikvision,api,high,src\n"
    assert parse_cloud_domains(ours)[0].vendor == parse_cloud_domains(theirs)[0].vendor
    with pytest.raises(ValueError, match="source"):
        parse_cloud_domains("domain,vendor,role,source\nys7.com,hikvision,api,\n")
