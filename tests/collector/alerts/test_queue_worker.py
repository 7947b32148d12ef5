"""The durable alert queue and its worker on SQLite and PostgreSQL: delivery, retries with capped
backoff, dead letters, a storm folded into one digest, and rows that survive a restart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from collector.alerts.config import AlertSettings
from collector.alerts.enqueue import AlertEnqueuer
from collector.alerts.queue import AlertQueue
from collector.alerts.sinks import DeliveryError
from collector.alerts.worker import AlertWorker, backoff_s
from collector.store import Store, open_store
from collector.store.transaction import Database
from tests.support.alerting import T0, alert
from tests.support.clock import FakeClock


@dataclass
class Recorder:
    name: str = "webhook"
    rate_limited: bool = True
    fail: bool = False
    got: list[dict[str, Any]] = field(default_factory=list)
    tries: int = 0

    def deliver(self, document: dict[str, Any]) -> None:
        self.tries += 1
        if self.fail:
            raise DeliveryError("webhook: connection refused")
        self.got.append(document)


@dataclass
class Env:
    store: Store
    db: Database
    clock: FakeClock
    queue: AlertQueue


@pytest.fixture
def env(database_url: str) -> Iterator[Env]:
    store = open_store(database_url, migrate=True)
    db = store.new_database()
    clock = FakeClock(T0)
    try:
        yield Env(store, db, clock, AlertQueue(db, clock=clock))
    finally:
        db.close()
        store.close()


def worker(env: Env, *sinks: Recorder, **settings: Any) -> AlertWorker:
    return AlertWorker(env.queue, list(sinks), AlertSettings(**settings), clock=env.clock)


def test_alerts_are_delivered_once_each_and_repeats_dropped(env: Env) -> None:
    hook, mqtt = Recorder(), Recorder(name="mqtt", rate_limited=False)
    woken: list[bool] = []
    outlet = AlertEnqueuer(env.queue, ["webhook", "mqtt"], clock=env.clock, wake=lambda: woken.append(True))
    assert outlet.send([alert("V-1"), alert("V-1"), alert("V-2")]) == 2
    assert outlet.deduplicated == 1 and woken == [True]
    assert env.queue.depth() == {"webhook": 2, "mqtt": 2}
    w = worker(env, hook, mqtt)
    assert w.run_once() == 4
    assert [d["violation"] for d in hook.got] == ["V-1", "V-2"] == [d["violation"] for d in mqtt.got]
    assert hook.got[0]["evidence"] == [{"agent": "a1", "boot": "b", "seq": 3}]
    assert env.queue.depth() == {}
    assert w.run_once() == 0  # nothing is sent twice


def test_failures_back_off_exponentially_then_dead_letter(env: Env) -> None:
    hook = Recorder(fail=True)
    outlet = AlertEnqueuer(env.queue, ["webhook"], clock=env.clock)
    outlet.send([alert("V-1")])
    w = worker(env, hook, max_attempts=4, backoff_initial_s=5.0, backoff_max_s=12.0)
    assert w.run_once() == 0 and hook.tries == 1
    delays = []
    for tries in (2, 3, 4):
        waited = 0.0
        while hook.tries < tries:
            env.clock.advance(1.0)
            waited += 1.0
            w.run_once()
        delays.append(waited)
    assert delays == [5.0, 10.0, 12.0]  # doubling, capped
    assert [backoff_s(n, 5.0, 12.0) for n in (1, 2, 3, 9)] == [5.0, 10.0, 12.0, 12.0]
    assert env.queue.dead_letters() == {"webhook": 1} and env.queue.depth() == {}
    assert w.stats.dead["webhook"] == 1 and w.stats.failures["webhook"] == 4
    env.clock.advance(600)
    assert w.run_once() == 0 and hook.tries == 4  # a dead letter is never tried again


def test_a_failing_sink_ends_its_round_and_others_still_deliver(env: Env) -> None:
    hook, mail = Recorder(fail=True), Recorder(name="smtp")
    AlertEnqueuer(env.queue, ["webhook", "smtp"], clock=env.clock).send([alert("V-1"), alert("V-2")])
    w = worker(env, hook, mail)
    assert w.run_once() == 2
    assert hook.tries == 1  # one timeout per round for a dead sink, not one per alert
    assert [d["violation"] for d in mail.got] == ["V-1", "V-2"]
    hook.fail = False
    env.clock.advance(5.0)
    assert w.run_once() == 2
    assert [d["violation"] for d in hook.got] == ["V-1", "V-2"]


def test_a_storm_becomes_one_digest_by_rule_and_site(env: Env) -> None:
    hook, mqtt = Recorder(), Recorder(name="mqtt", rate_limited=False)
    outlet = AlertEnqueuer(env.queue, ["webhook", "mqtt"], clock=env.clock)
    rules = ["vulnerable_firmware", "unexpected_egress", "unexpected_egress", "unexpected_egress"]
    storm = [alert(f"V-{i}", site=f"site{i % 3}", rule=rules[i % 4]) for i in range(40)]
    outlet.send(storm)
    w = worker(env, hook, mqtt, max_per_minute=10)
    w.run_once()
    [digest] = hook.got
    assert digest["event"] == "digest" and digest["count"] == 40 and digest["opened"] == 40
    assert digest["by_site"] == {"site0": 14, "site1": 13, "site2": 13}
    assert digest["by_rule"] == {"unexpected_egress": 30, "vulnerable_firmware": 10}
    assert digest["see"] == f"camsentry-collector violations --state open --since {digest['since']}"
    assert len(mqtt.got) == 40  # the machine feed is not digested
    assert env.queue.depth() == {} and w.stats.digests["webhook"] == 1
    # Under the rate again: single alerts, not digests.
    outlet.send([alert("V-after")])
    w.run_once()
    assert hook.got[-1]["violation"] == "V-after"


def test_rows_wait_in_the_database_for_the_next_process(env: Env) -> None:
    AlertEnqueuer(env.queue, ["webhook"], clock=env.clock).send([alert("V-1")])
    # A new connection, as after a restart, finds the row and delivers it.
    db = env.store.new_database()
    try:
        hook = Recorder()
        later = AlertWorker(AlertQueue(db, clock=env.clock), [hook], AlertSettings(), clock=env.clock)
        assert later.run_once() == 1
        assert hook.got[0]["violation"] == "V-1"
    finally:
        db.close()
