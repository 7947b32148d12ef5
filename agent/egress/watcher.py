"""EgressWatcher: runs the egress sources, classifies and aggregates flows, reports degradations.

Lifecycle: ``start()`` → (``drain_findings()``, ``health()`` as often as the daemon likes) →
``stop()``. Sources run in their own threads and only hand events over under one lock; a source
that cannot start becomes a health finding while the others keep running, and a conntrack tool
that ends is started again with backoff.

``device_lookup(address) -> DeviceIdentity | None`` (the daemon's ``DeviceDirectory``, built from
the sweep's inventory records) is called with the watcher's lock held, from the event threads: it
must be quick (a dict lookup) and must not call back into the watcher. A source address is a
device when it is in ``device_networks`` or the lookup knows it; a routed flow's finding carries
the identity it returns (``device_id``, ``device_maker``, ``device_brand``).
"""

from __future__ import annotations

import errno
import ipaddress
import subprocess
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import psutil
import structlog

from agent.egress.aggregate import Aggregator, FlowKey, FlowRecord
from agent.egress.clouds import CORE_NETWORK_TAG, CloudTable, load_cloud_domains
from agent.egress.config import EgressConfig
from agent.egress.conntrack import ConntrackStream
from agent.egress.devices import DeviceIdentity
from agent.egress.dns import DnsAnswer, NameCache
from agent.egress.dnssniff import DnsSniffer
from agent.egress.model import FlowEvent, FlowKind, Source
from agent.egress.procnet import ProcNet
from agent.egress.sockets import SocketPoller, psutil_owner, psutil_sockets
from agent.runtime.clock import Clock, SystemClock
from agent.wire.allowlist import Allowlist
from agent.wire.flows import FlowFinding, FlowProcess
from agent.wire.health import Degradation
from agent.wire.timefmt import format_utc

log = structlog.get_logger("agent.egress.watcher")

DeviceLookup = Callable[[str], DeviceIdentity | None]
# conntrack ids of flows seen NEW and not yet DESTROYed; beyond this the oldest are forgotten
# (a DESTROY without its NEW then counts the flow once more, which we prefer to losing it).
MAX_LIVE_FLOWS = 262_144
# A conntrack tool that ends (killed, module unloaded, no capability yet) is started again after
# a delay that doubles up to the maximum; a run longer than the maximum resets it.
CONNTRACK_RESTART_MIN_S = 5.0
CONNTRACK_RESTART_MAX_S = 300.0
SUPERVISOR_TICK_S = 1.0
NFT_TABLE = "camsentry_egress"
# Any rule with a ct expression makes the kernel track connections in this network namespace;
# without one, a namespace that does no NAT or stateful filtering produces no conntrack events.
# Declared, deleted and written again in one transaction: a table left by a crashed agent is
# replaced, not appended to.
NFT_HOOK_RULESET = f"""table inet {NFT_TABLE}
delete table inet {NFT_TABLE}
table inet {NFT_TABLE} {{
  chain track {{ type filter hook prerouting priority 0; policy accept; ct state new counter; }}
  chain track_out {{ type filter hook output priority 0; policy accept; ct state new counter; }}
}}
"""


def _utc(ts: float | None, clock: Clock) -> datetime:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else clock.now()


