"""The collector's Prometheus metrics, read at scrape time from the service and the database.

A custom prometheus-client collector: each scrape reads the service's counters (ingest,
receipts, policy pass, alert worker, stages) and asks the database for open violations by
severity and rule, the alert queue and the agents' liveness. Nothing on the hot path writes
a metric. Served by ``agent.runtime.metricsserver`` when ``[metrics] listen`` is set.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from collector.reports.status import liveness

if TYPE_CHECKING:
    from collector.service import CollectorService

log = structlog.get_logger(__name__)

P = "camsentry_collector_"


class CollectorMetrics(Collector):
    def __init__(self, service: CollectorService) -> None:
        self.service = service
        self._db = service.store.new_database()
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def collect(self) -> Iterator[Metric]:
        s = self.service
        yield _counter("envelopes_accepted", "Envelopes stored (new)", s.stored)
        rejected = CounterMetricFamily(
            P + "envelopes_rejected", "Envelopes rejected, by reason", labels=["reason"]
        )
        for reason, n in sorted(s.rejected.items()):
            rejected.add_metric([reason], n)
        yield rejected
        yield _counter("duplicates", "Envelopes already stored (QoS 1 redelivery or replay)", s.duplicates)
        yield _counter("receipts_sent", "Signed receipts published", s.receipts_sent)
        yield SummaryMetricFamily(
            P + "batch_store_seconds",
            "Time storing one ingest batch",
            count_value=s.batches,
            sum_value=s.batch_seconds,
        )
        p = s.policy
        yield SummaryMetricFamily(
            P + "policy_pass_seconds",
            "Policy pass duration",
            count_value=p.passes,
            sum_value=p.total_duration_s,
        )
        yield _gauge("policy_pass_last_seconds", "Duration of the last policy pass", p.last_duration_s)
        yield _counter("policy_pass_failures", "Policy passes that failed", p.failures)
        w = s.alert_worker.stats
        for name, help_text, counts in (
            ("alerts_sent", "Alerts delivered, by sink", w.sent),
            ("alert_failures", "Alert delivery attempts that failed, by sink", w.failures),
            ("alert_digests", "Digests made of alert storms, by sink", w.digests),
        ):
            family = CounterMetricFamily(P + name, help_text, labels=["sink"])
            for sink in sorted({*counts, *(x.name for x in s.sinks)}):
                family.add_metric([sink], counts.get(sink, 0))
            yield family
        stalled = set(s.stalled())
        stages = GaugeMetricFamily(
            P + "stage_stalled", "1 while a stage holds work without progress", labels=["stage"]
        )
        for name in sorted(s.heartbeats.stages):
            stages.add_metric([name], 1.0 if name in stalled else 0.0)
        yield stages
        yield _gauge(
            "broker_connected", "1 while the collector's broker session is up", float(s.link.connected)
        )
        yield _gauge("storage_failing", "1 while storing batches fails (disk full, database away)",
                     float(s.storage.failing))  # fmt: skip
        try:
            with self._lock:
                yield from self._from_database()
        except Exception:  # the database is away: the in-process series still answer
            log.warning("metrics_database_unavailable", exc_info=True)

    def _from_database(self) -> Iterator[Metric]:
        db = self._db
        open_v = GaugeMetricFamily(
            P + "open_violations", "Unresolved violations, by severity and rule", labels=["severity", "rule"]
        )
        rows = db.read(
            "counting violations",
            "SELECT severity, rule, COUNT(*) FROM violations WHERE state IN ('open', 'acknowledged') "
            "GROUP BY severity, rule",
        )
        for severity, rule, n in rows:
            open_v.add_metric([str(severity), str(rule)], int(n))
        yield open_v
        depth = GaugeMetricFamily(
            P + "alert_queue_depth", "Alerts waiting for delivery, by sink", labels=["sink"]
        )
        dead = GaugeMetricFamily(P + "alert_dead_letters", "Alerts given up on, by sink", labels=["sink"])
        counts: dict[tuple[str, str], int] = {
            (str(sink), str(state)): int(n)
            for sink, state, n in db.read(
                "counting alerts", "SELECT sink, state, COUNT(*) FROM alert_queue GROUP BY sink, state"
            )
        }
        for sink in sorted({x.name for x in self.service.sinks} | {k[0] for k in counts}):
            depth.add_metric([sink], counts.get((sink, "pending"), 0))
            dead.add_metric([sink], counts.get((sink, "dead"), 0))
        yield depth
        yield dead
        agents = GaugeMetricFamily(P + "agents", "Enrolled agents, by liveness", labels=["liveness"])
        now = datetime.now(UTC)
        silent_after = self.service.config.silent_after_s
        states: Counter[str] = Counter(
            liveness(row, now, silent_after) for row in self.service.store.agent_status()
        )
        for state in ("online", "silent", "offline", "never seen", "revoked"):
            agents.add_metric([state], states.get(state, 0))
        yield agents


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(P + name, help_text, value=value)


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(P + name, help_text, value=value)


def registry_for(service: CollectorService) -> tuple[CollectorRegistry, CollectorMetrics]:
    """A registry of its own (no process-global state), with the collector's series."""
    registry = CollectorRegistry(auto_describe=False)
    metrics = CollectorMetrics(service)
    registry.register(metrics)
    return registry, metrics
