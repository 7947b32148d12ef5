"""MQTT topic layout: ``camsentry/v1/<site>/<agent>/<kind>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "camsentry/v1"
# Site and agent names become topic levels and file names: keep them to a safe alphabet.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name))


def topic(site: str, agent: str, kind: str) -> str:
    return f"{PREFIX}/{site}/{agent}/{kind}"


def telemetry_subscription(share_group: str | None = None) -> str:
    """Every agent's every kind; a shared subscription when several collectors split the load."""
    pattern = f"{PREFIX}/+/+/+"
    return f"$share/{share_group}/{pattern}" if share_group else pattern


@dataclass(frozen=True)
class TopicParts:
    site: str
    agent: str
    kind: str


def parse_topic(name: str) -> TopicParts | None:
    """Split a camsentry topic; None for anything else."""
    parts = name.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != PREFIX:
        return None
    site, agent, kind = parts[2], parts[3], parts[4]
    if not (valid_name(site) and valid_name(agent)):
        return None
    return TopicParts(site=site, agent=agent, kind=kind)
