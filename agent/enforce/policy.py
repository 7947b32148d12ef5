"""A pushed policy applied to the agent: today the site's egress allowlist.

``parse_policy_params`` (pure) validates a ``policy`` command's params::

    {"policy_version": "sha256:…", "egress": {"allow": [...], "core_networks": [...]} | null}

``egress: null`` means the policy has no allow list for this site, so the config's list is in
force. ``EgressPolicy`` is the ``CommandHandler``'s ``on_policy`` hook: it validates the whole
document before it touches the watcher (a bad push is refused and the old list stays), swaps
the allowlist in, and tells the handler whether the push was applied or only stored (an agent
without an ``[egress]`` table keeps it for when egress is enabled). ``restore`` applies the
policy the handler persisted, at agent start, before the watcher starts; ``status`` is what
health and ``camsentry-agent status`` show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from agent.runtime.errors import CamsentryError
from agent.wire.allowlist import Allowlist
from agent.wire.commands import AckOutcome

log = structlog.get_logger(__name__)

# A policy version is "sha256:" and 64 hex digits; anything much longer is not one of ours.
MAX_VERSION_CHARS = 80


class AllowlistTarget(Protocol):
    """What the policy needs of the egress watcher."""

    @property
    def allowlist(self) -> Allowlist: ...

    def replace_allowlist(self, allowlist: Allowlist) -> None: ...


@dataclass(frozen=True)
class PolicyResult:
    """How a valid policy push ended: APPLIED or STORED, and the ack's detail."""

    outcome: AckOutcome
    detail: str


@dataclass(frozen=True)
class ParsedPolicy:
    version: str
    # None: the policy has no allow list for this site; the config's is in force.
    allowlist: Allowlist | None


def parse_policy_params(params: Mapping[str, Any]) -> ParsedPolicy:
    """Validate a policy command's params whole; raises ValueError or ConfigError naming the key."""
    version = params.get("policy_version")
    if not isinstance(version, str) or not version or len(version) > MAX_VERSION_CHARS:
        raise ValueError("params.policy_version: must be the policy's version string")
    if "egress" not in params:
        raise ValueError("params.egress: missing (null when the policy has no allow list for the site)")
    egress = params["egress"]
    if egress is None:
        return ParsedPolicy(version, None)
    return ParsedPolicy(version, Allowlist.from_document(egress, origin=version))


class EgressPolicy:
    """The ``on_policy`` hook for the egress allowlist; ``target`` is None without ``[egress]``."""

    def __init__(self, target: AllowlistTarget | None) -> None:
        self._target = target
        self._config = target.allowlist if target is not None else None
        self._version: str | None = None
        self._state = "none"
        self._problem: str | None = None

    def __call__(self, params: dict[str, Any]) -> PolicyResult:
        parsed = parse_policy_params(params)  # raises before anything changes
        return self._apply(parsed)

    def _apply(self, parsed: ParsedPolicy) -> PolicyResult:
        self._version, self._problem = parsed.version, None
        if self._target is None or self._config is None:
            self._state = "stored"
            return PolicyResult(
                AckOutcome.STORED,
                f"policy {parsed.version} kept: no [egress] table in the agent config, so there is "
                "no allowlist to replace; applied when egress is enabled and the agent restarts",
            )
        if parsed.allowlist is None:
            self._state = "config"
            self._target.replace_allowlist(self._config)
            return PolicyResult(
                AckOutcome.APPLIED,
                f"policy {parsed.version} has no allow list for this site: the config's "
                f"{len(self._config.entries)} entries are in force",
            )
        self._state = "applied"
        self._target.replace_allowlist(parsed.allowlist)
        return PolicyResult(
            AckOutcome.APPLIED,
            f"egress allowlist from policy {parsed.version}: {len(parsed.allowlist.entries)} entries, "
            f"{len(parsed.allowlist.core_networks)} core networks",
        )

    def restore(self, params: Mapping[str, Any]) -> None:
        """Apply the persisted policy at start; an unusable one leaves the config's list in force
        and says so in ``status`` (never silently)."""
        if not params:
            return
        try:
            result = self._apply(parse_policy_params(params))
        except (CamsentryError, ValueError) as exc:
            self.failed_to_load(f"the stored policy could not be applied ({exc})")
            return
        log.info("policy_restored", version=self._version, outcome=result.outcome.value)

    def failed_to_load(self, problem: str) -> None:
        """The handler's state could not be read at start: the config allowlist stays, loudly."""
        self._state = "restore_failed"
        self._problem = f"{problem}: the config allowlist is in force"
        log.error("policy_restore_failed", error=problem)

    @property
    def version(self) -> str | None:
        """The last policy version accepted (applied or stored), None before the first push."""
        return self._version

    def status(self) -> dict[str, Any]:
        """``{"state", "policy_version", "allowlist_origin", "allow_entries", "problem"}``; state is
        none (no push yet), applied, config (policy has no list for the site), stored (no
        [egress]) or restore_failed."""
        current = self._target.allowlist if self._target is not None else None
        return {
            "state": self._state,
            "policy_version": self._version,
            "allowlist_origin": current.origin if current is not None else None,
            "allow_entries": len(current.entries) if current is not None else None,
            "problem": self._problem,
        }
