"""An nftables double for tests without a kernel: it installs exactly what it is given.

``MemoryNft`` keeps the last applied ruleset and lists it back as nftables would (the chains
``readback.expected_chains`` names, the planned rules). ``installs=False`` accepts every
ruleset and installs nothing; ``fail`` makes ``apply`` raise that error. The real nftables is
tested in namespaces (tests/agent/enforce/test_netns_*.py).
"""

from __future__ import annotations

from agent.enforce.errors import EnforceError
from agent.enforce.readback import Installed, expected_chains
from agent.enforce.rules import Ruleset


class MemoryNft:
    def __init__(self, *, installs: bool = True, fail: EnforceError | None = None) -> None:
        self.installs = installs
        self.fail = fail
        self.rulesets: list[str] = []  # the text of every ruleset applied, in order
        self._table: Ruleset | None = None

    def apply(self, ruleset: Ruleset) -> None:
        if self.fail is not None:
            raise self.fail
        self.rulesets.append(ruleset.text)
        if self.installs:
            self._table = ruleset if ruleset.rules else None

    def installed(self, table: str) -> Installed | None:
        if self._table is None or self._table.table != table:
            return None
        return Installed(expected_chains(self._table), self._table.rules)
