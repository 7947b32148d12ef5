"""When the collector pushes the egress policy to an agent, and when it does not.

Triggers (``collector.service``): an agent's ``birth`` or ``status: online`` (it started, came
back, or was just approved and its backlog arrived), the collector connecting to the broker, a
policy reload (SIGHUP) that changed the version, and ``camsentry-collector policy push``. Every
trigger asks ``push_decision`` (pure) first, against the newest policy command in the
``commands`` table and its ack, so an agent that already acked this exact document, or has it in
flight, is not sent it again: triggers can fire as often as they like without a resend loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from agent.wire.commands import AckOutcome, CommandAction
from agent.wire.errors import BodyError
from agent.wire.lifecycle import BirthBody
from collector.policy.commanding import CommandIssuer, CommandRow, policy_params
from collector.policy.model import Policy

log = structlog.get_logger(__name__)

# Outcomes that mean the agent holds the document: applied, or kept until it has egress.
HELD = frozenset({AckOutcome.APPLIED.value, AckOutcome.STORED.value})
# The agent judged the document itself invalid: sending it again gets the same answer.
INVALID = "policy_invalid"


@dataclass(frozen=True)
class Decision:
    send: bool
    why: str


def push_decision(
    last: CommandRow | None, params: Mapping[str, Any], now: datetime, *, agent_holds: bool | None = None
) -> Decision:
    """Whether to send ``params`` to an agent whose newest policy command is ``last``.

    ``agent_holds``: what the agent said in its ``birth`` (True: it holds this version; False: it
    holds another, e.g. its state was wiped, so an earlier ack no longer counts); None: unknown.
    """
    if agent_holds is True:
        return Decision(False, "the agent reports it holds this policy version")
    if params.get("egress") is None and (last is None or last.params.get("egress") is None):
        # Nothing to replace and nothing to take back: the agent's config list is in force.
        return Decision(False, "the policy has no allow list for this site; the agent uses its config's")
    if last is None:
        return Decision(True, "never pushed to this agent")
    if last.params != params:
        return Decision(True, f"policy changed since command {last.id}")
    if last.outcome is None and last.expires > now:
        return Decision(False, f"the same push is in flight (command {last.id})")
    if agent_holds is False:
        return Decision(True, f"the agent reports another policy than command {last.id} gave it")
    if last.outcome in HELD:
        return Decision(False, f"already {last.outcome} (command {last.id})")
    if last.outcome == "refused" and last.reason == INVALID:
        return Decision(
            False, f"the agent refused this document as invalid (command {last.id}): {last.detail}"
        )
    return Decision(True, f"command {last.id} {last.outcome or 'expired unacknowledged'}; sending again")


def agent_holds(body: Mapping[str, Any], version: str) -> bool | None:
    """From a ``birth`` body: does the agent hold ``version``? None when it does not say (or the
    body does not decode: then a push is the safe answer)."""
    try:
        birth = BirthBody.decode(body)
    except BodyError:
        return None
    if not birth.policy_said:
        return None
    return birth.policy_version == version


class PolicyPusher:
    """Sends an agent its site's policy document when ``push_decision`` says so."""

    def __init__(self, issuer: CommandIssuer) -> None:
        self.issuer = issuer

    def push(
        self,
        policy: Policy,
        site: str,
        agent: str,
        *,
        trigger: str,
        holds: bool | None = None,
        force: bool = False,
        issued_by: str = "collector",
    ) -> tuple[int | None, str]:
        """(command id or None when skipped, why)."""
        params = policy_params(policy, site)
        last = self.issuer.last_command(site, agent, CommandAction.POLICY)
        decision = push_decision(last, params, self.issuer.clock.now(), agent_holds=holds)
        if not decision.send and not force:
            log.debug("policy_push_skipped", site=site, agent=agent, trigger=trigger, why=decision.why)
            return None, decision.why
        cid = self.issuer.send(site, agent, CommandAction.POLICY, "", params, issued_by=issued_by)
        why = "forced" if force and not decision.send else decision.why
        log.info(
            "policy_pushed",
            site=site,
            agent=agent,
            command_id=cid,
            policy_version=policy.version,
            trigger=trigger,
            why=why,
        )
        return cid, why
