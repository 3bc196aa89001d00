"""An in-memory signal source for unit tests of the rollout package, named as such.

It answers ``window(backends, start, end)`` from records the test adds, the way
``gitxds.signals.SignalStore`` does from Envoy's access logs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Traffic:
    backend: str
    requests: int
    failures: int = 0
    overloaded: int = 0
    latency_p99_ms: float | None = None
    ttft_p95_ms: float | None = None


@dataclass
class InMemorySignals:
    """Per backend, a list of (at, Traffic) buckets; a window sums the buckets inside it."""

    buckets: list[tuple[float, Traffic]] = field(default_factory=list)
    asked: list[tuple[tuple[str, ...], float, float]] = field(default_factory=list)

    def add(self, at: float, traffic: Traffic) -> None:
        self.buckets.append((at, traffic))

    def window(self, backends: Iterable[str], start: float, end: float) -> dict[str, Traffic]:
        names = tuple(backends)
        self.asked.append((names, start, end))
        found: dict[str, Traffic] = {}
        for at, t in self.buckets:
            if t.backend in names and start <= at < end:
                before = found.get(t.backend, Traffic(t.backend, 0))
                found[t.backend] = Traffic(
                    t.backend,
                    before.requests + t.requests,
                    before.failures + t.failures,
                    before.overloaded + t.overloaded,
                    max(filter(None, (before.latency_p99_ms, t.latency_p99_ms)), default=None),
                    max(filter(None, (before.ttft_p95_ms, t.ttft_p95_ms)), default=None),
                )
        return found
