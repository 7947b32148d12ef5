"""Run a real agent process with a synthetic producer, for tests that kill it.

Usage: python -m tests.support.agent_proc CONFIG.toml DEVICES
Reports DEVICES new devices on its first sweep and none after.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from agent.config import load_agent_config
from agent.daemon import AgentDaemon
from agent.wire.inventory import DeviceRecord
from agent.wire.signing import load_private_key


def main() -> None:
    config = load_agent_config(Path(sys.argv[1]))
    devices = int(sys.argv[2])
    batches = [[DeviceRecord("198.51.100.2", i, serial=f"S{i}") for i in range(1, devices + 1)]]

    def sweep() -> list[DeviceRecord]:
        return batches.pop() if batches else []

    daemon = AgentDaemon(config, load_private_key(config.key_path), sweep=sweep)
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop("SIGTERM"))
    print("started", flush=True)
    daemon.run()


if __name__ == "__main__":
    main()
