"""Read the agent's table back from ``nft -j list table`` and compare it with what was sent. Pure.

``parse_listing`` turns nftables' JSON (libnftables-json(5)) into ``Installed``: the table's
base chains and its rules as ``rules.Rule`` values, the same shape ``rules.plan_quarantine``
builds. ``differences`` says, in words an operator can act on, where the installed table is
not the planned one; an empty list is the only proof an ack may call ``applied``. Rule order
matters (first match wins); the order of a set's elements does not, and nft writes a set of
one element as that element.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from agent.enforce.rules import CHAIN_PRIORITY, CHAINS, Rule, Ruleset, Value

# How many differences an ack's detail lists before "... and N more".
MAX_LISTED = 5


class ListingError(ValueError):
    """``nft -j`` printed something that is not a table listing."""


@dataclass(frozen=True)
class Chain:
    name: str
    type: str
    hook: str
    prio: int
    policy: str


@dataclass(frozen=True)
class Installed:
    chains: tuple[Chain, ...]
    rules: tuple[Rule, ...]


def _left(expr: Any) -> str:
    if isinstance(expr, dict):
        payload, ct = expr.get("payload"), expr.get("ct")
        if isinstance(payload, dict):
            return f"{payload.get('protocol')} {payload.get('field')}"
        if isinstance(ct, dict):
            return f"ct {ct.get('key')}"
    return json.dumps(expr, sort_keys=True)


def _right(value: Any) -> Value:
    if isinstance(value, dict) and isinstance(value.get("set"), list):
        return tuple(str(v) for v in value["set"])
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _rule(item: dict[str, Any]) -> Rule:
    matches: list[tuple[str, Value]] = []
    verdict, counter = "", False
    for statement in item.get("expr") or []:
        if not isinstance(statement, dict) or len(statement) != 1:
            matches.append(("?", json.dumps(statement, sort_keys=True)))
            continue
        ((key, body),) = statement.items()
        if key == "match" and isinstance(body, dict):
            op = body.get("op", "==")
            left = _left(body.get("left")) + ("" if op == "==" else f" {op}")
            matches.append((left, _right(body.get("right"))))
        elif key == "counter":
            counter = True
        elif key in ("accept", "drop", "reject", "continue", "return", "jump", "goto", "queue"):
            verdict = key
        else:  # a statement our renderer never writes: it shows up as a difference
            matches.append((key, json.dumps(body, sort_keys=True)))
    return Rule(str(item.get("chain")), tuple(matches), verdict, str(item.get("comment") or ""), counter)


def parse_listing(text: str, table: str) -> Installed:
    """The chains and rules of ``table`` ("inet camsentry") in an ``nft -j list table`` output."""
    family, _, name = table.partition(" ")
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ListingError(f"nft -j output is not JSON: {exc}") from None
    items = document.get("nftables") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ListingError("nft -j output has no nftables list")
    chains: list[Chain] = []
    rules: list[Rule] = []
    for entry in items:
        if not isinstance(entry, dict):
            continue
        for kind in ("chain", "rule"):
            item = entry.get(kind)
            if not isinstance(item, dict) or (item.get("family"), item.get("table")) != (family, name):
                continue
            if kind == "chain":
                prio = item.get("prio")
                chains.append(
                    Chain(
                        str(item.get("name")),
                        str(item.get("type")),
                        str(item.get("hook")),
                        prio if isinstance(prio, int) else 0,
                        str(item.get("policy")),
                    )
                )
            else:
                rules.append(_rule(item))
    return Installed(tuple(chains), tuple(rules))


def _canonical_value(value: Value) -> Value:
    if isinstance(value, tuple):
        items = sorted({str(_canonical_value(v)) for v in value})
        return items[0] if len(items) == 1 else tuple(items)
    if isinstance(value, str):
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return value
    return value


def _canonical(rule: Rule) -> Rule:
    matches = tuple((left, _canonical_value(right)) for left, right in rule.matches)
    return Rule(rule.chain, matches, rule.verdict, rule.comment, rule.counter)


def expected_chains(planned: Ruleset) -> tuple[Chain, ...]:
    if not planned.rules:
        return ()
    return tuple(Chain(c, "filter", c, CHAIN_PRIORITY, "accept") for c in CHAINS)


def differences(planned: Ruleset, installed: Installed | None) -> list[str]:
    """Where ``installed`` (None: the table does not exist) is not ``planned``; [] when it is."""
    found = installed or Installed((), ())
    problems: list[str] = []
    want_chains = {c.name: c for c in expected_chains(planned)}
    have_chains = {c.name: c for c in found.chains}
    if planned.rules and installed is None:
        return [f"table {planned.table} is not installed"]
    for name in sorted(want_chains.keys() | have_chains.keys()):
        want, have = want_chains.get(name), have_chains.get(name)
        if want != have:
            problems.append(f"chain {name}: expected {_chain_text(want)}, found {_chain_text(have)}")
    for chain in sorted({r.chain for r in planned.rules} | {r.chain for r in found.rules}):
        want_rules = [_canonical(r) for r in planned.rules if r.chain == chain]
        have_rules = [_canonical(r) for r in found.rules if r.chain == chain]
        for i in range(max(len(want_rules), len(have_rules))):
            want_rule = want_rules[i] if i < len(want_rules) else None
            have_rule = have_rules[i] if i < len(have_rules) else None
            if want_rule != have_rule:
                expected, got = _rule_text(want_rule), _rule_text(have_rule)
                problems.append(f"chain {chain} rule {i + 1}: expected {expected}, found {got}")
    return problems


def summary(problems: list[str]) -> str:
    """The first few differences on one line, for an ack's detail."""
    more = len(problems) - MAX_LISTED
    return "; ".join(problems[:MAX_LISTED]) + (f"; ... and {more} more" if more > 0 else "")


def _chain_text(chain: Chain | None) -> str:
    if chain is None:
        return "nothing"
    return f"type {chain.type} hook {chain.hook} priority {chain.prio} policy {chain.policy}"


def _rule_text(rule: Rule | None) -> str:
    return "nothing" if rule is None else f"'{rule.text()}'"
