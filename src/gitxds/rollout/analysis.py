"""Judging one interval of the new backends' traffic against a policy's thresholds.

The traffic comes from the gateway's own signals (:mod:`gitxds.signals`): any object with a
``window(backends, start, end)`` method returning per-backend aggregates will do, so this module
never imports the receiver and stays a pure function of numbers.

With several replicas the windows add up the traffic of every replica's proxies. A replica that did
not answer is named in the mapping's ``unanswered`` attribute (a tuple of "who: why"; absent means
everyone answered), and the verdict accounts for it: on partial data an interval can still FAIL (a
breach seen in part of the traffic is real traffic failing, and rolling back is the safe direction),
but it never PASSES (the missing traffic might breach), so it is INCONCLUSIVE and the step waits. Every
piece of evidence of such an interval names the replicas missing from it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from gitxds import ir

__all__ = ["Evidence", "Judgement", "Outcome", "WindowSource", "judge"]


class BackendTraffic(Protocol):
    """What one backend did over a window (``gitxds.signals.BackendWindow`` has this shape)."""

    @property
    def requests(self) -> int: ...
    @property
    def failures(self) -> int: ...
    @property
    def overloaded(self) -> int: ...
    @property
    def latency_p99_ms(self) -> float | None: ...
    @property
    def ttft_p95_ms(self) -> float | None: ...


class WindowSource(Protocol):
    def window(self, backends: Iterable[str], start: float, end: float) -> Mapping[str, BackendTraffic]: ...


class Outcome(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"  # fewer than minRequests: neither fails nor lets the step advance


@dataclass(frozen=True, slots=True)
class Evidence:
    """One metric of one backend over one interval, and whether it held."""

    backend: str
    metric: str  # successRate | latencyP99 | timeToFirstTokenP95 | overloadedRate
    value: float
    threshold: float
    unit: str  # "%" or "ms"
    requests: int
    interval_start: float
    interval_end: float
    held: bool
    unanswered: tuple[str, ...] = ()  # replicas whose proxies' traffic is missing from the values

    def __str__(self) -> str:
        relation = ">=" if self.metric == "successRate" else "<="
        verdict = "ok" if self.held else "FAILED"
        partial = f" (partial: {'; '.join(self.unanswered)})" if self.unanswered else ""
        return (
            f"{self.backend} {self.metric} {self.value:.4g}{self.unit} (wanted {relation} "
            f"{self.threshold:g}{self.unit}) over {self.requests} requests in "
            f"[{self.interval_start:.3f}, {self.interval_end:.3f}): {verdict}{partial}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "unit": self.unit,
            "requests": self.requests,
            "interval": [self.interval_start, self.interval_end],
            "held": self.held,
            "unanswered": list(self.unanswered),
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Evidence:
        start, end = data["interval"]
        return Evidence(
            backend=str(data["backend"]),
            metric=str(data["metric"]),
            value=float(data["value"]),
            threshold=float(data["threshold"]),
            unit=str(data["unit"]),
            requests=int(data["requests"]),
            interval_start=float(start),
            interval_end=float(end),
            held=bool(data["held"]),
            unanswered=tuple(str(u) for u in data.get("unanswered", ())),
        )


@dataclass(frozen=True, slots=True)
class Judgement:
    outcome: Outcome
    requests: int  # to the judged backends, in the interval
    evidence: tuple[Evidence, ...]
    unanswered: tuple[str, ...] = ()  # replicas whose traffic is missing (see the module's doc)

    @property
    def breaches(self) -> tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if not e.held)


def judge(
    analysis: ir.Analysis,
    windows: Mapping[str, BackendTraffic],
    backends: Iterable[str],
    start: float,
    end: float,
) -> Judgement:
    """The verdict of ``[start, end)``: every threshold checked per backend that had traffic."""
    names = tuple(backends)
    unanswered = tuple(getattr(windows, "unanswered", ()))
    requests = sum(windows[b].requests for b in names if b in windows)
    if requests < analysis.min_requests:
        return Judgement(Outcome.INCONCLUSIVE, requests, (), unanswered)
    evidence = tuple(
        replace(item, unanswered=unanswered)
        for name in names
        if name in windows and windows[name].requests > 0
        for item in _evidence(analysis, name, windows[name], start, end)
    )
    if any(not e.held for e in evidence):
        return Judgement(Outcome.FAILED, requests, evidence, unanswered)
    outcome = Outcome.INCONCLUSIVE if unanswered else Outcome.PASSED  # never pass on partial data
    return Judgement(outcome, requests, evidence, unanswered)


def _evidence(
    analysis: ir.Analysis, backend: str, traffic: BackendTraffic, start: float, end: float
) -> Iterable[Evidence]:
    n = traffic.requests

    def item(metric: str, value: float, threshold: float, unit: str, held: bool) -> Evidence:
        return Evidence(backend, metric, value, threshold, unit, n, start, end, held)

    if analysis.success_rate_min is not None:
        rate = 100.0 * (n - traffic.failures) / n
        yield item("successRate", rate, analysis.success_rate_min, "%", rate >= analysis.success_rate_min)
    if analysis.overloaded_rate_max is not None:
        rate = 100.0 * traffic.overloaded / n
        yield item(
            "overloadedRate", rate, analysis.overloaded_rate_max, "%", rate <= analysis.overloaded_rate_max
        )
    if analysis.latency_p99_max_ms is not None and traffic.latency_p99_ms is not None:
        p99, limit = traffic.latency_p99_ms, analysis.latency_p99_max_ms
        yield item("latencyP99", p99, limit, "ms", p99 <= limit)
    if analysis.ttft_p95_max_ms is not None and traffic.ttft_p95_ms is not None:
        p95, limit = traffic.ttft_p95_ms, analysis.ttft_p95_max_ms
        yield item("timeToFirstTokenP95", p95, limit, "ms", p95 <= limit)
