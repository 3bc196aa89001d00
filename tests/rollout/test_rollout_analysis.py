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
