"""Ingest: size check → topic → decode → key lookup → topic agreement → verify → dedupe → store.

``Ingestor.ingest`` never raises for anything a peer sends: every refusal becomes a
counted ``RejectReason`` and a log line (loud the first time per agent and reason,
quiet after), and the batch goes on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.runtime.clock import Clock
from agent.wire.envelope import DEFAULT_MAX_PAYLOAD_BYTES, Envelope, check_topic, decode, verify
from agent.wire.errors import RejectReason, WireError
from agent.wire.jsonload import JSON_DECODE_ERRORS
from agent.wire.signing import KeyFormatError, public_key_from_text
from agent.wire.timefmt import format_utc
from agent.wire.topics import parse_topic
from collector.store import AgentRow, Store, StoredBatch

log = structlog.get_logger("camsentry.collector.ingest")

UNKNOWN = "?"
# A name not yet known triggers a key reload (an agent enrolled a moment ago is recognised at
# once), but each name at most once per interval and all names at most this often per second,
# so a flood of made-up names costs little.
UNKNOWN_RECHECK_INTERVAL_S = 1.0
MAX_RELOADS_PER_S = 20
# Revocations and rotations take effect within this long even for agents already known.
KEY_REFRESH_INTERVAL_S = 5.0
# envelopes.seq is BIGINT (SQLite INTEGER and PostgreSQL BIGINT are both signed 64-bit).
MAX_STORED_SEQ = 2**63 - 1


@dataclass
class BatchResult:
    new: list[Envelope] = field(default_factory=list)
    duplicates: list[Envelope] = field(default_factory=list)
    rejected: Counter[RejectReason] = field(default_factory=Counter)


@dataclass(frozen=True)
class KeyEntry:
    key: Ed25519PublicKey | None
    revoked: bool


class KeyRing:
    """Enrolled agent keys, reloaded from the store when asked for one it does not know."""

    def __init__(self, load: Callable[[], list[AgentRow]], clock: Clock) -> None:
        self._load = load
        self._clock = clock
        self._keys: dict[tuple[str, str], KeyEntry] = {}
        self._loaded_at = -1e9
        self._unknown_checked: dict[tuple[str, str], float] = {}
        self._reload_times: list[float] = []
        self.reload()

    def reload(self) -> None:
        keys: dict[tuple[str, str], KeyEntry] = {}
        for row in self._load():
            try:
                key: Ed25519PublicKey | None = public_key_from_text(row.public_key)
            except KeyFormatError:
                key = None
            keys[(row.site, row.agent)] = KeyEntry(key=key, revoked=row.revoked_at is not None)
        self._keys = keys
        self._loaded_at = self._clock.monotonic()

    def refresh_if_stale(self) -> None:
        if self._clock.monotonic() - self._loaded_at >= KEY_REFRESH_INTERVAL_S:
            self.reload()

    def lookup(self, site: str, agent: str) -> KeyEntry | None:
        entry = self._keys.get((site, agent))
        if entry is not None:
            return entry
        now = self._clock.monotonic()
        last = self._unknown_checked.get((site, agent))
        self._reload_times = [t for t in self._reload_times if now - t < 1.0]
        if (last is None or now - last >= UNKNOWN_RECHECK_INTERVAL_S) and len(
            self._reload_times
        ) < MAX_RELOADS_PER_S:
            if len(self._unknown_checked) > 10_000:
                self._unknown_checked.clear()
            self._unknown_checked[(site, agent)] = now
            self._reload_times.append(now)
            self.reload()
            entry = self._keys.get((site, agent))
        return entry


class Ingestor:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        self._store = store
        self._clock = clock
        self._max = max_payload_bytes
        self.keys = KeyRing(store.agents, clock)
        self._logged: set[tuple[str, str, RejectReason]] = set()

    def check(self, topic: str, payload: bytes) -> Envelope:
        """Return the verified envelope or raise WireError with the reason to count."""
        if len(payload) > self._max:
            raise WireError(RejectReason.OVERSIZE, f"{len(payload)} bytes > {self._max}")
        parts = parse_topic(topic)
        if parts is None:
            raise WireError(RejectReason.BAD_TOPIC, topic[:200])
        envelope = decode(payload, max_bytes=self._max)
        if envelope.seq > MAX_STORED_SEQ or "\x00" in envelope.boot or "\x00" in envelope.ts:
            # Signed or not, the store could not hold it: refusing here keeps it from failing
            # (and so holding back) every batch it lands in.
            raise WireError(RejectReason.MALFORMED_ENVELOPE, "seq beyond 64 bits, or NUL in boot or ts")
        check_topic(envelope, parts)
        entry = self.keys.lookup(envelope.site, envelope.agent)
        if entry is None or entry.key is None:
            raise WireError(RejectReason.UNKNOWN_AGENT, f"{envelope.site}/{envelope.agent}")
        if entry.revoked:
            raise WireError(RejectReason.REVOKED_AGENT, f"{envelope.site}/{envelope.agent}")
        verify(envelope, entry.key)
        return envelope

    def ingest(self, messages: Sequence[tuple[str, bytes]]) -> BatchResult:
        self.keys.refresh_if_stale()
        result = BatchResult()
        accepted: list[Envelope] = []
        counts: Counter[tuple[str, str, str]] = Counter()
        for topic, payload in messages:
            try:
                accepted.append(self.check(topic, payload))
            except WireError as exc:
                self._reject(result, counts, topic, exc)
            except JSON_DECODE_ERRORS as exc:  # a parser gap, not a reason to lose the batch
                gap = WireError(RejectReason.MALFORMED_ENVELOPE, repr(exc)[:200])
                self._reject(result, counts, topic, gap)
        if accepted:
            stored = self._store_isolating(accepted, result, counts)
            result.new, result.duplicates = stored.new, stored.duplicates
            for env in stored.new:
                counts[(env.site, env.agent, "accepted")] += 1
            for env in stored.duplicates:
                counts[(env.site, env.agent, "duplicate")] += 1
        self._store.bump_counters(dict(counts))
        return result

    def _reject(
        self, result: BatchResult, counts: Counter[tuple[str, str, str]], topic: str, exc: WireError
    ) -> None:
        result.rejected[exc.reason] += 1
        site, agent = self._topic_owner(topic)
        counts[(site, agent, f"rejected:{exc.reason.value}")] += 1
        self._log_reject(site, agent, exc)

    def _store_isolating(
        self, accepted: list[Envelope], result: BatchResult, counts: Counter[tuple[str, str, str]]
    ) -> StoredBatch:
        """Store the batch; when the database refuses one message's data, store the others alone.

        A failure of the database itself (disk full, server away) is raised: nothing is confirmed
        and the agents send again. A failure one message causes is that message's rejection.
        """
        received = format_utc(self._clock.now())
        try:
            return self._store.store_batch(accepted, received)
        except Exception as exc:
            if not is_data_error(exc):
                raise
            batch_error: Exception = exc
        new: list[Envelope] = []
        duplicates: list[Envelope] = []
        for env in accepted:
            try:
                stored = self._store.store_batch([env], received)
            except Exception as exc:
                if not is_data_error(exc):
                    raise
                topic = f"camsentry/v1/{env.site}/{env.agent}/{env.kind.value}"
                detail = f"boot={env.boot} seq={env.seq}: {str(exc)[:200]}"
                self._reject(result, counts, topic, WireError(RejectReason.UNSTORABLE, detail))
                continue
            new.extend(stored.new)
            duplicates.extend(stored.duplicates)
        log.debug("batch_stored_one_by_one", size=len(accepted), error=str(batch_error)[:200])
        return StoredBatch(new=new, duplicates=duplicates)

    def _topic_owner(self, topic: str) -> tuple[str, str]:
        """Enrolled agents get their own counters; anything else shares one, so names can't grow the table."""
        parts = parse_topic(topic)
        if parts is None or self.keys.lookup(parts.site, parts.agent) is None:
            return (UNKNOWN, UNKNOWN)
        return (parts.site, parts.agent)

    def _log_reject(self, site: str, agent: str, exc: WireError) -> None:
        marker = (site, agent, exc.reason)
        if marker in self._logged:
            log.debug("message_rejected", site=site, agent=agent, reason=exc.reason.value, detail=exc.detail)
            return
        if len(self._logged) < 10_000:
            self._logged.add(marker)
        log.warning("message_rejected", site=site, agent=agent, reason=exc.reason.value, detail=exc.detail)


# DB-API exception classes a single row's data causes; the others (OperationalError: disk full,
# connection lost, locked) are the database's own trouble.
_DATA_ERROR_NAMES = frozenset({"DataError", "IntegrityError", "ProgrammingError", "InterfaceError"})


def is_data_error(exc: BaseException) -> bool:
    """True when ``exc`` (a StoreError or what the driver raised) is about the data, not the database."""
    if isinstance(exc, UnicodeError | OverflowError | ValueError | TypeError):
        return True
    cause = exc.__cause__
    return cause is not None and any(c.__name__ in _DATA_ERROR_NAMES for c in type(cause).__mro__)
