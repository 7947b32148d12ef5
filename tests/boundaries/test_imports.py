"""Import boundaries, proven in fresh interpreters: what each side may load of the others.

The collector may import the wire contract (``agent.wire``), the shared runtime
(``agent.runtime``) and pure judging code (``agent.identify``, ``agent.enforce.rules``); the
simulator imports nothing of the agent it tests.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _loaded_after(statement: str) -> list[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def _matching(loaded: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [m for m in loaded if any(m == p or m.startswith(p + ".") for p in prefixes)]


# Modules the collector must never load: the agent's camera, egress and delivery code and the
# libraries only they need.
COLLECTOR_FORBIDDEN = (
    "agent.onvif",
    "agent.egress",
    "agent.daemon",
    "agent.outbox",
    "agent.publisher",
    "agent.config",
    "zeep",
    "onvif",
    "lxml",
    "psutil",
)


def test_collector_loads_only_the_contract_the_runtime_and_pure_judging() -> None:
    loaded = _loaded_after("import collector.cli, collector.service")
    assert _matching(loaded, COLLECTOR_FORBIDDEN) == []
    agent_modules = [m for m in loaded if m == "agent" or m.startswith("agent.")]
    packages = {"agent", "agent.enforce"}
    allowed = ("agent.wire", "agent.runtime", "agent.identify", "agent.enforce.rules")
    assert [m for m in agent_modules if m not in packages and not _matching([m], allowed)] == []


def test_simulator_loads_nothing_of_the_agent() -> None:
    loaded = _loaded_after("import simulator.cli")
    assert [m for m in loaded if m == "agent" or m.startswith("agent.")] == []


@pytest.mark.parametrize("module", ["agent.wire.envelope", "agent.wire.receipts", "agent.wire.inventory"])
def test_wire_contract_needs_no_paho_psutil_or_zeep(module: str) -> None:
    loaded = _loaded_after(f"import {module}")
    assert _matching(loaded, ("paho", "psutil", "zeep", "onvif", "lxml")) == []


def test_the_agent_loads_prometheus_client_only_when_metrics_are_on() -> None:
    """prometheus-client is the agent's optional ``metrics`` extra, never one of its five."""
    loaded = _loaded_after("import agent.cli, agent.daemon, agent.config, agent.runtime.metricsconfig")
    assert _matching(loaded, ("prometheus_client", "agent.metrics", "agent.runtime.metricsserver")) == []
