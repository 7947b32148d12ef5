"""Typed reading of TOML config tables; errors name the file, the dotted key and the problem."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from agent.runtime.errors import ConfigError

T = TypeVar("T")


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "-", "file not found") from exc
    except PermissionError as exc:
        raise ConfigError(str(path), "-", "permission denied") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "-", f"not valid TOML: {exc}") from exc


class Table:
    """One TOML table being read; unknown keys are refused so typos do not pass silently."""

    def __init__(self, data: Any, file: str, prefix: str = "") -> None:
        if not isinstance(data, dict):
            raise ConfigError(file, prefix or "-", "must be a table")
        self.data: dict[str, Any] = data
        self.file = file
        self.prefix = prefix
        self._read: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), problem)

    def _get(self, name: str, kind: type[T], kind_name: str, default: T | None, required: bool) -> T:
        self._read.add(name)
        if name not in self.data:
            if required:
                raise self.error(name, "is required")
            return default  # type: ignore[return-value]
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.error(name, f"must be {kind_name}, got {type(value).__name__}")
        return value

    def get_str(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        value = self._get(name, str, "a string", default, required)
        if required and not value:
            raise self.error(name, "must not be empty")
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
            raise self.error(name, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(name, f"must be at most {maximum}, got {value}")
        return value

    def get_float(self, name: str, default: float | None = None, *, minimum: float | None = None) -> float:
        value = self._get(name, float, "a number", default, default is None)
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be at least {minimum}, got {value}")
        return value

    def get_bool(self, name: str, default: bool) -> bool:
        return self._get(name, bool, "true or false", default, False)

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        value = self.get_str(name, default)
        if value not in options:
            raise self.error(name, f"must be one of {', '.join(options)}, got {value!r}")
        return value

    def table(self, name: str) -> Table:
        self._read.add(name)
        return Table(self.data.get(name, {}), self.file, self.key(name))

    def raw(self, name: str) -> Any:
        self._read.add(name)
        return self.data.get(name)

    def finish(self) -> None:
        """Refuse keys nobody read: a misspelt key must not silently fall back to a default."""
        unknown = sorted(set(self.data) - self._read)
        if unknown:
            raise self.error(unknown[0], "unknown key")


def parse_logging(top: Table) -> tuple[str, str]:
    """The ``[logging]`` table agent and collector share: (level, format)."""
    logging = top.table("logging")
    level = logging.choice("level", ("debug", "info", "warning", "error"), "info")
    fmt = logging.choice("format", ("auto", "json", "console"), "auto")
    logging.finish()
    return level, fmt
