"""render_quarantine: exact text, deterministic, both families, empty means no table."""

from __future__ import annotations

import pytest

from agent.enforce.rules import Quarantine, render_quarantine


def test_empty_removes_table() -> None:
    text = render_quarantine([])
    assert "table inet camsentry\ndelete table inet camsentry\n" in text
    assert "chain" not in text


def test_one_device_exact_rules() -> None:
    text = render_quarantine([Quarantine("10.77.1.2", ("10.77.2.2",), 7)])
    c = 'comment "camsentry quarantine 10.77.1.2"'
    assert text == (
        "# camsentry-agent quarantine ruleset; managed by the agent, do not edit\n"
        "table inet camsentry\n"
        "delete table inet camsentry\n"
        "table inet camsentry {\n"
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority -10; policy accept;\n"
        "\t\t# 10.77.1.2: command 7, recorders 10.77.2.2\n"
        f"\t\tip saddr 10.77.1.2 ip daddr {{ 10.77.2.2 }} accept {c}\n"
        f"\t\tip daddr 10.77.1.2 ip saddr {{ 10.77.2.2 }} accept {c}\n"
        f"\t\tip saddr 10.77.1.2 counter drop {c}\n"
        f"\t\tip daddr 10.77.1.2 counter drop {c}\n"
        "\t}\n"
        "\tchain input {\n"
        "\t\ttype filter hook input priority -10; policy accept;\n"
        "\t\t# 10.77.1.2: command 7, recorders 10.77.2.2\n"
        f"\t\tip saddr 10.77.1.2 ip daddr {{ 10.77.2.2 }} accept {c}\n"
        f"\t\tip saddr 10.77.1.2 udp sport 68 udp dport 67 accept {c}\n"
        f"\t\tip saddr 10.77.1.2 ct direction reply accept {c}\n"
        f"\t\tip saddr 10.77.1.2 counter drop {c}\n"
        "\t}\n"
        "\tchain output {\n"
        "\t\ttype filter hook output priority -10; policy accept;\n"
        "\t\t# 10.77.1.2: command 7, recorders 10.77.2.2\n"
        f"\t\tip daddr 10.77.1.2 ip saddr {{ 10.77.2.2 }} accept {c}\n"
        f"\t\tip daddr 10.77.1.2 udp sport 67 udp dport 68 accept {c}\n"
        f"\t\tip daddr 10.77.1.2 ct direction original accept {c}\n"
        f"\t\tip daddr 10.77.1.2 counter drop {c}\n"
        "\t}\n"
        "}\n"
    )


def test_without_host_monitoring_the_host_cannot_reach_it_either() -> None:
    text = render_quarantine([Quarantine("10.77.1.2", (), 7)], host_monitoring=False)
    assert "ct direction" not in text
    assert "udp sport 68 udp dport 67 accept" in text


def test_order_independent_and_families_kept_apart() -> None:
    a = Quarantine("10.0.0.9", ("10.0.0.1", "fd00::1"), 1)
    b = Quarantine("fd00::9", ("fd00::1", "10.0.0.1"), 2)
    text = render_quarantine([b, a])
    assert text == render_quarantine([a, b])
    assert "ip6 saddr fd00::9 ip6 daddr { fd00::1 } accept" in text
    assert "ip saddr 10.0.0.9 ip daddr { 10.0.0.1 } accept" in text
    assert "{ 10.0.0.1, fd00::1 }" not in text


def test_no_recorder_means_no_accept() -> None:
    text = render_quarantine([Quarantine("10.0.0.9", (), 1)])
    assert "daddr {" not in text
    assert "saddr {" not in text
    assert "ip saddr 10.0.0.9 counter drop" in text


def test_rejects_non_addresses() -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        Quarantine("10.0.0.9; flush ruleset", (), 1)
