"""The agent's exception tree.

CamsentryError
├── ConfigError        a config file that cannot be used: names file, key and problem
(key files: agent.wire.signing.KeyFormatError, a ValueError)
"""

from __future__ import annotations


class CamsentryError(Exception):
    """Base of every error camsentry raises on purpose."""


class ConfigError(CamsentryError):
    """A configuration problem, reported as ``file: key: problem``."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem
