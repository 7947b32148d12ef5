"""The daemon's sweep: configured targets, then WS-Discovery's, then the recorders' channels.

Each call is one sweep:

1. Resolve the chosen interfaces (a DHCP lease may have moved since the last sweep) and probe:
   multicast from each interface address, unicast to each configured range.
2. Poll configured and discovered targets (a configured address wins and keeps its credentials).
3. Second pass, in the same sweep: channels that recorders reported in step 2 and that nobody
   polled, inside the site scope, at most ``MAX_CHANNEL_TARGETS``. Channels reported in this pass
   are not followed again (one level, so a recorder naming recorders cannot chain the sweep).
   In the same sweep rather than the next so that every inventory is complete on its own and a
   channel a recorder drops disappears with the next sweep, with no state carried between sweeps.

A discovery failure (no such interface, EPERM, a probe that raises) becomes a health item and a
log line; the configured cameras are polled whatever discovery does.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog

from agent.onvif.discovery import Discovered, ProbeReport, WsDiscovery
from agent.onvif.sources import (
    MAX_CHANNEL_TARGETS,
    AddressMap,
    DiscoverySettings,
    LocalInterface,
    SiteScope,
    follow_channels,
    merge_targets,
    resolve_interfaces,
    system_interface_addresses,
)
from agent.onvif.targets import CameraTarget
from agent.wire.health import DiscoveryProblem
from agent.wire.inventory import DeviceRecord

log = structlog.get_logger("agent.onvif.sitesweep")

MAX_HEALTH_ITEMS = 32  # problems kept per sweep; the rest only logged
_HINTS = {
    errno.EPERM: " (a local firewall rule refused the datagram?)",
    errno.EACCES: " (a broadcast address in a unicast range?)",
    errno.EADDRNOTAVAIL: " (the address left the interface?)",
}


class TargetSweeper(Protocol):
    def sweep(self, targets: Sequence[CameraTarget]) -> list[DeviceRecord]: ...


class Prober(Protocol):
    def probe_report(self, *, interfaces: Sequence[str] = (), unicast: Sequence[str] = ()) -> ProbeReport: ...


class SiteSweep:
    """Callable with no arguments returning device records (``agent.daemon.SweepFn``)."""

    def __init__(
        self,
        sweeper: TargetSweeper,
        configured: Sequence[CameraTarget],
        settings: DiscoverySettings,
        *,
        discovery: Prober | None = None,
        interface_addresses: Callable[[], AddressMap] = system_interface_addresses,
        max_channel_targets: int = MAX_CHANNEL_TARGETS,
    ) -> None:
        self.sweeper = sweeper
        self.configured = tuple(configured)
        self.settings = settings
        self._discovery: Prober = discovery or WsDiscovery(wait_s=settings.wait_s)
        self._interface_addresses = interface_addresses
        self._max_channels = max_channel_targets
        self._health: list[DiscoveryProblem] = []  # swapped whole, so health() never sees a partial sweep
        self._pending: list[DiscoveryProblem] = []
        self._seen_problems: set[str] = set()

    def health(self) -> list[DiscoveryProblem]:
        """The last sweep's discovery problems: ``{source, problem, detail}`` each."""
        return list(self._health)

    def __call__(self) -> list[DeviceRecord]:
        self._pending = []
        try:
            return self._sweep()
        finally:
            self._health = self._pending

    def _sweep(self) -> list[DeviceRecord]:
        scope, found = self._discover()
        targets = merge_targets(
            self.configured,
            [d for d in found if d.address in scope],
            username=self.settings.username,
            password=self.settings.password,
        )
        outside = len(found) - sum(1 for d in found if d.address in scope)
        if outside:
            self._problem("answer_outside_scope", f"{outside} WS-Discovery answers from outside the scope")
        records = self.sweeper.sweep(targets)
        if not self.settings.follow_recorder_channels:
            return records
        extra, skipped = follow_channels(
            records,
            known=(t.address for t in targets),
            in_scope=lambda host: host in scope,
            username=self.settings.username,
            password=self.settings.password,
            limit=self._max_channels,
        )
        for skip in skipped:
            self._problem(
                "channel_not_followed", f"{skip.host} (from recorder {skip.recorder}): {skip.reason}"
            )
        if extra:
            log.info("recorder_channels_polled", cameras=len(extra))
            records += self.sweeper.sweep(extra)
        return records

    def _discover(self) -> tuple[SiteScope, list[Discovered]]:
        """(scope, discovered devices); never raises."""
        interfaces: list[LocalInterface] = []
        if self.settings.interfaces:
            try:
                interfaces, problems = resolve_interfaces(
                    self.settings.interfaces, self._interface_addresses()
                )
            except OSError as exc:
                problems = [f"interfaces unreadable: {exc.strerror or exc}"]
            for problem in problems:
                self._problem("interface_unavailable", problem)
        scope = SiteScope.of(self.settings, interfaces)
        if not (interfaces or self.settings.unicast):
            return scope, []
        try:
            report: ProbeReport = self._discovery.probe_report(
                interfaces=[i.address for i in interfaces], unicast=self.settings.unicast
            )
        except Exception as exc:  # discovery must never cost the configured cameras their sweep
            log.exception("discovery_failed")
            self._problem("discovery_failed", repr(exc))
            return scope, []
        for error in report.errors:
            hint = _HINTS.get(error.errno or 0, "")
            self._problem("probe_failed", f"{error.where}: {error.error}{hint}")
        if report.rejected:
            self._problem(
                "bad_answers", f"{report.rejected} of {report.datagrams} datagrams were not ProbeMatches"
            )
        log.info("discovery_done", found=len(report.found), datagrams=report.datagrams)
        return scope, list(report.found)

    def _problem(self, problem: str, detail: str) -> None:
        """A health item; logged loudly the first time, quietly after."""
        key = f"{problem}:{detail}"
        emit = log.debug if key in self._seen_problems else log.warning
        if len(self._seen_problems) < 1024:
            self._seen_problems.add(key)
        emit("discovery_problem", problem=problem, detail=detail)
        if len(self._pending) < MAX_HEALTH_ITEMS:
            self._pending.append(DiscoveryProblem("discovery", problem, detail))
