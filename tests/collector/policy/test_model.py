"""Policy file loading: the sample loads, every problem is named by file and key."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from collector.policy.model import (
    Enforcement,
    PolicyError,
    SiteClass,
    check_policy_file,
    default_policy,
    load_policy,
    reload_policy,
)

ROOT = Path(__file__).resolve().parents[3]


def test_example_policy_loads() -> None:
    path = ROOT / "deploy" / "policy.example.toml"
    assert check_policy_file(path) == []
    policy = load_policy(path)
    hq = policy.site("hq-london")
    assert hq.site_class is SiteClass.SENSITIVE
    assert hq.removal_deadline == date(2026, 3, 31)
    assert hq.enforcement is Enforcement.QUARANTINE
    assert hq.recorders == ("10.77.2.2",)
    assert policy.restricted_at("Hikvision", "hq-london")
    assert not policy.restricted_at("Hikvision", "depot-leeds")
    assert policy.site("unlisted").site_class is SiteClass.STANDARD
    assert policy.version.startswith("sha256:")
    assert len(policy.version) == 7 + 64
    assert len(policy.allowlist("hq-london")) == 2


def test_version_follows_content(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[sites.a]\nclass = 'sensitive'\n")
    first = load_policy(path).version
    path.write_text("[sites.a]\nclass = 'standard'\n")
    assert load_policy(path).version != first
    assert default_policy().restricted_makers == frozenset({"hikvision", "dahua"})


def test_every_problem_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        """
core_networks = ["10.0.0.0/33", "10.1.0.1/16"]
colour = "blue"
[defaults]
enforcement = "nuke"
clock_skew_max_s = "five"
[restricted]
site_classes = ["secret"]
[sites.hq]
class = "sensative"
removal_deadline = "2026-03-31"
recorders = ["nvr-1"]
[egress.sites.nowhere]
allow = [{ ports = [443] }]
[egress.groups.ghost]
allow = [{ cidr = "192.0.2.0/24", ports = [70000] }]
[[firmware.minimum]]
maker = "hikvision"
version = "latest"
"""
    )
    errors = check_policy_file(path)
    f = str(path)
    expected = [
        f"{f}: colour: unknown key",
        f"{f}: defaults.enforcement: 'nuke' is not one of report, quarantine",
        f"{f}: defaults.clock_skew_max_s: must be a number",
        f"{f}: core_networks[0]: not a network",
        f"{f}: core_networks[1]: not a network",
        f"{f}: restricted.site_classes[0]: 'secret' is not one of sensitive, standard, public",
        f"{f}: sites.hq.class: 'sensative' is not one of sensitive, standard, public",
        f"{f}: sites.hq.removal_deadline: must be a TOML date",
        f"{f}: sites.hq.recorders[0]: 'nvr-1' is not an IP address",
        f"{f}: egress.sites.nowhere.allow[0]: needs at least one of cidr, hostname, tag",
        f"{f}: egress.groups.ghost.allow[0].ports: must be a list of port numbers",
        f"{f}: egress.groups.ghost: no site is in this group",
        f"{f}: egress.sites.nowhere: no such site in [sites]",
        f"{f}: firmware.minimum[0].version: is required and must contain a dotted version",
    ]
    for line in expected:
        assert any(e.startswith(line) for e in errors), (line, errors)
    assert len(errors) == len(expected), errors
    with pytest.raises(PolicyError) as raised:
        load_policy(path)
    assert raised.value.errors == errors


def test_unreadable_and_not_toml(tmp_path: Path) -> None:
    assert check_policy_file(tmp_path / "missing.toml")[0].startswith(
        f"{tmp_path / 'missing.toml'}: cannot read"
    )
    bad = tmp_path / "bad.toml"
    bad.write_text("[sites\n")
    assert "not valid TOML" in check_policy_file(bad)[0]


def test_reload_keeps_old_policy_on_error(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[sites.a]\nclass = 'sensitive'\n")
    first = load_policy(path)
    path.write_text("[sites.a]\nclass = 'secret'\n")
    with capture_logs() as logs:
        assert reload_policy(path, first) is first
    assert logs[0]["event"] == "policy_reload_failed"
    assert "sites.a.class" in logs[0]["errors"][0]
    path.write_text("[sites.a]\nclass = 'standard'\n")
    assert reload_policy(path, first).site("a").site_class is SiteClass.STANDARD
