"""The service's control thread: policy pushes and ack records that ingest hands over, and the
operator commands the CLI queued in the database, each sealed and sent on the service's session.

Ingest only puts small events on a bounded queue (dropping, counted, when it is full: every ack
is stored as an envelope anyway); this thread does the database work. It also records the
service's heartbeat so that a CLI can tell whether anyone will send what it queues.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.runtime.clock import Clock
from collector.cmdqueue import HEARTBEAT_S, POLL_S, CommandDispatcher, beat
from collector.heartbeat import Stage
from collector.policy.commanding import CommandIssuer
from collector.policy.model import Policy
from collector.policy.pushing import PolicyPusher, agent_holds
from collector.store import Store

log = structlog.get_logger(__name__)

MAX_CONTROL_EVENTS = 10_000


@dataclass(frozen=True)
class ControlEvent:
    what: str  # ack | birth | online | push_all
    site: str = ""
    agent: str = ""
    body: dict[str, Any] | None = None
    trigger: str = ""


class ControlLoop:
    def __init__(
        self,
        store: Store,
        key: Ed25519PrivateKey,
        publish: Callable[[str, bytes], None],
        clock: Clock,
        policy: Callable[[], Policy],
        *,
        command_lock: threading.Lock,
        name: str,
        stage: Stage | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        self._name = name
        self._poll_s = poll_s
        self.stage = stage or Stage("commands", clock)
        self.events: queue.Queue[ControlEvent | None] = queue.Queue(maxsize=MAX_CONTROL_EVENTS)
        self.dropped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._db = store.new_database()
        self.issuer = CommandIssuer(self._db, key, publish, clock=clock, lock=command_lock)
        self.pusher = PolicyPusher(self.issuer)
        self.dispatcher = CommandDispatcher(self._db, key, publish, clock=clock)
        self._next_beat = 0.0

    # -- called from other threads: hand over and return ---------------------------------

    def submit(self, event: ControlEvent) -> None:
        try:
            self.events.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("control_event_dropped", what=event.what, dropped=self.dropped)

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self._run, name="camsentry-control", daemon=True)
        self._thread.start()
        self.stage.watch(self._thread)
        return self._thread

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Full):  # the thread sees the stop flag within a poll anyway
            self.events.put_nowait(None)
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
        self._db.close()

    # -- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                event = self.events.get(timeout=self._poll_s)
            except queue.Empty:
                event = None
            with self.stage.working():
                while event is not None:
                    self._handle(event)
                    try:
                        event = self.events.get_nowait()
                    except queue.Empty:
                        event = None
                self._tick()

    def _tick(self) -> None:
        try:
            self.dispatcher.run_once()
            if self._clock.monotonic() >= self._next_beat:
                beat(self._db, self._name, self._clock)
                self._next_beat = self._clock.monotonic() + HEARTBEAT_S
        except Exception:  # the database is away: queued commands wait there, tried next tick
            log.exception("command_queue_failed")

    def _handle(self, event: ControlEvent) -> None:
        try:
            if event.what == "ack":
                self.issuer.record_ack(event.site, event.agent, event.body or {})
            elif event.what == "birth":
                holds = agent_holds(event.body or {}, self._policy().version)
                self._push(event.site, event.agent, "agent_birth", holds)
            elif event.what == "online":
                self._push(event.site, event.agent, "agent_online")
            elif event.what == "push_all":
                self._push_to_online_agents(event.trigger)
        except Exception:  # one bad event (or a database hiccup) must not end the thread
            log.exception("control_event_failed", what=event.what, site=event.site, agent=event.agent)

    def _push(self, site: str, agent: str, trigger: str, holds: bool | None = None) -> None:
        self.pusher.push(self._policy(), site, agent, trigger=trigger, holds=holds)

    def _push_to_online_agents(self, trigger: str) -> None:
        """Each enrolled agent whose last status is online; the others get it when they return."""
        for row in self._store.agent_status():
            if not row.get("revoked_at") and row.get("state") == "online":
                try:
                    self._push(str(row["site"]), str(row["agent"]), trigger)
                except Exception:
                    log.exception("policy_push_failed", site=row["site"], agent=row["agent"], trigger=trigger)
