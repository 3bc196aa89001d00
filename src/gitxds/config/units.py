"""Parsing of the small string formats users write: durations, rates and names.

Each parser raises :class:`ValueError` with a message a person can act on; the schema turns those
into diagnostics with a reason code.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = [
    "DURATION_UNITS_MS",
    "RATE_UNITS_SECONDS",
    "RateValue",
    "check_name",
    "format_duration",
    "format_rate",
    "parse_duration",
    "parse_rate",
]

DURATION_UNITS_MS: dict[str, int] = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
RATE_UNITS_SECONDS: dict[str, int] = {"second": 1, "minute": 60, "hour": 3600}

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h))+")
_RATE = re.compile(r"\s*(\d+)\s*/\s*([a-z]+)\s*")
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_NAME_MAX = 63
_RATE_MAX = 2**32 - 1  # Envoy token buckets hold a uint32
_DURATION_MAX_MS = 365 * 24 * 3_600_000  # no proxy setting needs more; protobuf caps far higher


@dataclass(frozen=True, slots=True)
class RateValue:
    """``requests`` per ``per_seconds`` (1, 60 or 3600)."""

    requests: int
    per_seconds: int


@functools.lru_cache(maxsize=1024)  # a few spellings (30s, 1s, 250ms) recur in every document
def parse_duration(text: str) -> int:
    """``"250ms"``, ``"1.5s"``, ``"5m"``, ``"1h"`` or a sum such as ``"1m30s"`` -> milliseconds."""
    if not _DURATION.fullmatch(text):
        raise ValueError(f'"{text}" is not a duration: write a number and a unit (ms, s, m, h), e.g. 30s')
    total = 0.0
    for number, unit in _DURATION_PART.findall(text):
        total += float(number) * DURATION_UNITS_MS[unit]
    millis = round(total)
    if abs(total - millis) > 1e-6:
        raise ValueError(f'"{text}" is finer than a millisecond')
    if millis > _DURATION_MAX_MS:
        raise ValueError(f'"{text}" is longer than a year (8760h), the longest duration gitxds accepts')
    return millis


def format_duration(millis: int) -> str:
    """The shortest spelling that :func:`parse_duration` reads back as ``millis``."""
    if millis == 0:
        return "0s"
    parts = []
    remaining = millis
    for unit in ("h", "m", "s", "ms"):
        size = DURATION_UNITS_MS[unit]
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_rate(text: str) -> RateValue:
    """``"20/minute"`` -> 20 requests per 60 seconds."""
    found = _RATE.fullmatch(text)
    if not found:
        raise ValueError(f'"{text}" is not a rate: write N/second, N/minute or N/hour, e.g. 20/minute')
    count, unit = int(found.group(1)), found.group(2)
    unit = unit.removesuffix("s") if unit.endswith("s") and unit != "s" else unit
    if unit not in RATE_UNITS_SECONDS:
        raise ValueError(f'"{text}": the unit must be second, minute or hour')
    if count < 1:
        raise ValueError(f'"{text}": a rate needs at least 1 request per unit')
    if count > _RATE_MAX:
        raise ValueError(f'"{text}": at most {_RATE_MAX} requests per unit')
    return RateValue(requests=count, per_seconds=RATE_UNITS_SECONDS[unit])


def format_rate(rate: RateValue) -> str:
    unit = next(name for name, seconds in RATE_UNITS_SECONDS.items() if seconds == rate.per_seconds)
    return f"{rate.requests}/{unit}"


def check_name(text: str) -> str:
    """Names are DNS labels: lower-case letters, digits and '-', at most 63 characters."""
    if len(text) > _NAME_MAX:
        raise ValueError(f'"{text}" is longer than {_NAME_MAX} characters')
    if not _NAME.fullmatch(text):
        raise ValueError(
            f'"{text}" is not a valid name: use lower-case letters, digits and "-", '
            "starting and ending with a letter or digit"
        )
    return text
