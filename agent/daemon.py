"""The agent's main loop: sweeps cameras, emits telemetry, drains the outbox, writes its status.

One thread owns all state. The MQTT link and the sweep worker only put events on
``self._events``; the loop takes them off in order, so nothing here needs a lock.
"""

from __future__ import annotations

import os
import queue
import secrets
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent import __version__
from agent.clockwatch import ClockWatch
from agent.config import AgentConfig
from agent.outbox import Outbox
from agent.publisher import Publisher
from agent.runtime.clock import Clock, SystemClock
from agent.runtime.mqtt import LinkEvent, MqttLink
from agent.runtime.statusfile import write_json_atomic
from agent.wire.envelope import Kind
from agent.wire.findings import FindingKind
from agent.wire.flows import FlowFinding, flow_body
from agent.wire.health import Degradation, DiscoveryProblem, HealthBody, OutboxHealth, SweepSummary
from agent.wire.inventory import DeviceRecord, inventory_body, record_fingerprint
from agent.wire.lifecycle import AgentState, BirthBody, Capabilities
from agent.wire.signing import public_key_from_text
from agent.wire.timefmt import format_utc
from agent.wire.topics import topic

log = structlog.get_logger("camsentry.agent")

SweepFn = Callable[[], Sequence[DeviceRecord]]
FAST_TICK_S = 0.005
STATUS_WRITE_INTERVAL_S = 2.0
MAX_EVENTS_PER_TICK = 1000
# Flow findings are already aggregated and rate-limited by the watcher; this only batches them.
FLOW_DRAIN_INTERVAL_S = 2.0


@dataclass(frozen=True)
class SweepDone:
    records: Sequence[DeviceRecord]
    duration_s: float
    error: str | None = None
    problems: tuple[DiscoveryProblem, ...] = ()  # discovery problems the sweep worked around


@dataclass(frozen=True)
class Stop:
    reason: str


@dataclass(frozen=True)
class CommandReceived:
    payload: bytes


class CommandSink(Protocol):
    def handle(self, payload: bytes) -> dict[str, Any]: ...


class EgressSource(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def drain_findings(self) -> list[FlowFinding]: ...
    def health(self) -> list[Degradation]: ...
    def stats(self) -> dict[str, int]: ...
    def kernel_drops(self) -> int: ...


class PolicyStatus(Protocol):
    """The pushed policy as the agent holds it (``agent.enforce.policy.EgressPolicy``)."""

    def status(self) -> dict[str, Any]: ...


# Told each sweep's records (``agent.egress.devices.DeviceDirectory.update``), so flow findings
# name the camera behind an address.
InventoryListener = Callable[[Sequence[DeviceRecord]], None]


class AgentDaemon:
    def __init__(
        self,
        config: AgentConfig,
        key: Ed25519PrivateKey,
        *,
        sweep: SweepFn,
        sweep_health: Callable[[], Sequence[DiscoveryProblem]] | None = None,
        clock: Clock | None = None,
        link_factory: Callable[..., MqttLink] = MqttLink,
        notify: Callable[[str], object] = lambda _state: None,
        commands: CommandSink | None = None,
        egress: EgressSource | None = None,
        devices: InventoryListener | None = None,
        policy: PolicyStatus | None = None,
        capabilities: Callable[[], Capabilities] | None = None,
    ) -> None:
        self.config = config
        self._capabilities = capabilities
        self._clock = clock or SystemClock()
        self._sweep = sweep
        self._sweep_health = sweep_health
        self._notify = notify
        self._events: queue.Queue[LinkEvent | SweepDone | Stop | CommandReceived] = queue.Queue()
        self._commands = commands
        self._egress = egress
        self._devices = devices
        self._policy = policy
        self.outbox = Outbox(
            config.outbox_path,
            clock=self._clock,
            max_messages=config.delivery.outbox_max_messages,
            max_bytes=config.delivery.outbox_max_bytes,
            synchronous=config.delivery.outbox_sync,
        )
        self.publisher = Publisher(
            site=config.site,
            agent=config.agent,
            key=key,
            collector_key=public_key_from_text(config.collector_public_key),
            outbox=self.outbox,
            delivery=config.delivery,
            clock=self._clock,
            on_command=lambda payload: self._events.put(CommandReceived(payload)),
        )
        self.link = link_factory(
            config.mqtt,
            self._events.put,
            subscriptions=self.publisher.subscriptions(),
            will_factory=self.publisher.will,
        )
        self.publisher.link = self.link
        self._fingerprints: dict[str, str] = {}
        self._sweeping = False
        self._last_sweep: SweepSummary | None = None
        self._clock_watch = ClockWatch(self._clock)
        # For /metrics (agent.metrics): sweeps, their time, the last sweep's cameras by outcome.
        self.sweeps = 0
        self.sweep_seconds = 0.0
        self.camera_outcomes: dict[str, int] = {}
        self._errors: list[str] = []
        self._stopped = threading.Event()
        self.receive_failures = 0
        self._disk_full_notified = False
        self._status_write_failed = False

    def stop(self, reason: str = "requested") -> None:
        self._events.put(Stop(reason))

    def wait_stopped(self, timeout_s: float) -> bool:
        return self._stopped.wait(timeout_s)

    def run(self) -> None:
        log.info(
            "agent_starting",
            site=self.config.site,
            agent=self.config.agent,
            boot=self.publisher.boot,
        )
        for warning in self.config.warnings:
            log.warning("config_warning", problem=warning)
        now = self._clock.monotonic
        self.publisher.emit(Kind.BIRTH, self._birth_body())
        self.link.start()
        if self._egress is not None:
            self._egress.start()  # a missing conntrack becomes a health finding, not an exception
        next_flows = now() + FLOW_DRAIN_INTERVAL_S
        next_sweep = now()
        next_snapshot = now() + self.config.polling.snapshot_interval_s
        next_health = now() + self.config.health_interval_s
        next_status = now()
        more_due = False
        self._notify("READY=1")
        try:
            while True:
                timeout = (
                    FAST_TICK_S if more_due else max(0.0, min(next_sweep, next_health, next_status) - now())
                )
                events = self._take_events(min(timeout, 1.0))
                stop = next((e for e in events if isinstance(e, Stop)), None)
                if stop is not None:
                    log.info("agent_stopping", reason=stop.reason)
                    break
                for event in events:
                    if isinstance(event, CommandReceived):
                        self._received(self._on_command, event.payload)
                    elif isinstance(event, SweepDone):
                        snapshot = now() >= next_snapshot
                        if snapshot:
                            next_snapshot = now() + self.config.polling.snapshot_interval_s
                        self._on_sweep(event, snapshot=snapshot)
                    elif not isinstance(event, Stop):
                        self._received(self.publisher.handle, event)
                if not self._sweeping and now() >= next_sweep:
                    next_sweep = now() + self.config.polling.interval_s
                    self._start_sweep()
                if self._egress is not None and now() >= next_flows:
                    next_flows = now() + FLOW_DRAIN_INTERVAL_S
                    findings = self._egress.drain_findings()
                    if findings:
                        self.publisher.emit_many(Kind.FLOW, [flow_body(f) for f in findings])
                if now() >= next_health:
                    next_health = now() + self.config.health_interval_s
                    self._emit_health()
                more_due = self.publisher.pump()
                if now() >= next_status:
                    next_status = now() + STATUS_WRITE_INTERVAL_S
                    self._write_status()
                    self._notify_storage()
                    self._notify("WATCHDOG=1")
        finally:
            self._notify("STOPPING=1")
            if self._egress is not None:
                self._egress.stop()
            self.link.stop(
                final=(
                    topic(self.config.site, self.config.agent, Kind.STATUS.value),
                    self.publisher.status_payload(AgentState.OFFLINE, "agent stopped"),
                    True,
                )
            )
            self.publisher.connected = False
            self.publisher.emit_pending()  # a sweep's queued bodies reach the outbox before it closes
            self._write_status()
            self.outbox.close()
            self._stopped.set()

    def _emit_health(self) -> None:
        body = self.health_body()
        self.publisher.emit(Kind.HEALTH, body)
        if self.outbox.disk_full:
            # The outbox refused it: say so to the centre directly (not durable, but seen).
            self.publisher.publish_now(Kind.HEALTH, body)

    def _notify_storage(self) -> None:
        """sd_notify STATUS= on each change of the disk-full state (systemctl status shows it)."""
        full = self.outbox.disk_full
        if full == self._disk_full_notified:
            return
        self._disk_full_notified = full
        if full:
            refused = sum(self.outbox.stats().refused.values())
            self._notify(f"STATUS=disk full: keeping the outbox, refusing new evidence ({refused} so far)")
        else:
            self._notify("STATUS=running")

    def _received(self, handler: Callable[[Any], None], event: object) -> None:
        """Nothing received ends the loop: a parser gap is counted and logged, loudly once."""
        try:
            handler(event)
        except Exception as exc:
            self.receive_failures += 1
            if self.receive_failures == 1:
                log.exception("received_message_failed", handler=getattr(handler, "__name__", "?"))
            else:
                log.debug("received_message_failed", error=repr(exc)[:200], count=self.receive_failures)

    def _on_command(self, payload: bytes) -> None:
        if self._commands is None:
            return
        ack = self._commands.handle(payload)  # never raises for what a peer sends
        self.publisher.emit(Kind.ACK, ack)

    def _take_events(self, timeout_s: float) -> list[LinkEvent | SweepDone | Stop | CommandReceived]:
        """Wait for one event, then take whatever else is already queued (PUBACKs come in bursts)."""
        try:
            events = [self._events.get(timeout=timeout_s)]
        except queue.Empty:
            return []
        while len(events) < MAX_EVENTS_PER_TICK:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                break
        return events

    def _start_sweep(self) -> None:
        self._sweeping = True
        started = self._clock.monotonic()

        def work() -> None:
            try:
                records = self._sweep()
                problems = tuple(self._sweep_health()) if self._sweep_health is not None else ()
                self._events.put(SweepDone(records, self._clock.monotonic() - started, problems=problems))
            except Exception as exc:  # a sweep bug must not kill the agent; it is reported
                log.exception("sweep_failed")
                self._events.put(SweepDone([], self._clock.monotonic() - started, repr(exc)))

        threading.Thread(target=work, name="camsentry-sweep", daemon=True).start()

    def _on_sweep(self, done: SweepDone, *, snapshot: bool) -> None:
        self._sweeping = False
        sweep_id = secrets.token_hex(6)
        bodies = []
        for record in done.records:
            key = record.key
            fingerprint = record_fingerprint(record)
            if snapshot or self._fingerprints.get(key) != fingerprint:
                bodies.append(inventory_body(record, sweep=sweep_id, snapshot=snapshot))
            self._fingerprints[key] = fingerprint
        if bodies:
            self.publisher.emit_later(Kind.INVENTORY, bodies)
        if self._devices is not None:
            self._devices(done.records)
        if done.error:
            self._errors = [*self._errors[-9:], done.error]
        self._last_sweep = SweepSummary(
            id=sweep_id,
            devices=len(done.records),
            sent=len(bodies),
            duration_s=round(done.duration_s, 3),
            error=done.error,
            discovery_problems=done.problems,
        )
        self.sweeps += 1
        self.sweep_seconds += done.duration_s
        self.camera_outcomes = camera_outcomes(done.records)
        # The sweep itself logs sweep_done (cameras, reachable, time); this is what was recorded.
        log.info("sweep_recorded", **self._last_sweep.to_json())

    def _birth_body(self) -> dict[str, Any]:
        return BirthBody(
            version=__version__,
            boot=self.publisher.boot,
            started_at=format_utc(self._clock.now()),
            host=socket.gethostname(),
            pid=os.getpid(),
            cameras_configured=len(self.config.cameras),
            # Which pushed policy this agent holds, so the collector pushes again if it differs.
            policy_version=self._policy.status()["policy_version"] if self._policy else None,
            policy_said=self._policy is not None,
            capabilities=self._capabilities() if self._capabilities else None,
        ).to_body()

    def egress_stats(self) -> dict[str, int] | None:
        """The egress watcher's counters (events, drops), None without an egress watch."""
        if self._egress is None:
            return None
        return {**self._egress.stats(), "kernel_drops": self._egress.kernel_drops()}

    def health_body(self) -> dict[str, Any]:
        stats = self.outbox.stats()
        return HealthBody(
            outbox=OutboxHealth(
                stats.depth,
                stats.bytes,
                stats.unsent,
                dict(stats.dropped),
                disk_full=stats.disk_full,
                refused=dict(stats.refused),
            ),
            connected=self.publisher.connected,
            last_sweep=self._last_sweep,
            errors=tuple(self._errors[-10:]),
            degradations=tuple(self._egress.health()) if self._egress is not None else (),
            clock=self._clock_watch.check(),
            publisher=asdict(self.publisher.counters),
            policy=self._policy.status() if self._policy is not None else None,
            enforcement=self._capabilities().enforcement if self._capabilities else None,
        ).to_body()

    def _write_status(self) -> None:
        status = {
            "site": self.config.site,
            "agent": self.config.agent,
            "boot": self.publisher.boot,
            "pid": os.getpid(),
            "updated": format_utc(self._clock.now()),
            "config_warnings": list(self.config.warnings),
            **self.health_body(),
        }
        try:
            write_json_atomic(self.config.status_path, status)
        except OSError as exc:
            if not self._status_write_failed:
                log.error("status_write_failed", path=str(self.config.status_path), error=str(exc))
            self._status_write_failed = True
            return
        if self._status_write_failed:
            log.info("status_write_ok", path=str(self.config.status_path))
        self._status_write_failed = False


def camera_outcomes(records: Sequence[DeviceRecord]) -> dict[str, int]:
    """The last sweep's cameras by outcome: unreachable, auth_failed, identified, polled."""
    out: dict[str, int] = {}
    for record in records:
        kinds = {f.kind for f in record.findings}
        if not record.reachable:
            outcome = "unreachable"
        elif FindingKind.AUTH_FAILED in kinds:
            outcome = "auth_failed"
        elif record.maker:
            outcome = "identified"
        else:
            outcome = "polled"
        out[outcome] = out.get(outcome, 0) + 1
    return out
