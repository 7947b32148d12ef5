"""One policy pass for the collector service: facts from the store, evaluate, record, alert, enforce.

The service builds one ``PolicyRunner`` and calls ``run_once()`` on its evaluation interval and
``reload()`` on SIGHUP. Facts come from the store's projections through a ``FactCache``
(``collector.policy.gather``): the first pass reads them whole, later passes only what changed,
so a pass costs the estate's size, not its history. Each pass records the policy version it
used (``policy_evaluations``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from agent.runtime.clock import Clock
from collector.alerts import Alert, alerts_from_sync
from collector.judge.centre import CentreJudge
from collector.policy.commanding import CommandIssuer
from collector.policy.engine import Evaluation, Facts, enforcement_actions, evaluate
from collector.policy.facts import Skipped, agent_facts, device_facts
from collector.policy.gather import FactCache, ProjectionSource
from collector.policy.model import Policy, default_policy, load_policy, reload_policy
from collector.violations import SyncResult, ViolationStore

log = structlog.get_logger(__name__)


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
        source: ProjectionSource,
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
        self.cache = FactCache(source)
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
        changes = self.cache.refresh()
        log.debug("policy_facts_read", devices_changed=changes.devices, flows_changed=changes.flows)
        rows = self.cache.device_rows()
        if self.judge is not None:
            self.judge.refresh()
            rows = self.judge.apply(rows)
        skipped = Skipped()
        facts = Facts(
            devices=device_facts(rows, skipped),
            flows=self.cache.flow_facts(skipped),
            agents=agent_facts(self.cache.agents, self.cache.health_rows()),
            now=self.clock.now(),
        )
        if skipped.counts:
            log.warning("policy_facts_skipped", counts=skipped.counts, first=skipped.first)
        return facts

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
            reopened=len(sync.reopened),
            resolved=len(sync.resolved),
            commands=len(sent),
            alerts=queued,
        )
        return PassResult(evaluation, sync, queued, tuple(sent))
