"""The agent's Prometheus metrics, read from the daemon at scrape time.

Imported only when ``[metrics] listen`` is set, and prometheus-client comes with the optional
``metrics`` extra: an agent without it has the five dependencies it always had.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from agent.wire.timefmt import parse_utc

if TYPE_CHECKING:
    from agent.daemon import AgentDaemon

P = "camsentry_agent_"
OUTCOMES = ("identified", "polled", "auth_failed", "unreachable")


class AgentMetrics(Collector):
    def __init__(self, daemon: AgentDaemon) -> None:
        self.daemon = daemon

    def collect(self) -> Iterator[Metric]:
        d = self.daemon
        stats = d.outbox.stats()
        yield GaugeMetricFamily(
            P + "outbox_depth", "Envelopes in the outbox (unsent or unconfirmed)", value=stats.depth
        )
        yield GaugeMetricFamily(P + "outbox_bytes", "Bytes of envelopes in the outbox", value=stats.bytes)
        yield GaugeMetricFamily(P + "unconfirmed", "Envelopes sent, not yet confirmed by a receipt",
                                value=d.outbox.unconfirmed())  # fmt: skip
        drops = CounterMetricFamily(
            P + "outbox_dropped", "Envelopes the full outbox dropped, by kind", labels=["kind"]
        )
        for kind, n in sorted(stats.dropped.items()):
            drops.add_metric([kind], n)
        yield drops
        refused = CounterMetricFamily(
            P + "outbox_refused", "Envelopes not stored (disk full), by kind", labels=["kind"]
        )
        for kind, n in sorted(stats.refused.items()):
            refused.add_metric([kind], n)
        yield refused
        c = d.publisher.counters
        yield CounterMetricFamily(P + "published", "Envelopes published", value=c.published)
        yield CounterMetricFamily(
            P + "receipts", "Signed receipts accepted from the collector", value=c.receipts
        )
        yield CounterMetricFamily(P + "confirmed", "Envelopes confirmed by receipts", value=c.confirmed)
        yield GaugeMetricFamily(
            P + "broker_connected", "1 while connected to the broker", value=float(d.publisher.connected)
        )
        last = parse_utc(c.last_publish_ts).timestamp() if c.last_publish_ts else 0.0
        yield GaugeMetricFamily(
            P + "last_publish_timestamp_seconds", "When an envelope was last published (0: never)", value=last
        )
        yield SummaryMetricFamily(
            P + "sweep_seconds", "Camera sweep duration", count_value=d.sweeps, sum_value=d.sweep_seconds
        )
        cameras = GaugeMetricFamily(
            P + "cameras", "Cameras in the last sweep, by outcome", labels=["outcome"]
        )
        for outcome in OUTCOMES:
            cameras.add_metric([outcome], d.camera_outcomes.get(outcome, 0))
        yield cameras
        egress = d.egress_stats()
        if egress is not None:
            events = CounterMetricFamily(
                P + "egress_events", "Egress observations, by source", labels=["source"]
            )
            events.add_metric(["conntrack"], egress.get("conntrack_events", 0))
            events.add_metric(["sockets"], egress.get("socket_flows", 0))
            yield events
            yield CounterMetricFamily(
                P + "egress_kernel_drops", "Times the kernel dropped conntrack events (ENOBUFS)",
                value=egress.get("kernel_drops", 0),
            )  # fmt: skip
            yield CounterMetricFamily(
                P + "egress_dropped",
                "Flow records dropped past the aggregation cap",
                value=egress.get("dropped", 0),
            )


def registry_for(daemon: AgentDaemon) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AgentMetrics(daemon))
    return registry
