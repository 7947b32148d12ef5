"""The agent's lifecycle bodies: ``birth`` (it started, and what it can do) and the retained
``status`` (online / offline / stopping, also its MQTT Last Will) (pure).

Each record has one encoder (``to_body``) and one strict decoder (``decode``, raising
``BodyError``). Unknown fields are kept in ``extra``; a ``state`` this code does not know
decodes as ``AgentState.UNKNOWN`` with the sender's word kept in ``state_text``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agent.wire.fields import Fields, known_or_unknown, with_extra

LIFECYCLE_VERSION = 1


class AgentState(StrEnum):
    ONLINE = "online"  # connected (published retained on every connection)
    OFFLINE = "offline"  # the Last Will, or the clean goodbye of a stopped agent
    STOPPING = "stopping"  # shutting down, draining
    UNKNOWN = "unknown"  # a state a newer agent sent that this code does not know

    @classmethod
    def parse(cls, value: str) -> AgentState:
        """The state named ``value``; ``UNKNOWN`` for one this code does not know."""
        return known_or_unknown(cls, value)


@dataclass(frozen=True)
class StatusBody:
    state: AgentState
    reason: str = ""
    host: str = ""
    state_text: str = ""  # the state as sent (differs from ``state`` only for UNKNOWN)
    v: int = LIFECYCLE_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_body(self) -> dict[str, Any]:
        state = self.state_text if self.state is AgentState.UNKNOWN and self.state_text else self.state.value
        return with_extra({"v": self.v, "state": state, "reason": self.reason, "host": self.host}, self.extra)

    @classmethod
    def decode(cls, body: Any) -> StatusBody:
        f = Fields(body, "status")
        text = f.text("state", required=True)
        return cls(
            state=AgentState.parse(text),
            reason=f.text("reason"),
            host=f.text("host"),
            state_text=text,
            v=f.integer("v", default=LIFECYCLE_VERSION),
            extra=f.extra(),
        )


@dataclass(frozen=True)
class EnforcementCapability:
    """Can this agent apply quarantines? ``reason`` is an ``AckReason`` value when it cannot
    (``enforcement_disabled``, ``nft_missing``, ``no_capability``, ...), empty when it can."""

    available: bool
    reason: str = ""
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"available": self.available, "reason": self.reason, "detail": self.detail}

    @classmethod
    def decode(cls, obj: Any, where: str = "enforcement") -> EnforcementCapability:
        f = Fields(obj, where)
        available = f.opt_flag("available", required=True)
        return cls(bool(available), f.text("reason"), f.text("detail"))

    def summary(self) -> str:
        """``available``, or ``unavailable (nft_missing)``: one word for a table."""
        return "available" if self.available else f"unavailable ({self.reason or 'unknown'})"


@dataclass(frozen=True)
class Capabilities:
    enforcement: EnforcementCapability | None = None  # None: the agent did not say
    egress_sources: tuple[str, ...] = ()  # where flows come from (``conntrack``, ...); empty: none
    metrics: bool = False  # the /metrics endpoint is on
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        return with_extra(
            {
                "enforcement": self.enforcement.to_json() if self.enforcement else None,
                "egress_sources": list(self.egress_sources),
                "metrics": self.metrics,
            },
            self.extra,
        )

    @classmethod
    def decode(cls, obj: Any, where: str = "capabilities") -> Capabilities:
        f = Fields(obj, where)
        enforcement = f.obj("enforcement")
        return cls(
            EnforcementCapability.decode(enforcement, f"{where}.enforcement")
            if enforcement is not None
            else None,
            f.texts("egress_sources"),
            f.flag("metrics"),
            f.extra(),
        )


@dataclass(frozen=True)
class BirthBody:
    version: str  # the agent's software version
    boot: str = ""  # the boot id its envelopes carry
    started_at: str = ""  # UTC, ``timefmt.format_utc``
    host: str = ""
    pid: int = 0
    cameras_configured: int = 0
    # The pushed policy it holds (None: none); sent only when ``policy_said`` (agents without a
    # policy holder do not say, and the collector then pushes anyway).
    policy_version: str | None = None
    policy_said: bool = False
    config_digest: str | None = None
    capabilities: Capabilities | None = None
    v: int = LIFECYCLE_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": self.v,
            "version": self.version,
            "boot": self.boot,
            "started_at": self.started_at,
            "host": self.host,
            "pid": self.pid,
            "cameras_configured": self.cameras_configured,
            "capabilities": self.capabilities.to_json() if self.capabilities else None,
        }
        if self.policy_said:
            out["policy_version"] = self.policy_version
        if self.config_digest is not None:
            out["config_digest"] = self.config_digest
        return with_extra(out, self.extra)

    @classmethod
    def decode(cls, body: Any) -> BirthBody:
        f = Fields(body, "birth")
        capabilities = f.obj("capabilities")
        said = isinstance(body, Mapping) and "policy_version" in body
        return cls(
            version=f.text("version", required=True),
            boot=f.text("boot"),
            started_at=f.text("started_at"),
            host=f.text("host"),
            pid=f.integer("pid"),
            cameras_configured=f.integer("cameras_configured"),
            policy_version=f.opt_text("policy_version"),
            policy_said=said,
            config_digest=f.opt_text("config_digest"),
            capabilities=Capabilities.decode(capabilities) if capabilities is not None else None,
            v=f.integer("v", default=LIFECYCLE_VERSION),
            extra=f.extra(),
        )
