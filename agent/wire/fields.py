"""Strict, typed reads of one JSON object for the record decoders (pure).

``Fields(obj, where)`` checks that ``obj`` is an object; each read names the field, checks its
type and raises ``BodyError`` ("device.port: expected an integer, got str") on a mismatch.
Fields never read are the ones this code does not know: ``extra()`` returns them so a record
from a newer agent keeps them instead of dropping them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from agent.wire.errors import BodyError

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


def known_or_unknown(kind: type[E], value: str) -> E:
    """The member of ``kind`` named ``value``; its ``unknown`` member for a name this code does
    not know (a newer peer's word, kept by the caller beside it)."""
    try:
        return kind(value)
    except ValueError:
        return kind("unknown")


# A body is an envelope's JSON (at most 256 KiB); no list in a record legitimately holds more.
MAX_ITEMS = 10_000


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class Fields:
    """One JSON object being decoded; ``where`` prefixes every error ("device", "flow.process")."""

    def __init__(self, obj: Any, where: str) -> None:
        if not isinstance(obj, Mapping):
            raise BodyError(f"{where}: expected an object, got {_kind(obj)}")
        self._obj: Mapping[str, Any] = obj
        self.where = where
        self._read: set[str] = set()

    def _get(self, key: str, required: bool) -> Any:
        self._read.add(key)
        if key not in self._obj:
            if required:
                raise BodyError(f"{self.where}.{key}: missing")
            return None
        return self._obj[key]

    def _bad(self, key: str, expected: str, value: Any) -> BodyError:
        return BodyError(f"{self.where}.{key}: expected {expected}, got {_kind(value)}")

    def opt_text(self, key: str, *, required: bool = False) -> str | None:
        value = self._get(key, required)
        if value is None or isinstance(value, str):
            return value
        raise self._bad(key, "a string", value)

    def text(self, key: str, *, required: bool = False, default: str = "") -> str:
        value = self.opt_text(key, required=required)
        if value is None:
            if required:
                raise self._bad(key, "a string", value)
            return default
        return value

    def name(self, key: str) -> str:
        """A string that must be there and must not be empty (a finding's kind, a CVE id)."""
        value = self.text(key, required=True)
        if not value:
            raise BodyError(f"{self.where}.{key}: empty")
        return value

    def opt_integer(self, key: str, *, required: bool = False) -> int | None:
        value = self._get(key, required)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise self._bad(key, "an integer", value)

    def integer(self, key: str, *, required: bool = False, default: int = 0) -> int:
        value = self.opt_integer(key, required=required)
        if value is None:
            if required:
                raise self._bad(key, "an integer", value)
            return default
        return value

    def opt_number(self, key: str, *, required: bool = False) -> float | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise self._bad(key, "a finite number", value)

    def number(self, key: str, *, default: float = 0.0) -> float:
        value = self.opt_number(key)
        return default if value is None else value

    def opt_flag(self, key: str, *, required: bool = False) -> bool | None:
        value = self._get(key, required)
        if value is None or isinstance(value, bool):
            return value
        raise self._bad(key, "true or false", value)

    def flag(self, key: str, *, default: bool = False) -> bool:
        value = self.opt_flag(key)
        return default if value is None else value

    def _list(self, key: str, required: bool) -> list[Any] | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self._bad(key, "a list", value)
        if len(value) > MAX_ITEMS:
            raise BodyError(f"{self.where}.{key}: more than {MAX_ITEMS} items")
        return value

    def opt_texts(self, key: str) -> tuple[str, ...] | None:
        items = self._list(key, False)
        if items is None:
            return None
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise BodyError(f"{self.where}.{key}[{i}]: expected a string, got {_kind(item)}")
        return tuple(items)

    def texts(self, key: str) -> tuple[str, ...]:
        return self.opt_texts(key) or ()

    def items(self, key: str, decode: Callable[[Any, str], T], *, required: bool = False) -> tuple[T, ...]:
        """A list of objects, each decoded by ``decode(item, where)``."""
        items = self._list(key, required) or []
        return tuple(decode(item, f"{self.where}.{key}[{i}]") for i, item in enumerate(items))

    def obj(self, key: str, *, required: bool = False) -> Any:
        """The raw value of an object field (None when absent) for a nested decoder."""
        value = self._get(key, required)
        if value is None or isinstance(value, Mapping):
            return value
        raise self._bad(key, "an object", value)

    def raw(self, key: str) -> Any:
        """A field kept as it came (JSON), for parts this contract leaves open."""
        return self._get(key, False)

    def extra(self) -> dict[str, Any]:
        """The fields no read asked for: a newer sender's additions, kept verbatim."""
        return {k: v for k, v in self._obj.items() if k not in self._read}


def with_extra(encoded: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """An encoded record plus the unknown fields it was decoded with (known fields win)."""
    return {**extra, **encoded} if extra else encoded
