"""One policy pass for the collector service: facts from the store, evaluate, record, alert, enforce.

The service builds one ``PolicyRunner`` and calls ``run_once()`` on its evaluation interval and
``reload()`` on SIGHUP. Each pass records the policy version it used (``policy_evaluations``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import structlog

from agent.runtime.clock import Clock
from collector.alerts import Alert, alerts_from_sync
from collector.judge.centre import CentreJudge
from collector.policy.commanding import CommandIssuer
from collector.policy.engine import Evaluation, Facts, enforcement_actions, evaluate
from collector.policy.facts import agent_facts, device_facts, flow_facts
from collector.policy.model import Policy, default_policy, load_policy, reload_policy
from collector.violations import SyncResult, ViolationStore

log = structlog.get_logger(__name__)


class FactSource(Protocol):
    """The collector store's read side, as ``collector.store.Store`` offers it."""

    def devices(self) -> list[dict[str, Any]]: ...
    def agent_status(self) -> list[dict[str, Any]]: ...
    def agent_health(self) -> list[dict[str, Any]]: ...
    def envelope_bodies(self, kind: str) -> list[dict[str, Any]]: ...


class AlertOutlet(Protocol):
    """Where a pass hands its alerts (``collector.alerts.enqueue.AlertEnqueuer``): never a sink."""

    def send(self, alerts: Iterable[Alert]) -> int: ...


@dataclass(frozen=True)
class PassResult:
    evaluation: Evaluation
    sync: SyncResult
    # Alerts handed to the queue (None without an outlet).
    alerts: int | None
    commands: tuple[int, ...] = field(default=())


class PolicyRunner:
    def __init__(
        self,
        source: FactSource,
        violations: ViolationStore,
        *,
        clock: Clock,
        policy_path: Path | None = None,
        alerter: AlertOutlet | None = None,
        issuer: CommandIssuer | None = None,
        judge: CentreJudge | None = None,
    ) -> None:
        """``judge``: the centre's identification (``collector.judge``); its verdict replaces
        the agent's in every device fact, the agent's kept as evidence."""
        self.source = source
        self.violations = violations
        self.clock = clock
        self.policy_path = policy_path
        self.alerter = alerter
        self.issuer = issuer
        self.judge = judge
        self.policy: Policy = load_policy(policy_path) if policy_path else default_policy()

    def reload(self) -> Policy:
        """SIGHUP: take the file's new policy, or keep the current one if the file has errors."""
        if self.policy_path is not None:
            self.policy = reload_policy(self.policy_path, self.policy)
        return self.policy

    def facts(self) -> Facts:
        rows = self.source.devices()
        if self.judge is not None:
            self.judge.refresh()
            rows = self.judge.apply(rows)
        return Facts(
            devices=device_facts(rows),
            flows=flow_facts(self.source.envelope_bodies("flow")),
            agents=agent_facts(self.source.agent_status(), self.source.agent_health()),
            now=self.clock.now(),
        )

    def run_once(self) -> PassResult:
        policy = self.policy
        evaluation = evaluate(self.facts(), policy)
        sync = self.violations.record_evaluation(evaluation)
        queued = self.alerter.send(alerts_from_sync(sync)) if self.alerter else None
        sent: list[int] = []
        if self.issuer is not None:
            sent = self.issuer.enforce(enforcement_actions(evaluation, policy))
        log.info(
            "policy_pass",
            policy_version=policy.version,
            violations=len(evaluation.violations),
            opened=len(sync.opened),
            resolved=len(sync.resolved),
            commands=len(sent),
            alerts=queued,
        )
        return PassResult(evaluation, sync, queued, tuple(sent))
