"""Reading nft's JSON listing back (pure): a real listing matches its plan, every drift is named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.enforce.readback import ListingError, differences, parse_listing, summary
from agent.enforce.rules import Quarantine, plan_quarantine

LISTING = (Path(__file__).parent / "testdata" / "nft-1.0.6-list-table.json").read_text()
PLAN = plan_quarantine(
    [Quarantine("10.0.0.9", ("10.0.0.1", "10.0.0.2", "fd00::1"), 1), Quarantine("fd00::9", ("fd00::1",), 2)]
)
TABLE = "inet camsentry"


def _edit(change: Any) -> str:
    document = json.loads(LISTING)
    change(document["nftables"])
    return json.dumps(document)


def _rules(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i["rule"] for i in items if "rule" in i]


def test_real_listing_matches_its_plan() -> None:
    installed = parse_listing(LISTING, TABLE)
    assert [c.name for c in installed.chains] == ["forward", "input", "output"]
    assert len(installed.rules) == len(PLAN.rules) == 24
    assert differences(PLAN, installed) == []


def test_set_order_does_not_matter_rule_order_does() -> None:
    def shuffle_set(items: list[dict[str, Any]]) -> None:
        right = _rules(items)[0]["expr"][1]["match"]["right"]
        right["set"].reverse()

    assert differences(PLAN, parse_listing(_edit(shuffle_set), TABLE)) == []

    def swap(items: list[dict[str, Any]]) -> None:
        rules = [i for i, item in enumerate(items) if "rule" in item]
        items[rules[0]], items[rules[2]] = items[rules[2]], items[rules[0]]

    problems = differences(PLAN, parse_listing(_edit(swap), TABLE))
    assert problems[0].startswith(
        "chain forward rule 1: expected 'ip saddr 10.0.0.9 ip daddr { 10.0.0.1, 10.0.0.2 }"
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda items: items.remove(next(i for i in items if "rule" in i)), "chain forward rule 1: expected"),
        (
            lambda items: _rules(items)[3]["expr"].__setitem__(-1, {"accept": None}),
            "found 'ip daddr 10.0.0.9 counter accept",
        ),
        (
            lambda items: _rules(items)[0]["expr"][0]["match"].__setitem__("right", "10.0.0.8"),
            "found 'ip saddr 10.0.0.8",
        ),
        (lambda items: _rules(items)[0]["expr"][0]["match"].__setitem__("op", "!="), "ip saddr != 10.0.0.9"),
        (lambda items: _rules(items)[0]["expr"].insert(0, {"log": {}}), "found 'log {}"),
        (
            lambda items: items[2]["chain"].__setitem__("prio", 0),
            "chain forward: expected type filter hook forward priority -10",
        ),
        (lambda items: items[2]["chain"].__setitem__("policy", "drop"), "policy drop"),
        (lambda items: items.append({"rule": {**_rules(items)[0], "handle": 99}}), "expected nothing, found"),
    ],
)
def test_each_drift_is_named(change: Any, problem: str) -> None:
    problems = differences(PLAN, parse_listing(_edit(change), TABLE))
    assert problems
    assert problem in summary(problems)


def test_absent_table() -> None:
    assert differences(PLAN, None) == ["table inet camsentry is not installed"]
    assert differences(plan_quarantine([]), None) == []
    leftover = parse_listing(LISTING, TABLE)
    assert differences(plan_quarantine([]), leftover)[0].startswith("chain forward: expected nothing")


def test_other_tables_are_ignored_and_junk_refused() -> None:
    assert parse_listing(LISTING, "inet other").rules == ()
    for junk in ("", "[]", '{"nftables": 3}', "{" * 100_000):
        with pytest.raises(ListingError):
            parse_listing(junk, TABLE)


def test_summary_caps_the_list() -> None:
    assert summary([f"p{i}" for i in range(8)]) == "p0; p1; p2; p3; p4; ... and 3 more"
