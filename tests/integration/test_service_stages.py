"""The collector's stages under a real broker: a webhook that accepts and never answers holds up
nothing (envelopes keep being stored, the policy keeps passing, the watchdog keeps pinging), a
stage that is really stuck stops the pings, and an idle healthy service keeps pinging."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from collector import watchdog
from collector.alerts.config import AlertSettings, WebhookSettings
from collector.service import CollectorService
from tests.support.fakeagent import FakeAgent
from tests.support.mosquitto import Broker
from tests.support.pipeline import running_collector, wait_until
from tests.support.rawmqtt import raw_client

POLICY = '[sites.hq]\nclass = "sensitive"\n'
RECV_S = 5.0
PING_S = 0.05


@contextmanager
def silent_webhook() -> Iterator[tuple[str, threading.Event]]:
    """Accepts connections, reads nothing, answers nothing."""
    accepted = threading.Event()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        held: list[socket.socket] = []

        def accept() -> None:
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                held.append(conn)
                accepted.set()

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.getsockname()[1]}/hook", accepted
        finally:
            server.shutdown(socket.SHUT_RDWR)
            for conn in held:
                conn.close()


@contextmanager
def pinged(service: CollectorService, tmp_path: Path) -> Iterator[socket.socket]:
    """The service's watchdog loop as `camsentry-collector run` runs it, pinging a test socket."""
    address = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(address))
        sock.settimeout(RECV_S)
        stop = threading.Event()
        thread = threading.Thread(
            target=watchdog.watch,
            args=(service.stalled, lambda: "ok", stop),
            kwargs={"interval_s": PING_S, "environ": {"NOTIFY_SOCKET": str(address)}},
            daemon=True,
        )
        thread.start()
        try:
            yield sock
        finally:
            stop.set()
            thread.join(5)


def next_ping(sock: socket.socket) -> bytes:
    """The next datagram that is a ping or a stall status (skipping 'ok' statuses)."""
    while True:
        data = sock.recv(4096)
        if data != b"STATUS=ok":
            return data


def test_a_webhook_that_never_answers_holds_up_nothing(broker: Broker, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    with silent_webhook() as (url, accepted):
        alerts = AlertSettings(
            webhook=WebhookSettings(url=url, secret=b"k", timeout_s=3.0), max_per_minute=1000
        )
        with (
            running_collector(
                broker,
                tmp_path / "c",
                policy_path=policy,
                evaluate_interval_s=1.0,
                alerts=alerts,
                stall_after_s=30.0,
            ) as col,
            raw_client(broker, "fake-agent") as (client, _),
            pinged(col.service, tmp_path) as pings,
        ):
            agent = FakeAgent(col.store)
            agent.inventory(client, 1, 5)
            assert accepted.wait(15), "the webhook was never called"
            # The worker is now inside a POST that will not be answered; ingest carries on.
            passes = col.service.policy.passes
            agent.inventory(client, 6, 40)
            wait_until(lambda: col.store.count_envelopes("inventory") == 45, 15, "all 45 envelopes stored")
            wait_until(
                lambda: col.service.policy.passes > passes, 15, "a policy pass while the webhook hangs"
            )
            assert col.service.alert_worker.stage.stalled_for() > 0  # it really is waiting on the POST
            assert next_ping(pings) == b"WATCHDOG=1"
            assert col.service.stalled() == []
            # The timeout ends the attempt: counted, rescheduled, nothing lost.
            wait_until(
                lambda: col.service.alert_worker.stats.failures["webhook"] >= 1, 15, "a failed attempt"
            )
            assert sum(col.service.alert_worker.queue.depth().values()) > 0


class StuckSink:
    name = "webhook"
    rate_limited = True

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def deliver(self, document: dict[str, Any]) -> None:
        self.entered.set()
        self.release.wait(30)


def test_a_stuck_stage_stops_the_pings_and_a_recovered_one_resumes(broker: Broker, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    sink = StuckSink()
    with (
        ExitStack() as stack,
        running_collector(
            broker,
            tmp_path / "c",
            policy_path=policy,
            evaluate_interval_s=1.0,
            stall_after_s=2.0,
            sinks=[sink],
        ) as col,
        raw_client(broker, "fake-agent") as (client, _),
    ):
        # The first pass loads the judging tables: on a busy machine that alone takes a while.
        wait_until(lambda: col.service.policy.passes >= 1, 30, "the first policy pass")
        pings = stack.enter_context(pinged(col.service, tmp_path))
        assert next_ping(pings) == b"WATCHDOG=1"
        FakeAgent(col.store).inventory(client, 1, 1)
        assert sink.entered.wait(15)
        while (data := next_ping(pings)) == b"WATCHDOG=1":
            pass
        assert data == b"STATUS=stalled: alerts"
        # While it is stuck no ping goes out, however many intervals pass.
        for _ in range(5):
            assert next_ping(pings) == b"STATUS=stalled: alerts"
        sink.release.set()
        assert next_ping(pings) == b"WATCHDOG=1"


def test_an_idle_healthy_service_keeps_pinging(broker: Broker, tmp_path: Path) -> None:
    with running_collector(broker, tmp_path / "c", stall_after_s=1.0) as col:
        wait_until(lambda: col.service.policy.passes >= 1, 30, "the first policy pass")
        with pinged(col.service, tmp_path) as pings:
            for _ in range(40):  # 40 intervals, 2 stall limits: idle is not stuck
                assert next_ping(pings) == b"WATCHDOG=1"
