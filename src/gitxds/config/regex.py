"""Regexes run in Envoy's RE2: reject what Python's re accepts but RE2 (or Envoy's limits) would not.

Envoy refuses a regex whose RE2 program has more than 100 instructions. :func:`program_size` is a
lower-bound estimate of that size (calibrated against Envoy), so a regex it rejects Envoy rejects too.
"""

from __future__ import annotations

import importlib
import re
import warnings
from typing import Any

__all__ = ["ENVOY_MAX_PROGRAM_SIZE", "program_size", "re2_problem"]

ENVOY_MAX_PROGRAM_SIZE = 100

_BACKSLASH_PAIRS = re.compile(r"\\\\")
_UNSUPPORTED_ESCAPE = re.compile(r"\\[1-9ZuUN]")  # backreferences, \Z, \u, \U, \N{...}
_ESCAPED = re.compile(r"\\.")
_CHARACTER_CLASS = re.compile(r"\[\^?\]?[^\]]*\]")
_GROUP_START = re.compile(r"\(\?")
_RE2_GROUP = re.compile(r"\(\?(:|P<|[imsU-]+[:)])")  # the (? forms RE2 knows
_GROUP_SHOWN = re.compile(r"\(\?(<[=!]|P=|.)?")
_POSSESSIVE = re.compile(r"[*+?}]\+")
_PROGRAM_OVERHEAD = 4  # RE2's unanchored prefix and match instructions


def re2_problem(pattern: str) -> str | None:
    """Why Envoy would reject ``pattern`` (which Python's re compiles), or ``None``."""
    escape = _UNSUPPORTED_ESCAPE.search(_BACKSLASH_PAIRS.sub("", pattern))
    if escape:
        return f"uses {escape.group(0)}, which Envoy (RE2) does not support"
    plain = _CHARACTER_CLASS.sub("c", _ESCAPED.sub("e", pattern))
    for start in _GROUP_START.finditer(plain):
        if not _RE2_GROUP.match(plain, start.start()):
            shown = _GROUP_SHOWN.match(plain, start.start())
            construct = shown.group(0) if shown else "(?"
            return f"uses {construct}, which Envoy (RE2) does not support"
    possessive = _POSSESSIVE.search(plain)
    if possessive:
        return f"uses {possessive.group(0)}, which Envoy (RE2) does not support"
    try:
        size = program_size(pattern)
    except re.error:  # callers compile first; a pattern that does not parse has no size to judge
        return None
    if size > ENVOY_MAX_PROGRAM_SIZE:
        return (
            f"is too complex for Envoy: about {size} RE2 instructions, the limit is "
            f"{ENVOY_MAX_PROGRAM_SIZE} (shorten it or use a prefix match)"
        )
    return None


def program_size(pattern: str) -> int:
    """A lower bound of the RE2 program size Envoy compares with its limit."""
    parser: Any = importlib.import_module("re._parser")
    with warnings.catch_warnings(action="ignore"):
        parsed = parser.parse(pattern)
    return _PROGRAM_OVERHEAD + _size(parsed, importlib.import_module("re._constants"))


def _size(items: Any, ops: Any) -> int:
    total = 0
    for op, argument in items:
        if op in (ops.LITERAL, ops.NOT_LITERAL, ops.ANY, ops.IN):
            total += 1
        elif op is ops.SUBPATTERN:
            group, _, _, inner = argument
            total += _size(inner, ops) + (2 if group is not None else 0)
        elif op is ops.BRANCH:
            total += sum(_size(branch, ops) for branch in argument[1])
        elif op in (ops.MAX_REPEAT, ops.MIN_REPEAT):
            low, high, inner = argument
            total += _repeat_size(low, high, _size(inner, ops), ops.MAXREPEAT)
    return total


def _repeat_size(low: int, high: int, inner: int, unbounded: int) -> int:
    if high == unbounded:
        return low * inner + (inner + 1 if low == 0 else 1)
    return low * inner + (high - low) * (inner + 1)
