"""Bounded JSON decoding of what a peer sends: limits checked before anything recurses.

``json.loads`` alone fails four ways on hostile input that its callers rarely expect:
``ValueError`` for an integer of more than 4,300 digits (CPython's int-string limit),
``RecursionError`` for ~1,000 levels of nesting (and re-encoding a document half that deep
for a signature check fails the same way), ``inf``/``nan`` from ``1e999`` or ``NaN`` that
canonical JSON cannot encode again, and lone UTF-16 surrogates (``"\\ud800"``) that no
database will store. ``load_untrusted`` refuses all of them up front with ``JsonLimitError``;
``JSON_DECODE_ERRORS`` is the one tuple each boundary catches.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

# Every document on the wire is an envelope, receipt, command or enrolment: a handful of levels
# (a policy push's allowlist is the deepest at about five). 64 is far above any of them and far
# below where CPython's C scanner and encoder recurse into trouble (~1,000).
MAX_DEPTH = 64
# Sequence numbers, command ids and counters are signed 64-bit at most (19 digits); a run of
# more digits is hostile, and a JSON integer of more than 4,300 digits kills json.loads.
MAX_INT_DIGITS = 20


class JsonLimitError(ValueError):
    """A payload that is not JSON, or JSON beyond the limits a peer may send."""


# What any decode of peer bytes may raise; UnicodeDecodeError and JSONDecodeError are
# ValueErrors, named for whoever reads the tuple.
JSON_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    UnicodeDecodeError,
    json.JSONDecodeError,
    JsonLimitError,
    ValueError,
    RecursionError,
)

_DIGIT_RUN = re.compile(rb"[0-9]{%d,}" % (MAX_INT_DIGITS + 1))
# A JSON string, unrolled so the regex engine does not backtrack per character.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# An escaped UTF-16 surrogate preceded by an even number of backslashes (so it is an escape).
_SURROGATE = re.compile(rb"(?<!\\)(?:\\\\)*\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_PAIRED = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
for _open in b"[{":
    _STEP[_open] = 1
for _close in b"]}":
    _STEP[_close] = -1


def nesting_depth(payload: bytes) -> int:
    """How deep arrays and objects nest, brackets inside strings ignored; no recursion."""
    if payload.count(b"[") + payload.count(b"{") <= MAX_DEPTH:
        return payload.count(b"[") + payload.count(b"{")  # an upper bound, and within limits
    skeleton = _STRING.sub(b"", payload).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, skeleton)), default=0)


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonLimitError(f"integer of {len(text)} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonLimitError(f"number {text[:40]} is not finite")
    return value


def _no_constant(name: str) -> Any:
    raise JsonLimitError(f"{name} is not JSON")


def _has_lone_surrogate(payload: bytes) -> bool:
    paired_low = -1  # where the low half of the last good pair starts
    for match in _SURROGATE.finditer(payload):
        start = match.end() - 6  # the escape's backslash
        if start == paired_low:
            continue
        if payload[start + 3] in b"89abAB" and _PAIRED.match(payload, start):
            paired_low = start + 6
            continue
        return True
    return False


def load_untrusted(payload: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse UTF-8 JSON from a peer, refusing deep nesting, huge integers, NaN/inf, lone surrogates."""
    text = payload.decode("utf-8")  # canonical JSON is UTF-8; skips json's encoding sniffing
    depth = nesting_depth(payload)
    if depth > max_depth:
        raise JsonLimitError(f"nested {depth} deep (at most {max_depth})")
    if b"\\u" in payload and _has_lone_surrogate(payload):
        raise JsonLimitError("string with a lone UTF-16 surrogate")
    if _DIGIT_RUN.search(payload) is None:
        # No integer can be too long: the C fast path for ints, hooks only for floats/constants.
        return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    return json.loads(text, parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_no_constant)
