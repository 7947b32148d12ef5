"""Errors of the enforcement package (see the package docstring)."""

from __future__ import annotations

from agent.runtime.errors import CamsentryError


class EnforceError(CamsentryError):
    """nft refused a ruleset or the quarantine state file is unusable."""
