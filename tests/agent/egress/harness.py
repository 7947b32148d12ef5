"""Runs an EgressWatcher (inside a test namespace) and prints JSON lines: ready, findings, health.

argv[1]: JSON of the ``[egress]`` table. Each stdin line is the params of a verified policy
push, applied through the agent's own hook (``EgressPolicy``) and answered with a ``policy``
line. Ends when stdin closes. Drains every DRAIN_S like the daemon does, only faster.
"""

from __future__ import annotations

import json
import sys
import threading

from agent.egress.config import parse_egress_config
from agent.egress.watcher import EgressWatcher
from agent.enforce.policy import EgressPolicy
from agent.runtime.errors import CamsentryError
from agent.runtime.logs import configure_logging

DRAIN_S = 0.2


OUT_LOCK = threading.Lock()  # the stdin thread answers pushes while the main thread drains


def emit(message: dict[str, object]) -> None:
    with OUT_LOCK:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def main() -> None:
    configure_logging("info", "json")
    config = parse_egress_config(json.loads(sys.argv[1]), "harness")
    watcher = EgressWatcher(config)
    stop = threading.Event()

    policy = EgressPolicy(watcher)

    def wait_stdin() -> None:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                result: dict[str, object] = {"outcome": policy(json.loads(line)).outcome.value}
            except (CamsentryError, ValueError) as exc:
                result = {"outcome": "refused", "detail": str(exc)}
            emit({"type": "policy", "result": result, "status": policy.status()})
        stop.set()

    threading.Thread(target=wait_stdin, daemon=True).start()
    watcher.start()
    emit({"type": "ready"})
    last_health: list[dict[str, object]] | None = None
    try:
        while not stop.wait(DRAIN_S):
            findings = [x.to_json() for x in watcher.drain_findings()]
            if findings:
                emit({"type": "findings", "items": findings})
            health = [x.to_json() for x in watcher.health()]
            if health != last_health:
                emit({"type": "health", "items": health})
                last_health = health
    finally:
        emit({"type": "stats", "stats": watcher.stats()})
        watcher.stop()


if __name__ == "__main__":
    main()
