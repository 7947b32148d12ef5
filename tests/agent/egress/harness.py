"""Runs an EgressWatcher (inside a test namespace) and prints JSON lines: ready, findings, health.

argv[1]: JSON of the ``[egress]`` table. Ends when stdin closes. Drains every DRAIN_S like the
daemon does, only faster.
"""

from __future__ import annotations

import json
import sys
import threading

from agent.egress.config import parse_egress_config
from agent.egress.watcher import EgressWatcher
from agent.logs import configure_logging

DRAIN_S = 0.2


def main() -> None:
    configure_logging("info", "json")
    config = parse_egress_config(json.loads(sys.argv[1]), "harness")
    watcher = EgressWatcher(config)
    stop = threading.Event()

    def wait_stdin() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait_stdin, daemon=True).start()
    watcher.start()
    print(json.dumps({"type": "ready"}), flush=True)
    last_health: list[dict[str, object]] | None = None
    try:
        while not stop.wait(DRAIN_S):
            findings = watcher.drain_findings()
            if findings:
                print(json.dumps({"type": "findings", "items": findings}), flush=True)
            health = watcher.health()
            if health != last_health:
                print(json.dumps({"type": "health", "items": health}), flush=True)
                last_health = health
    finally:
        print(json.dumps({"type": "stats", "stats": watcher.stats()}), flush=True)
        watcher.stop()


if __name__ == "__main__":
    main()
