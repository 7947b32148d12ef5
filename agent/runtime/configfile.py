"""Typed reading of TOML config tables; errors name the file, the dotted key and the problem.

A root ``Table(..., collect=True)`` keeps every problem it meets instead of stopping at the
first (``check()`` raises them together as ``ConfigErrors``), the way ``policy check`` lists a
policy's: an operator fixes a file in one edit, not one key per restart.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from agent.runtime.errors import ConfigError, ConfigErrors

T = TypeVar("T")

# A config or policy file is a few kilobytes; a megabyte is a mistake (or a hostile file).
MAX_CONFIG_BYTES = 1024 * 1024


class TomlTextError(ValueError):
    """Bytes that are not a TOML document: binary, not UTF-8, too big, not TOML, nested too deep."""


def parse_toml_bytes(data: bytes) -> dict[str, Any]:
    """TOML bytes → document; every failure is one line (``TomlTextError``), never a traceback."""
    if len(data) > MAX_CONFIG_BYTES:
        raise TomlTextError(f"{len(data)} bytes: larger than the {MAX_CONFIG_BYTES}-byte limit for a config")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise TomlTextError(f"a binary file, not TOML text (NUL byte at offset {nul})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TomlTextError(f"not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlTextError(f"not valid TOML: {exc}") from None
    except RecursionError:
        raise TomlTextError("arrays or tables nested too deep to read") from None
    except ValueError as exc:  # an integer of more than 4,300 digits (CPython's int-string limit)
        raise TomlTextError(f"not readable: {str(exc)[:120]}") from None


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "-", "file not found") from exc
    except PermissionError as exc:
        raise ConfigError(str(path), "-", "permission denied") from exc
    except OSError as exc:  # a directory, an unreadable device
        raise ConfigError(str(path), "-", f"cannot read: {exc.strerror or exc}") from exc
    try:
        return parse_toml_bytes(data)
    except TomlTextError as exc:
        raise ConfigError(str(path), "-", str(exc)) from None


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), type(value).__name__
    )


class Table:
    """One TOML table being read; unknown keys are refused so typos do not pass silently."""

    def __init__(
        self,
        data: Any,
        file: str,
        prefix: str = "",
        *,
        collect: bool = False,
        problems: list[ConfigError] | None = None,
    ) -> None:
        self.file = file
        self.prefix = prefix
        self.collect = collect
        self.problems: list[ConfigError] = problems if problems is not None else []
        self._read: set[str] = set()
        if not isinstance(data, dict):
            self.data: dict[str, Any] = {}
            self.report(ConfigError(file, prefix or "-", "must be a table"))
        else:
            self.data = data

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), problem)

    def report(self, problem: ConfigError) -> None:
        """Keep ``problem`` (collecting) or raise it at once."""
        if not self.collect:
            raise problem
        self.problems.append(problem)

    def attempt(self, parse: Callable[[], T], fallback: T) -> T:
        """Run one section's parser; a problem it raises is kept and ``fallback`` stands in."""
        try:
            return parse()
        except ConfigError as exc:
            if not self.collect:
                raise
            self.problems.extend(exc.problems if isinstance(exc, ConfigErrors) else [exc])
            return fallback

    def check(self) -> None:
        """Raise every problem kept so far: one as ConfigError, several as ConfigErrors."""
        if len(self.problems) == 1:
            raise self.problems[0]
        if self.problems:
            raise ConfigErrors(self.problems)

    def _get(self, name: str, kind: type[T], kind_name: str, default: T | None, required: bool) -> T:
        self._read.add(name)
        fallback: Any = default if default is not None else kind()
        if name not in self.data:
            if required:
                self.report(self.error(name, "is required"))
                return fallback  # type: ignore[no-any-return]
            return default  # type: ignore[return-value]
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            self.report(self.error(name, f"must be {kind_name}, got {_type_name(value)}"))
            return fallback  # type: ignore[no-any-return]
        return value

    def get_str(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self._get(name, str, "a string", default, required)
        if required and not value and name in self.data:
            self.report(self.error(name, "must not be empty"))
        return value

    def opt_str(self, name: str) -> str | None:
        return self._get(name, str, "a string", None, False)

    def get_int(
        self,
        name: str,
        default: int | None = None,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        value = self._get(name, int, "an integer", default, default is None)
        if minimum is not None and value < minimum:
            self.report(self.error(name, f"must be at least {minimum}, got {value}"))
            return default if default is not None else minimum
        if maximum is not None and value > maximum:
            self.report(self.error(name, f"must be at most {maximum}, got {value}"))
            return default if default is not None else maximum
        return value

    def get_float(
        self,
        name: str,
        default: float | None = None,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        """A finite number (TOML's nan and inf are refused by name) within [minimum, maximum]."""
        value = self._get(name, float, "a number", default, default is None)
        fallback = default if default is not None else (minimum if minimum is not None else 0.0)
        if not math.isfinite(value):
            self.report(self.error(name, f"must be a finite number, got {value}"))
            return fallback
        if minimum is not None and value < minimum:
            self.report(self.error(name, f"must be at least {minimum}, got {value}"))
            return fallback
        if maximum is not None and value > maximum:
            self.report(self.error(name, f"must be at most {maximum}, got {value}"))
            return fallback
        return value

    def get_bool(self, name: str, default: bool) -> bool:
        return self._get(name, bool, "true or false", default, False)

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        value = self.get_str(name, default)
        if value not in options:
            self.report(self.error(name, f"must be one of {', '.join(options)}, got {value!r}"))
            return default
        return value

    def table(self, name: str) -> Table:
        self._read.add(name)
        return Table(
            self.data.get(name, {}), self.file, self.key(name), collect=self.collect, problems=self.problems
        )

    def raw(self, name: str) -> Any:
        self._read.add(name)
        return self.data.get(name)

    def finish(self) -> None:
        """Refuse keys nobody read: a misspelt key must not silently fall back to a default."""
        for unknown in sorted(set(self.data) - self._read):
            self.report(self.error(unknown, "unknown key"))


def parse_logging(top: Table) -> tuple[str, str]:
    """The ``[logging]`` table agent and collector share: (level, format)."""
    logging = top.table("logging")
    level = logging.choice("level", ("debug", "info", "warning", "error"), "info")
    fmt = logging.choice("format", ("auto", "json", "console"), "auto")
    logging.finish()
    return level, fmt
