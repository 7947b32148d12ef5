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

# A JSON string, unrolled so the regex engine does not backtrack per character (slow path only).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# An escaped UTF-16 surrogate preceded by an even number of backslashes (so it is an escape).
_SURROGATE = re.compile(rb"(?<!\\)(?:\\\\)*\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_PAIRED = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")
# Brackets kept as "(" and ")", everything else deleted; digits as "0", everything else " ".
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_PARENS = bytes.maketrans(b"[{]}", b"(())")
_DIGITS = bytes.maketrans(bytes(range(256)), bytes(48 if 48 <= b <= 57 else 32 for b in range(256)))
_LONG_RUN = b"0" * (MAX_INT_DIGITS + 1)


def _outside_strings(payload: bytes) -> bytes:
    """The payload with every string's contents removed (C-speed split when no quote is escaped)."""
    if b'\\"' not in payload:
        return b"".join(payload.split(b'"')[::2])
    return _STRING.sub(b"", payload)


def nested_deeper_than(payload: bytes, limit: int) -> bool:
    """True when arrays and objects nest deeper than ``limit`` (or their brackets do not pair);
    brackets inside strings do not count. No recursion: each pass removes the innermost pairs."""
    if payload.count(b"[") + payload.count(b"{") <= limit:
        return False  # not even that many openers
    skeleton = _outside_strings(payload).translate(_PARENS, _NOT_BRACKETS)
    for _ in range(limit):
        if not skeleton:
            return False
        shorter = skeleton.replace(b"()", b"")
        if len(shorter) == len(skeleton):
            return True  # nothing pairs up: not JSON either way
        skeleton = shorter
    return bool(skeleton)


def has_long_digit_run(payload: bytes) -> bool:
    """True when some run of digits (in a string or not) is longer than an integer may be."""
    return _LONG_RUN in payload.translate(_DIGITS)


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


# Built once: json.loads with hooks would build a decoder (and its C scanner) per call.
_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_no_constant)
_DECODER_BOUNDED_INTS = json.JSONDecoder(
    parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_no_constant
)


def load_untrusted(payload: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse UTF-8 JSON from a peer, refusing deep nesting, huge integers, NaN/inf, lone surrogates."""
    text = payload.decode("utf-8")  # canonical JSON is UTF-8; skips json's encoding sniffing
    if nested_deeper_than(payload, max_depth):
        raise JsonLimitError(f"arrays and objects nested more than {max_depth} deep")
    if b"\\u" in payload and _has_lone_surrogate(payload):
        raise JsonLimitError("string with a lone UTF-16 surrogate")
    if not has_long_digit_run(payload):
        # No integer can be too long: the C fast path for ints, hooks only for floats/constants.
        return _DECODER.decode(text)
    return _DECODER_BOUNDED_INTS.decode(text)
