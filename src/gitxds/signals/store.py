"""Bounded, windowed aggregates of access records: per backend (for rollouts) and per key (usage).

Memory is fixed by construction: one bucket per second for ``retention_seconds``, at most
``max_backends`` backends per second, each with two log-scale latency histograms (mergeable across
replicas: :mod:`gitxds.signals.summary`) holding at most ``max_histogram_buckets`` buckets in all,
and one more a histogram (past the budget, values are rounded up into buckets already open: a sender
spreading forged latencies over every bucket, backend and second cannot grow the store, only make
percentiles read high), at most
``max_keys`` keys per minute (further keys are added up under ``other``), ``max_dimensions``
gateway/rule/backend/model/tier totals, and the raw records of the last minute (capped per second).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from gitxds.signals.records import OTHER, AccessRecord, BackendWindow
from gitxds.signals.summary import BackendSummary

__all__ = ["SignalStore", "UsageTotals"]

# Raw records kept for snapshot_since (peers, replicas): the last minute, at most this many a second.
RECORDS_PER_SECOND = 500
RECORD_RETENTION_SECONDS = 60
Pricing = Callable[[str], tuple[float, float] | None]  # backend -> (input, output) price per million


@dataclass(slots=True)
class UsageTotals:
    requests: int = 0
    unknown_usage: int = 0  # answered without usage: counted here, never as zero tokens
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0

    def add(self, record: AccessRecord, price: tuple[float, float] | None) -> None:
        self.requests += 1
        if record.input_tokens is None or record.output_tokens is None:
            self.unknown_usage += 1
            return
        self.input_tokens += record.input_tokens
        self.output_tokens += record.output_tokens
        if price is not None:
            self.cost += (record.input_tokens * price[0] + record.output_tokens * price[1]) / 1_000_000

    def merge(self, other: UsageTotals) -> None:
        self.requests += other.requests
        self.unknown_usage += other.unknown_usage
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost += other.cost

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "total_tokens": self.input_tokens + self.output_tokens,
            "cost": round(self.cost, 6),
        }


class SignalStore:
    """Thread-safe; ``record`` is called by the access-log receiver, the rest by readers."""

    def __init__(
        self,
        *,
        retention_seconds: int = 900,
        max_backends: int = 1024,
        max_keys: int = 1000,
        max_dimensions: int = 10_000,
        max_histogram_buckets: int = 2_000_000,  # about 200 MB; real traffic opens a few dozen a second
        pricing: Pricing | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.retention_seconds = retention_seconds
        self.max_backends = max_backends
        self.max_keys = max_keys
        self.max_dimensions = max_dimensions
        self.max_histogram_buckets = max_histogram_buckets
        self.histogram_buckets = 0  # open in all the per-second summaries kept
        self.pricing: Pricing = pricing or (lambda backend: None)
        self._clock = clock
        self._lock = threading.Lock()
        self._seconds: OrderedDict[int, dict[str, BackendSummary]] = OrderedDict()
        self._minutes: OrderedDict[int, dict[str, UsageTotals]] = OrderedDict()
        self._records: OrderedDict[int, list[AccessRecord]] = OrderedDict()
        self._totals: dict[tuple[str, str, str, str, str], UsageTotals] = {}
        self.received = 0

    def record(self, entry: AccessRecord) -> None:
        price = self.pricing(entry.backend)
        now = self._clock()
        # The time is the sender's: one ahead of ours (or forged) never opens a bucket in the future,
        # where expiry would not reach it; one older than the retention only adds to the totals.
        second = min(int(entry.timestamp), int(now))
        with self._lock:
            self.received += 1
            self._expire(now)
            if second >= int(now) - self.retention_seconds:
                new_buckets = self.histogram_buckets < self.max_histogram_buckets
                self.histogram_buckets += self._backend_bucket(second, entry.backend).add(
                    entry, new_buckets=new_buckets
                )
                kept = self._records.setdefault(second, [])
                if len(kept) < RECORDS_PER_SECOND:
                    kept.append(entry)
                self._key_totals(second // 60, entry.key_hash).add(entry, price)
            self._dimension_totals(entry).add(entry, price)

    def _backend_bucket(self, second: int, backend: str) -> BackendSummary:
        buckets = self._seconds.setdefault(second, {})
        if backend not in buckets and len(buckets) >= self.max_backends:
            backend = OTHER
        return buckets.setdefault(backend, BackendSummary())

    def _key_totals(self, minute: int, key: str) -> UsageTotals:
        keys = self._minutes.setdefault(minute, {})
        if key not in keys and len(keys) >= self.max_keys:
            key = OTHER
        return keys.setdefault(key, UsageTotals())

    def _dimension_totals(self, entry: AccessRecord) -> UsageTotals:
        dimension = (entry.gateway, entry.route_rule, entry.backend, entry.model, entry.tier)
        if dimension not in self._totals and len(self._totals) >= self.max_dimensions:
            dimension = (entry.gateway, OTHER, OTHER, OTHER, OTHER)
        return self._totals.setdefault(dimension, UsageTotals())

    def _expire(self, now: float) -> None:
        oldest = int(now) - self.retention_seconds
        while self._seconds and next(iter(self._seconds)) < oldest:
            _, expired = self._seconds.popitem(last=False)
            self.histogram_buckets -= sum(summary.buckets for summary in expired.values())
        while self._records and next(iter(self._records)) < int(now) - RECORD_RETENTION_SECONDS:
            self._records.popitem(last=False)
        while self._minutes and next(iter(self._minutes)) < oldest // 60:
            self._minutes.popitem(last=False)

    def window(self, backends: Iterable[str], start: float, end: float) -> dict[str, BackendWindow]:
        """Each named backend's requests, failures, overloads, p99 latency and p95 TTFT in [start, end)."""
        return {name: summary.window(name) for name, summary in self.summaries(backends, start, end).items()}

    def summaries(self, backends: Iterable[str], start: float, end: float) -> dict[str, BackendSummary]:
        """Each named backend's mergeable summary of [start, end) (whole seconds: a request counts in
        the second it started)."""
        wanted = set(backends)
        merged = {name: BackendSummary() for name in wanted}
        with self._lock:
            for second, buckets in self._seconds.items():
                if start <= second < end:
                    for name in wanted & buckets.keys():
                        merged[name].merge(buckets[name])
        return merged

    def snapshot_since(self, start: float) -> list[dict[str, Any]]:
        """The records kept since ``start`` as plain dicts (JSON-ready), oldest first."""
        with self._lock:
            kept = [r for second, rs in self._records.items() if second >= int(start) for r in rs]
        return [
            {**asdict(r), "response_flags": sorted(r.response_flags)} for r in kept if r.timestamp >= start
        ]

    def usage(self, *, window_seconds: int = 3600, top: int = 20) -> dict[str, Any]:
        """Totals per gateway/rule/backend/model/tier since start, and the top keys of the window."""
        now = self._clock()
        with self._lock:
            keys: dict[str, UsageTotals] = {}
            for minute, totals in self._minutes.items():
                if minute * 60 >= now - window_seconds - 60:
                    for key, value in totals.items():
                        keys.setdefault(key, UsageTotals()).merge(value)
            dimensions = [
                {"gateway": d[0], "rule": d[1], "backend": d[2], "model": d[3], "tier": d[4], **t.as_dict()}
                for d, t in sorted(self._totals.items())
            ]
            received = self.received
        ranked = sorted(
            keys.items(), key=lambda item: (-item[1].input_tokens - item[1].output_tokens, item[0])
        )
        return {
            "received": received,
            "window_seconds": window_seconds,
            "top_keys": [{"key": key or "(none)", **totals.as_dict()} for key, totals in ranked[:top]],
            "totals": dimensions,
        }
