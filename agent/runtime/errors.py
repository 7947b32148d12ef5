"""The agent's exception tree.

CamsentryError
├── ConfigError        a config file that cannot be used: names file, key and problem
│   └── ConfigErrors   every problem of one file at once (``problems``), so one edit fixes all
(key files: agent.wire.signing.KeyFormatError, a ValueError)
"""

from __future__ import annotations


class CamsentryError(Exception):
    """Base of every error camsentry raises on purpose."""


class ConfigError(CamsentryError):
    """A configuration problem, reported as ``file: key: problem`` (``file: problem`` when it
    is the whole file's, key ``-``)."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {problem}" if key == "-" else f"{file}: {key}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem


class ConfigErrors(ConfigError):
    """Several problems in one config file; ``problems`` holds each, in file order."""

    def __init__(self, problems: list[ConfigError]) -> None:
        first = problems[0]
        super().__init__(first.file, first.key, first.problem)
        self.problems = list(problems)
        self.args = ("\n".join(str(p) for p in problems),)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
