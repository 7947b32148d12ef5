"""The policy pass on its own thread: every ``evaluate_interval_s``, and at once after a reload.

It has its own database connection (the violation store commits in its own transactions) and
hands alerts to the durable queue; nothing it does waits on a sink, and ingest never waits on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.runtime.clock import Clock
from collector.alerts.enqueue import AlertEnqueuer
from collector.alerts.queue import AlertQueue
from collector.config import CollectorConfig
from collector.heartbeat import Stage
from collector.judge.centre import CentreJudge
from collector.policy.commanding import CommandIssuer
from collector.policy.runner import PassResult, PolicyRunner
from collector.reports.snapshots import DailySnapshots
from collector.store import Store
from collector.store.retention import Retention
from collector.violations import ViolationStore

log = structlog.get_logger(__name__)


class PolicyLoop:
    def __init__(
        self,
        config: CollectorConfig,
        store: Store,
        key: Ed25519PrivateKey,
        clock: Clock,
        publish: Callable[[str, bytes], None],
        *,
        sinks: list[str],
        wake_alerts: Callable[[], None],
        command_lock: threading.Lock,
        on_reloaded: Callable[[], None],
        stage: Stage | None = None,
    ) -> None:
        self._clock = clock
        self._interval = config.evaluate_interval_s
        self._on_reloaded = on_reloaded
        self.stage = stage or Stage("policy", clock)
        self.wake = threading.Event()
        self.reload_requested = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Its own connection, so its transactions never wait on the ingest thread's lock.
        self._db = store.new_database()
        violations = ViolationStore(self._db, clock=clock)
        self.issuer = CommandIssuer(self._db, key, publish, clock=clock, lock=command_lock)
        self.alerts = AlertEnqueuer(
            AlertQueue(self._db, clock=clock),
            sinks,
            clock=clock,
            min_severity=config.alerts.min_severity,
            wake=wake_alerts,
        )
        self.runner = PolicyRunner(
            store,
            violations,
            clock=clock,
            policy_path=config.policy_path,
            alerter=self.alerts,
            issuer=self.issuer,
            judge=CentreJudge(self._db, clock=clock),  # the centre judges again (collector.judge)
        )
        self.retention = Retention(self._db, clock, days=config.retain_envelopes_days)
        self._store = store
        self.daily = DailySnapshots(self._db, clock)  # the removal plan's history
        self.passes = 0
        self.failures = 0
        self.last_duration_s = 0.0
        self.total_duration_s = 0.0
        self.on_pass: Callable[[PassResult, float], None] = lambda _r, _d: None

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self._run, name="camsentry-policy", daemon=True)
        self._thread.start()
        self.stage.watch(self._thread)
        return self._thread

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
        self._db.close()

    def request_reload(self) -> None:
        self.reload_requested.set()
        self.wake.set()

    def _run(self) -> None:
        next_pass = self._clock.monotonic()
        while not self._stop.is_set():
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self._reload()
                next_pass = self._clock.monotonic()
            if self._clock.monotonic() >= next_pass:
                next_pass = self._clock.monotonic() + self._interval
                self.run_pass()
                self.prune()
            self.wake.wait(max(0.0, next_pass - self._clock.monotonic()))
            self.wake.clear()

    def _reload(self) -> None:
        before = self.runner.policy.version
        with self.stage.working():
            policy = self.runner.reload()  # logs policy_reloaded or policy_reload_failed itself
        if policy.version != before:
            self._on_reloaded()

    def prune(self) -> None:
        """Retention, on its own interval (collector.store.retention), after a pass."""

        def chunk_done() -> None:  # each chunk is progress: a long first prune is not a stall
            self.stage.done()
            self.stage.begin()

        try:
            with self.stage.working():
                self.retention.tick(progress=chunk_done)
        except Exception:  # the database may be away: pruning waits for its next interval
            log.exception("pruning_failed")

    def run_pass(self) -> None:
        started = time.perf_counter()
        try:
            with self.stage.working():
                result = self.runner.run_once()
        except Exception:  # a policy bug or a database hiccup: logged, tried again next interval
            self.failures += 1
            log.exception("policy_pass_failed")
            return
        self.last_duration_s = time.perf_counter() - started
        self.total_duration_s += self.last_duration_s
        self.passes += 1
        self.on_pass(result, self.last_duration_s)
        try:
            self.daily.after_pass(self._store, self.runner.policy)
        except Exception:  # a missed snapshot is a gap in the history, retried next pass
            log.exception("removal_snapshot_failed")
