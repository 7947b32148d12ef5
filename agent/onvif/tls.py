"""ONVIF over HTTPS: trust on first use, one pinned certificate per camera address and port.

Cameras ship self-signed certificates (no CA, a hostname nobody uses), so chain and name checks
say nothing about them. What does say something is continuity: the SHA-256 of the DER
certificate seen the first time is stored (``tls_pins.json`` in the agent's state directory,
mode 0600, keyed ``address:port``) and every later handshake must present the same one. A
different certificate means a replaced camera, a reset, or someone in the middle: the
connection is closed before a byte of the request (and so any credential) is sent, and the
poll reports a ``certificate_changed`` finding. An operator who knows why the certificate
changed removes the entry (``camsentry-agent`` reads the file at start) and the next poll pins
the new one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import ssl
import tempfile
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import structlog

from agent.onvif.errors import CertificateChanged
from agent.runtime.errors import ConfigError

log = structlog.get_logger("agent.onvif.tls")

PINS_FILE = "tls_pins.json"


class PinOutcome(StrEnum):
    PINNED = "pinned"  # first use: stored
    MATCH = "match"


class PinFileError(ConfigError):
    """The pin file exists but cannot be used (unreadable, bad JSON or shape): the agent stops
    with the file named rather than forget every pin."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(str(path), "pins", problem)


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate, lower-case hex."""
    return hashlib.sha256(der).hexdigest()


def client_context() -> ssl.SSLContext:
    """TLS for cameras: no CA or hostname check (pinning replaces them), TLS 1.2 or later."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@functools.cache
def shared_context() -> ssl.SSLContext:
    """One client context for the process (contexts are safe to share between threads)."""
    return client_context()


@dataclass
class PinStore:
    """``address:port`` -> certificate fingerprint, kept in ``path`` (or in memory if None)."""

    path: Path | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._pins: dict[str, str] = self._load() if self.path is not None else {}

    @classmethod
    def in_dir(cls, state_dir: Path) -> PinStore:
        return cls(state_dir / PINS_FILE)

    def _load(self) -> dict[str, str]:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise PinFileError(self.path, str(exc)) from exc
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in data.items()
        ):
            raise PinFileError(self.path, "must map address:port to a SHA-256 hex fingerprint")
        return dict(data)

    def get(self, peer: str) -> str | None:
        with self._lock:
            return self._pins.get(peer)

    def check(self, peer: str, der: bytes) -> PinOutcome:
        """Pin on first use, accept the same certificate; CertificateChanged for another."""
        seen = fingerprint(der)
        with self._lock:
            pinned = self._pins.get(peer)
            if pinned == seen:
                return PinOutcome.MATCH
            if pinned is not None:
                raise CertificateChanged(peer, pinned, seen)
            self._pins[peer] = seen
            self._save()
        log.info("tls_certificate_pinned", camera=peer, sha256=seen)
        return PinOutcome.PINNED

    def _save(self) -> None:
        """Atomically, mode 0600 from creation (the caller holds the lock)."""
        if self.path is None:
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._pins, fh, indent=1, sort_keys=True)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class TlsPeer:
    """How to speak TLS to one camera: the context, and the pin store its certificate answers to."""

    context: ssl.SSLContext
    pins: PinStore
    peer: str  # address:port, the pin key

    @classmethod
    def of(cls, pins: PinStore, peer: str) -> TlsPeer:
        return cls(shared_context(), pins, peer)
