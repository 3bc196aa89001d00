"""Judging one interval: each threshold per new backend, and too little traffic as inconclusive."""

from __future__ import annotations

from gitxds import ir
from gitxds.rollout import Outcome, judge

from .memory_signals import Traffic

ALL = ir.Analysis(
    interval_ms=10_000,
    min_requests=50,
    failure_limit=0,
    success_rate_min=99.0,
    latency_p99_max_ms=2000,
    ttft_p95_max_ms=800,
    overloaded_rate_max=2.0,
)


def verdict(*traffic: Traffic) -> tuple[Outcome, list[tuple[str, str]]]:
    judged = judge(ALL, {t.backend: t for t in traffic}, [t.backend for t in traffic], 0.0, 10.0)
    return judged.outcome, [(e.backend, e.metric) for e in judged.breaches]


def test_within_every_threshold_passes() -> None:
    assert verdict(Traffic("v2", 100, 1, 2, 1500.0, 700.0)) == (Outcome.PASSED, [])


def test_each_threshold_fails_on_its_own_metric() -> None:
    assert verdict(Traffic("v2", 100, 2)) == (Outcome.FAILED, [("v2", "successRate")])
    assert verdict(Traffic("v2", 100, overloaded=3)) == (Outcome.FAILED, [("v2", "overloadedRate")])
    assert verdict(Traffic("v2", 100, latency_p99_ms=2100.0)) == (Outcome.FAILED, [("v2", "latencyP99")])
    slow_start = Traffic("v2", 100, ttft_p95_ms=1500.0)
    assert verdict(slow_start) == (Outcome.FAILED, [("v2", "timeToFirstTokenP95")])


def test_breaches_name_the_backend() -> None:
    assert verdict(Traffic("v2", 60), Traffic("v3", 60, 30)) == (Outcome.FAILED, [("v3", "successRate")])


def test_fewer_than_min_requests_is_inconclusive_even_when_all_fail() -> None:
    assert verdict(Traffic("v2", 49, 49)) == (Outcome.INCONCLUSIVE, [])


class Partial(dict[str, Traffic]):
    """Windows missing a replica's traffic, as the peer source reports them."""

    unanswered = ("http://10.0.0.7:9900: no answer in time",)


def test_partial_data_never_passes_but_can_fail_and_says_what_is_missing() -> None:
    healthy = judge(ALL, Partial(v2=Traffic("v2", 100)), ["v2"], 0.0, 10.0)
    assert healthy.outcome is Outcome.INCONCLUSIVE  # the missing replica's traffic might breach
    assert healthy.unanswered == Partial.unanswered and all(e.held for e in healthy.evidence)
    failing = judge(ALL, Partial(v2=Traffic("v2", 100, 20)), ["v2"], 0.0, 10.0)
    assert failing.outcome is Outcome.FAILED  # failures seen in part of the traffic are real
    [breach] = failing.breaches
    assert breach.unanswered == Partial.unanswered
    assert "partial: http://10.0.0.7:9900: no answer in time" in str(breach)
    assert type(breach).from_json(breach.to_json()) == breach
    too_few = judge(ALL, Partial(v2=Traffic("v2", 10, 10)), ["v2"], 0.0, 10.0)
    assert too_few.outcome is Outcome.INCONCLUSIVE
