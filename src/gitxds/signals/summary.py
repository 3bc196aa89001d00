"""What a backend did over some seconds, in a form that adds up across seconds and across replicas.

Percentiles do not add up, so latencies are kept as counts in fixed log-scale buckets: bucket ``i``
holds the values in ``(GROWTH**(i-1), GROWTH**i]`` milliseconds. The boundaries are constants, the
same in every replica and every version, so merging is adding counts and a percentile of the merged
histogram is the percentile of the union of the replicas' traffic, within one bucket: it is read as
the bucket's upper bound, at most 1% above the true value (never below, so a threshold is never
passed by rounding). A fixed-bucket histogram was chosen over a sketch library because its wire form
(``[[bucket, count], ...]`` in JSON between replicas) is these few lines, with no library internals
in the contract between two gitxds versions. Memory is at most ``BUCKETS`` counts per histogram and
a few dozen in practice (a backend's latencies span a few orders of magnitude).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gitxds.signals.records import AccessRecord, BackendWindow

__all__ = ["BUCKETS", "BackendSummary", "LogHistogram", "SummaryError"]

GROWTH = 1.01  # each bucket 1% wider than the one below: percentiles within 1%
_LOG_GROWTH = math.log(GROWTH)
LOWEST_MS = 0.01  # values at or below fall in the lowest bucket
HIGHEST_MS = 10_000_000.0  # about 2.8 hours: values above fall in the highest bucket
_FIRST = math.ceil(math.log(LOWEST_MS) / _LOG_GROWTH)
_LAST = math.ceil(math.log(HIGHEST_MS) / _LOG_GROWTH)
BUCKETS = _LAST - _FIRST + 1


class SummaryError(ValueError):
    """A summary received from a peer that is not one gitxds writes (types, ranges, sizes)."""


def bucket_of(value_ms: float) -> int:
    if not value_ms > LOWEST_MS:  # also NaN
        return _FIRST
    if value_ms >= HIGHEST_MS:  # also infinity (a sender's "inf" parses as a float)
        return _LAST
    return math.ceil(math.log(value_ms) / _LOG_GROWTH)


def upper_bound(bucket: int) -> float:
    return LOWEST_MS if bucket <= _FIRST else float(GROWTH**bucket)


@dataclass(slots=True)
class LogHistogram:
    counts: Counter[int] = field(default_factory=Counter)
    total: int = 0

    def add(self, value_ms: float, count: int = 1, *, new_buckets: bool = True) -> int:
        """Counts ``value_ms``; returns how many buckets it opened (0 or 1). Without ``new_buckets``
        (the store's memory budget is spent) a value whose bucket is not open yet is counted in the
        nearest open bucket above it, else in the highest bucket: rounded up, never down, so a
        percentile can only read higher and a threshold is never passed by the budget."""
        bucket = bucket_of(value_ms)
        if bucket not in self.counts and not new_buckets:
            bucket = min((b for b in self.counts if b > bucket), default=_LAST)
        opened = int(bucket not in self.counts)
        self.counts[bucket] += count
        self.total += count
        return opened

    def merge(self, other: LogHistogram) -> None:
        self.counts.update(other.counts)
        self.total += other.total

    def percentile(self, fraction: float) -> float | None:
        """The nearest-rank percentile (the smallest value with ``fraction`` of values at or below)."""
        if self.total == 0:
            return None
        rank = max(1, math.ceil(fraction * self.total))
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return round(upper_bound(bucket), 3)
        return round(upper_bound(max(self.counts)), 3)  # not reached: counts add up to total

    def to_json(self) -> list[list[int]]:
        return [[bucket, count] for bucket, count in sorted(self.counts.items()) if count]

    @staticmethod
    def from_json(data: Any) -> LogHistogram:
        if not isinstance(data, list) or len(data) > BUCKETS:
            raise SummaryError(f"a histogram is a list of at most {BUCKETS} [bucket, count] pairs")
        histogram = LogHistogram()
        for pair in data:
            if not (isinstance(pair, list) and len(pair) == 2 and all(type(n) is int for n in pair)):
                raise SummaryError("a histogram entry is [bucket, count], two integers")
            bucket, count = pair
            if not (_FIRST <= bucket <= _LAST and 0 <= count <= MAX_COUNT):
                raise SummaryError(f"histogram entry {pair} is out of range")
            histogram.counts[bucket] += count
            histogram.total += count
        return histogram


MAX_COUNT = 2**53  # exact in JSON numbers everywhere


@dataclass(slots=True)
class BackendSummary:
    """Requests, failures, overloads and latency histograms of one backend; ``merge`` adds another."""

    requests: int = 0
    failures: int = 0  # 5xx, upstream reset, timeout (not 429)
    overloaded: int = 0  # 429, or 503 with the overflow/overload response flag
    latency: LogHistogram = field(default_factory=LogHistogram)
    ttft: LogHistogram = field(default_factory=LogHistogram)  # first upstream body byte

    def add(self, record: AccessRecord, *, new_buckets: bool = True) -> int:
        """Counts ``record``; returns how many histogram buckets it opened (see LogHistogram.add)."""
        self.requests += 1
        self.failures += record.failed
        self.overloaded += record.overloaded
        opened = self.latency.add(record.duration_ms, new_buckets=new_buckets)
        if record.ttft_ms is not None:
            opened += self.ttft.add(record.ttft_ms, new_buckets=new_buckets)
        return opened

    @property
    def buckets(self) -> int:
        """Histogram buckets held (what the store's memory budget counts)."""
        return len(self.latency.counts) + len(self.ttft.counts)

    def merge(self, other: BackendSummary) -> None:
        self.requests += other.requests
        self.failures += other.failures
        self.overloaded += other.overloaded
        self.latency.merge(other.latency)
        self.ttft.merge(other.ttft)

    def window(self, backend: str) -> BackendWindow:
        return BackendWindow(
            backend=backend,
            requests=self.requests,
            failures=self.failures,
            overloaded=self.overloaded,
            latency_p99_ms=self.latency.percentile(0.99),
            ttft_p95_ms=self.ttft.percentile(0.95),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "overloaded": self.overloaded,
            "latencyMs": self.latency.to_json(),
            "ttftMs": self.ttft.to_json(),
        }

    @staticmethod
    def from_json(data: Any) -> BackendSummary:
        if not isinstance(data, Mapping):
            raise SummaryError("a backend summary is an object")
        counts = [data.get(key) for key in ("requests", "failures", "overloaded")]
        if not all(type(n) is int and 0 <= n <= MAX_COUNT for n in counts):
            raise SummaryError("requests, failures and overloaded are counts (non-negative integers)")
        requests, failures, overloaded = counts
        assert requests is not None and failures is not None and overloaded is not None
        if failures + overloaded > requests:
            raise SummaryError("more failures and overloads than requests")
        latency = LogHistogram.from_json(data.get("latencyMs", []))
        ttft = LogHistogram.from_json(data.get("ttftMs", []))
        if latency.total > requests or ttft.total > requests:
            raise SummaryError("more latencies than requests")
        return BackendSummary(requests, failures, overloaded, latency, ttft)