class EgressWatcher:
    def __init__(
        self,
        config: EgressConfig,
        device_lookup: DeviceLookup = lambda _address: None,
        clock: Clock | None = None,
        *,
        conntrack_command: Sequence[str] = ("conntrack",),
        nft_command: Sequence[str] = ("nft",),
        proc_root: Path = Path("/proc"),
        procnet: ProcNet | None = None,
        conntrack_restart_s: tuple[float, float] = (CONNTRACK_RESTART_MIN_S, CONNTRACK_RESTART_MAX_S),
    ) -> None:
        self.config = config
        self._lookup = device_lookup
        self._clock = clock or SystemClock()
        self._conntrack_command = tuple(conntrack_command)
        self._nft_command = tuple(nft_command)
        self._proc_root = proc_root
        self._lock = threading.Lock()
        self._allowlist = config.allowlist
        self._clouds = CloudTable(load_cloud_domains())
        self._names = NameCache()
        self._agg = Aggregator(
            config.max_flow_keys, config.max_findings_per_drain, config.min_report_interval_s
        )
        self._live: OrderedDict[int, FlowKey] = OrderedDict()
        self._local: frozenset[str] = frozenset()
        self._health: dict[str, Degradation] = {}
        self._since: dict[str, str] = {}
        self._stop = threading.Event()
        self._poll_thread: threading.Thread | None = None
        self._conntrack: ConntrackStream | None = None
        self._conntrack_exited = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._restart_s = conntrack_restart_s
        self._dns: DnsSniffer | None = None
        self._hook_installed = False
        self._procnet = procnet or ProcNet(proc_root)
        self.counters = {"conntrack_events": 0, "out_of_scope": 0, "socket_flows": 0, "dns_untrusted": 0}
        if config.socket_reader == "psutil":
            self._poller = SocketPoller(psutil_sockets, psutil_owner)
        else:
            self._poller = SocketPoller(self._procnet.sockets, self._procnet.owner)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._refresh_local_addresses()
        if self.config.dns:
            self._start_dns()
        if self.config.conntrack:
            if self.config.conntrack_hook:
                self._install_hook()
            self._check_accounting()
            self._start_conntrack()
            self._supervisor = threading.Thread(
                target=self._supervise_conntrack, name="egress-conntrack-supervisor", daemon=True
            )
            self._supervisor.start()
        else:
            self._degrade("conntrack", "disabled", "conntrack = false in [egress]: routed flows unseen")
        if self.config.sockets:
            self._poll_thread = threading.Thread(target=self._poll_loop, name="egress-sockets", daemon=True)
            self._poll_thread.start()
        log.info("egress_started", conntrack=self.config.conntrack, sockets=self.config.sockets)

    def stop(self) -> None:
        self._stop.set()
        self._conntrack_exited.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
        if self._conntrack is not None:
            self._conntrack.stop()
        if self._dns is not None:
            self._dns.stop()
        if self._poll_thread is not None:
            self._poll_thread.join(timeout=10)
        if self._hook_installed:
            self._nft(f"delete table inet {NFT_TABLE}\n")
            self._hook_installed = False
        log.info("egress_stopped")

    # -- outputs ---------------------------------------------------------------------------

    def drain_findings(self) -> list[FlowFinding]:
        """Flow findings changed since the last drain (cumulative counters), at most
        ``max_findings_per_drain``; the rest stay pending for the next call."""
        now = self._clock.monotonic()
        with self._lock:
            out = self._agg.take(now, lambda rec: self._finding(rec, now))
            self._agg.forget_idle(now)
        return out

    def health(self) -> list[Degradation]:
        """Current degradations, one per component (``count`` set for counted losses); [] when
        everything runs."""
        with self._lock:
            out = list(self._health.values())
            folded, dropped = self._agg.overflowed, self._agg.dropped
        if folded or dropped:
            out.append(
                self._counted(
                    "aggregation",
                    folded + dropped,
                    f"more than {self._agg.max_keys} distinct flows: {folded} folded into "
                    f"per-device overflow records (counts kept), {dropped} dropped",
                )
            )
        lost = self._conntrack.stats.lost_event_warnings if self._conntrack else 0
        if lost:
            out.append(
                self._counted(
                    "conntrack_events",
                    lost,
                    f"the kernel dropped conntrack events (ENOBUFS) {lost} times: counts are low",
                )
            )
        return sorted(out, key=lambda h: h.component)

    def _counted(self, component: str, count: int, problem: str) -> Degradation:
        key = f"egress.{component}"
        since = self._since.setdefault(key, format_utc(self._clock.now()))
        return Degradation(key, "degraded", problem, since, count)

    def kernel_drops(self) -> int:
        """Times the kernel dropped conntrack events (ENOBUFS): counts are low by an unknown amount."""
        return self._conntrack.stats.lost_event_warnings if self._conntrack else 0

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                **self.counters,
                "records": len(self._agg),
                "pending": self._agg.pending,
                "overflowed": self._agg.overflowed,
                "dropped": self._agg.dropped,
                "names": len(self._names),
            }

    @property
    def allowlist(self) -> Allowlist:
        """The allowlist in force (its ``origin`` says config or which policy version)."""
        with self._lock:
            return self._allowlist

    def replace_allowlist(self, allowlist: Allowlist) -> None:
        """Swap in a verified policy push (``Allowlist.from_document``); the next drain applies it."""
        with self._lock:
            self._allowlist = allowlist
            # Flows the old list allowed were never sent; judge them again at the next drain.
            self._agg.mark_unsent_changed()
        log.info("egress_allowlist_replaced", origin=allowlist.origin, entries=len(allowlist.entries))

    def _on_dns_answer(self, server: str, answer: DnsAnswer) -> None:
        # A camera that forges DNS answers could name its own flows into the allowlist: answers
        # count only from the configured resolvers, or, without that list, from outside the
        # device networks (cameras are not resolvers).
        resolvers = self.config.resolvers
        trusted = server in resolvers if resolvers else not self._in_device_networks(server)
        if not trusted:
            with self._lock:
                self.counters["dns_untrusted"] += 1
            return
        self.learn_name(answer)

    def learn_name(self, answer: DnsAnswer) -> None:
        """A DNS answer from any source (the packet sniffer, a resolver log, a test)."""
        with self._lock:
            self._names.add(answer, self._clock.monotonic())

    def observe_event(self, event: FlowEvent) -> None:
        """One conntrack event (the stream's callback; tests and replays call it directly)."""
        self._on_conntrack(event)

    # -- classification --------------------------------------------------------------------

    def _finding(self, rec: FlowRecord, mono: float) -> FlowFinding | None:
        found = self._names.lookup(rec.destination, mono)
        if found is not None:
            rec.hostname, rec.names = found
        tags = self._clouds.tags(rec.names)
        if self._allowlist.is_core(rec.destination):
            tags.append(CORE_NETWORK_TAG)
        allowed = not rec.overflow and self._allowlist.allows(
            rec.destination, rec.port, rec.protocol, rec.names, frozenset(tags)
        )
        if allowed and not self.config.report_allowed:
            return None
        identity = self._lookup(rec.device) if rec.source is Source.CONNTRACK else None
        process = rec.process
        return FlowFinding(
            device=rec.device,
            device_id=identity.key if identity else None,
            device_maker=identity.maker if identity else None,
            device_brand=identity.brand if identity else None,
            destination=rec.destination,
            port=rec.port,
            protocol=rec.protocol,
            hostname=rec.hostname,
            hostnames=tuple(rec.names),
            tags=tuple(sorted(tags)),
            first_seen=format_utc(rec.first_seen),
            last_seen=format_utc(rec.last_seen),
            count=rec.count,
            bytes=rec.bytes,
            allowed=allowed,
            source=rec.source.value,
            process=FlowProcess(process.pid, process.name, process.exe) if process else None,
            overflow=rec.overflow,
        )

    def _in_scope(self, src: str) -> bool:
        if self.config.sockets and src in self._local:
            return False  # this host's own flows: the socket path reports them with the process
        if self.config.device_networks:
            if self._in_device_networks(src):
                return True
        elif src not in self._local:
            return True
        return self._lookup(src) is not None

    # -- conntrack -------------------------------------------------------------------------

    def _on_conntrack(self, ev: FlowEvent) -> None:
        with self._lock:
            self.counters["conntrack_events"] += 1
            if not self._in_scope(ev.src):
                self.counters["out_of_scope"] += 1
                return
            key: FlowKey = (ev.src, ev.dst, ev.dport, ev.protocol)
            when = _utc(ev.timestamp, self._clock)
            mono = self._clock.monotonic()
            if ev.kind is FlowKind.NEW:
                taken = self._agg.observe(key, Source.CONNTRACK, when, mono)
                if ev.conntrack_id is not None and taken is not None:
                    self._live[ev.conntrack_id] = taken
                    if len(self._live) > MAX_LIVE_FLOWS:
                        self._live.popitem(last=False)
                return
            taken = self._live.pop(ev.conntrack_id, None) if ev.conntrack_id is not None else None
            if taken is not None:
                if ev.bytes is not None:
                    self._agg.add_bytes(taken, ev.bytes, when, mono)
            else:
                self._agg.observe(key, Source.CONNTRACK, when, mono, nbytes=ev.bytes)

    def _start_conntrack(self) -> None:
        self._conntrack_exited.clear()
        stream = ConntrackStream(self._on_conntrack, self._on_conntrack_exit, self._conntrack_command)
        self._conntrack = stream
        stream.start()
        if stream.subscribed:
            self._clear("conntrack")

    def _supervise_conntrack(self) -> None:
        low, high = self._restart_s
        backoff = low
        while True:
            started = time.monotonic()
            # The timeout only guards against a stop() that raced a restart.
            while not self._conntrack_exited.wait(SUPERVISOR_TICK_S):
                if self._stop.is_set():
                    return
            if self._stop.is_set():
                return
            backoff = low if time.monotonic() - started > high else backoff
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, high)
            old = self._conntrack
            if old is not None:
                old.stop()
            log.info("conntrack_restarting")
            self._start_conntrack()

    def _on_conntrack_exit(self, returncode: int, stderr: str) -> None:
        problem = stderr or f"conntrack exited with status {returncode}"
        if "not permitted" in problem.lower() or "permission" in problem.lower():
            problem += " (the agent needs CAP_NET_ADMIN for conntrack events)"
        self._degrade("conntrack", "unavailable", f"{problem}; routed flows unseen, sockets still watched")
        self._conntrack_exited.set()

    def _install_hook(self) -> None:
        ok, err = self._nft(NFT_HOOK_RULESET)
        if ok:
            self._hook_installed = True
        else:
            self._degrade(
                "conntrack_hook",
                "degraded",
                f"cannot add nft table inet {NFT_TABLE} ({err}); conntrack sees flows only if "
                "another ruleset or NAT enables connection tracking here",
            )

    def _nft(self, script: str) -> tuple[bool, str]:
        try:
            done = subprocess.run(
                [*self._nft_command, "-f", "-"],
                input=script,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, str(exc)
        return done.returncode == 0, done.stderr.strip()[:300]

    def _check_accounting(self) -> None:
        path = self._proc_root / "sys/net/netfilter/nf_conntrack_acct"
        try:
            on = path.read_text().strip() == "1"
        except OSError:
            on = False
        if not on:
            self._degrade(
                "conntrack_bytes",
                "degraded",
                "net.netfilter.nf_conntrack_acct is not 1: flow bytes unknown",
            )

    # -- DNS and sockets -------------------------------------------------------------------

    def _start_dns(self) -> None:
        self._dns = DnsSniffer(self.config.interfaces, self._on_dns_answer)
        try:
            self._dns.start()
        except OSError as exc:
            self._dns = None
            hint = "; the agent needs CAP_NET_RAW" if exc.errno in (errno.EPERM, errno.EACCES) else ""
            where = ", ".join(self.config.interfaces) or "all interfaces"
            self._degrade(
                "dns",
                "unavailable",
                f"cannot watch DNS answers on {where} ({exc.strerror or exc}{hint}): "
                "findings carry addresses without hostnames",
            )

    def _refresh_local_addresses(self) -> None:
        try:
            addrs = {a.address.split("%")[0] for nics in psutil.net_if_addrs().values() for a in nics}
        except OSError:
            return
        self._local = frozenset(addrs)

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self.poll_sockets_once()
            self._refresh_local_addresses()
            self._stop.wait(self.config.poll_interval_s)

    def poll_sockets_once(self) -> None:
        """One socket poll (the poll thread's body; tests and benchmarks call it directly)."""
        try:
            flows = self._poller.poll()
        except Exception as exc:  # a broken /proc must not end the loop
            log.warning("socket_poll_failed", error=str(exc))
            self._degrade("sockets", "degraded", f"socket poll failed: {exc}")
            return
        self._clear("sockets")
        now = self._clock.now()
        mono = self._clock.monotonic()
        with self._lock:
            for f in flows:
                s = f.socket
                if self._in_device_networks(s.remote):
                    continue  # the recorder talking to its cameras is not egress
                self.counters["socket_flows"] += 1
                key = (s.local, s.remote, s.rport, s.protocol)
                self._agg.observe(key, Source.SOCKETS, now, mono, process=f.process)

    def _in_device_networks(self, address: str) -> bool:
        try:
            addr = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(addr in n for n in self.config.device_networks)

    def _degrade(self, component: str, status: str, problem: str) -> None:
        key = f"egress.{component}"
        with self._lock:
            if key in self._health and self._health[key].problem == problem:
                return
            self._health[key] = Degradation(key, status, problem, format_utc(self._clock.now()))
        log.warning("egress_degraded", component=key, status=status, problem=problem)

    def _clear(self, component: str) -> None:
        with self._lock:
            self._health.pop(f"egress.{component}", None)
