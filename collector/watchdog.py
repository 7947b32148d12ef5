"""systemd's watchdog for the collector: WATCHDOG=1 only while every stage makes progress.

``WatchdogSec`` restarts a service that stops pinging; so the ping is the answer to "is every
stage (ingest, receipts, policy pass, control, alert worker) either idle or getting through its
work?". A stage that has held work past ``stall_after_s``, or whose thread ended, withholds it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

import structlog

from agent.runtime import sdnotify

log = structlog.get_logger(__name__)

# Ping at least this often even when systemd's timeout is long, so a restart is noticed quickly.
PING_MAX_S = 10.0


def ping_interval_s(environ: Mapping[str, str] | None = None) -> float:
    """Half of WatchdogSec (sd_watchdog_enabled(3)), at most ``PING_MAX_S``."""
    return min(PING_MAX_S, (sdnotify.watchdog_interval_s(environ) or 2 * PING_MAX_S) / 2)


def watch(
    stalled: Callable[[], list[str]],
    status: Callable[[], str],
    stop: threading.Event,
    *,
    interval_s: float,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Until ``stop``: every interval, ping if nothing is stalled, else say which stage is stuck."""
    withheld: list[str] = []
    while not stop.wait(interval_s):
        stuck = stalled()
        if stuck:
            if stuck != withheld:
                log.error("watchdog_withheld", stalled=stuck)
            sdnotify.notify_status(f"stalled: {', '.join(stuck)}", environ)
        else:
            if withheld:
                log.info("watchdog_resumed", was_stalled=withheld)
            sdnotify.notify_watchdog(environ)
            sdnotify.notify_status(status(), environ)
        withheld = stuck
