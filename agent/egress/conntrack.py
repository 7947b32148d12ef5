"""conntrack NEW/DESTROY events: a pure line parser and the ``conntrack -E`` subprocess edge.

Why the tool rather than netlink from Python: ``conntrack -E`` (conntrack-tools) is C, keeps up
with bursts a Python netlink loop would drop, sets a large netlink buffer (``-b``), and says when
the kernel dropped events (ENOBUFS). Its line format has been stable for a decade.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from agent.egress.model import FlowEvent, FlowKind

log = structlog.get_logger("agent.egress.conntrack")

# A line is ~250 bytes; anything far longer is not conntrack output.
MAX_LINE_BYTES = 4096
# Netlink receive buffer (the kernel doubles it): room for a burst of ~30,000 events while the
# Python reader is busy or starved of CPU. Memory is used only while events queue.
NETLINK_BUFFER_BYTES = 32 * 1024 * 1024
_KINDS = {"[NEW]": FlowKind.NEW, "[DESTROY]": FlowKind.DESTROY}
ENOBUFS_MARK = "ENOBUFS"
# conntrack prints this NOTICE after it has subscribed to the event groups: from then on no event
# is missed, so start() waits for it (or for the tool to fail).
SUBSCRIBED_MARK = "NOTICE: Netlink socket buffer size"
READY_TIMEOUT_S = 5.0


def parse_conntrack_event(line: str) -> FlowEvent | None:
    """One ``conntrack -E -o timestamp,id`` line → FlowEvent; None for anything else (never raises).

    ``[1795437131.977231]\\t[NEW] tcp 6 120 SYN_SENT src=a dst=b sport=1 dport=2 [UNREPLIED]
    src=b dst=a sport=2 dport=1 id=852759232``. The first src/dst/sport/dport are the original
    direction; packets/bytes (DESTROY with accounting on) are summed over both directions.
    """
    if len(line) > MAX_LINE_BYTES:
        return None
    tokens = line.split()
    timestamp: float | None = None
    if tokens and tokens[0].startswith("[") and tokens[0][1:2].isdigit():
        try:
            timestamp = float(tokens[0].strip("[]"))
        except ValueError:
            return None
        tokens = tokens[1:]
    if len(tokens) < 3 or tokens[0] not in _KINDS:
        return None
    kind = _KINDS[tokens[0]]
    protocol = tokens[1].lower()
    first: dict[str, str] = {}
    counters = {"bytes": 0, "packets": 0}
    have_counters = False
    conntrack_id: int | None = None
    tuples_seen = 0
    for token in tokens[2:]:
        key, sep, value = token.partition("=")
        if not sep:
            continue
        if key == "src":
            tuples_seen += 1
        if key in ("src", "dst", "sport", "dport") and tuples_seen == 1:
            first.setdefault(key, value)
        elif key in counters:
            if not value.isdigit():
                return None
            counters[key] += int(value)
            have_counters = True
        elif key == "id" and value.isdigit():
            conntrack_id = int(value)
    if "src" not in first or "dst" not in first:
        return None
    try:
        sport = int(first.get("sport", "0"))
        dport = int(first.get("dport", "0"))
    except ValueError:
        return None
    if not (0 <= sport < 65536 and 0 <= dport < 65536):
        return None
    return FlowEvent(
        kind=kind,
        protocol=protocol,
        src=first["src"],
        dst=first["dst"],
        sport=sport,
        dport=dport,
        conntrack_id=conntrack_id,
        timestamp=timestamp,
        bytes=counters["bytes"] if have_counters else None,
        packets=counters["packets"] if have_counters else None,
    )


def conntrack_argv(command: Sequence[str] = ("conntrack",)) -> list[str]:
    """The event-listening command line; ``command`` may carry a prefix (``ip netns exec gw``)."""
    return [
        *command,
        "-E",
        "-e",
        "NEW,DESTROY",
        "-o",
        "timestamp,id",
        "-b",
        str(NETLINK_BUFFER_BYTES),
    ]


@dataclass
class ConntrackStats:
    events: int = 0
    unparsed: int = 0
    lost_event_warnings: int = 0
    stderr_tail: list[str] = field(default_factory=list)


class ConntrackStream:
    """Runs ``conntrack -E`` and hands each parsed event to ``on_event`` from a reader thread.

    ``on_exit(returncode, stderr_tail)`` is called once if the tool ends while not being stopped
    (missing capability, missing module, tool not installed).
    """

    def __init__(
        self,
        on_event: Callable[[FlowEvent], None],
        on_exit: Callable[[int, str], None],
        command: Sequence[str] = ("conntrack",),
    ) -> None:
        self._on_event = on_event
        self._on_exit = on_exit
        self._argv = conntrack_argv(command)
        self._proc: subprocess.Popen[str] | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self.subscribed = False
        self.stats = ConntrackStats()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        try:
            self._proc = subprocess.Popen(
                self._argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
        except OSError as exc:
            self._on_exit(-1, f"cannot run {self._argv[0]}: {exc.strerror or exc}")
            return
        # stderr first: the stdout reader joins it when the tool ends.
        self._threads = [
            threading.Thread(target=self._read_stderr, name="egress-conntrack-err", daemon=True),
            threading.Thread(target=self._read_stdout, name="egress-conntrack", daemon=True),
        ]
        for t in self._threads:
            t.start()
        self._ready.wait(READY_TIMEOUT_S)
        log.info("conntrack_started", argv=self._argv, pid=self._proc.pid, subscribed=self.subscribed)

    def _read_stdout(self) -> None:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        for line in proc.stdout:
            event = parse_conntrack_event(line)
            if event is None:
                self.stats.unparsed += 1
                if self.stats.unparsed == 1:
                    log.warning("conntrack_line_unparsed", line=line[:200])
                continue
            self.stats.events += 1
            self._on_event(event)
        returncode = proc.wait()
        self._threads[0].join(timeout=2)
        if not self._stopping.is_set():
            tail = " | ".join(self.stats.stderr_tail[-3:])
            log.warning("conntrack_exited", returncode=returncode, stderr=tail)
            self._on_exit(returncode, tail)
        self._ready.set()  # the tool ended (and on_exit ran): start() need not wait any longer

    def _read_stderr(self) -> None:
        proc = self._proc
        assert proc is not None
        assert proc.stderr is not None
        for line in proc.stderr:
            text = line.strip()[:300]
            if text.startswith(SUBSCRIBED_MARK):
                self.subscribed = True
                self._ready.set()
            elif ENOBUFS_MARK in text:
                self.stats.lost_event_warnings += 1
                log.warning("conntrack_events_lost", message=text)
            elif text and not text.startswith("NOTICE"):
                self.stats.stderr_tail = [*self.stats.stderr_tail[-4:], text]

    def stop(self) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for t in self._threads:
            t.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
