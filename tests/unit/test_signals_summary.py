"""Mergeable summaries: counts add, and percentiles of merged histograms are those of the union."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitxds.signals import AccessRecord, SignalStore
from gitxds.signals.summary import BUCKETS, BackendSummary, LogHistogram, SummaryError

NOW = 1_800_000_000.0
RECORD = AccessRecord(
    gateway="edge", route_rule="chat/0", backend="chat-v2", status=200, response_flags=frozenset(),
    duration_ms=10.0, ttft_ms=5.0, input_tokens=None, output_tokens=None, model="other", tier="other",
    key_hash="", timestamp=NOW,
)  # fmt: skip


def exact(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


@given(st.lists(st.floats(min_value=0.02, max_value=5_000_000.0), min_size=1, max_size=300))
def test_a_percentile_is_never_below_the_true_one_and_at_most_one_percent_above(values: list[float]) -> None:
    histogram = LogHistogram()
    for value in values:
        histogram.add(value)
    for fraction in (0.5, 0.95, 0.99):
        true = exact(values, fraction)
        read = histogram.percentile(fraction)
        assert read is not None and true - 0.001 <= read <= true * 1.01 + 0.001


@given(
    st.lists(st.floats(min_value=0.0, max_value=1e9), max_size=100),
    st.lists(st.floats(min_value=0.0, max_value=1e9), max_size=100),
)
def test_merging_two_histograms_is_the_histogram_of_both(left: list[float], right: list[float]) -> None:
    a, b, both = LogHistogram(), LogHistogram(), LogHistogram()
    for value in left:
        a.add(value)
        both.add(value)
    for value in right:
        b.add(value)
        both.add(value)
    a.merge(LogHistogram.from_json(json.loads(json.dumps(b.to_json()))))  # over the wire
    assert a == both


def records(count: int, **changes: object) -> list[AccessRecord]:
    return [replace(RECORD, **changes) for _ in range(count)]  # type: ignore[arg-type]


def test_two_replicas_merged_judge_the_union_not_either_half() -> None:
    """Replica A saw 980 fast answers; replica B 20 slow ones and the failures: p99 is B's, counts add."""
    replica_a, replica_b, union = (SignalStore(clock=lambda: NOW + 1) for _ in range(3))
    for store, batch in (
        (replica_a, records(980, duration_ms=20.0, ttft_ms=10.0)),
        (replica_b, records(10, duration_ms=1800.0, ttft_ms=900.0)),
        (replica_b, records(10, duration_ms=1800.0, ttft_ms=900.0, status=503)),
    ):
        for record in batch:
            store.record(record)
            union.record(record)
    merged = replica_a.summaries(["chat-v2"], NOW, NOW + 1)["chat-v2"]
    wire = json.loads(json.dumps(replica_b.summaries(["chat-v2"], NOW, NOW + 1)["chat-v2"].to_json()))
    merged.merge(BackendSummary.from_json(wire))
    window = merged.window("chat-v2")
    assert window == union.window(["chat-v2"], NOW, NOW + 1)["chat-v2"]
    assert (window.requests, window.failures) == (1000, 10)
    assert 1800 <= window.latency_p99_ms <= 1800 * 1.01  # type: ignore[operator]
    assert replica_a.window(["chat-v2"], NOW, NOW + 1)["chat-v2"].latency_p99_ms == pytest.approx(
        20, rel=0.01
    )
    assert 10 <= window.ttft_p95_ms <= 10.1  # type: ignore[operator]  # 2% slow: p95 stays fast


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        ([], "is an object"),
        ({"requests": -1, "failures": 0, "overloaded": 0}, "counts"),
        ({"requests": True, "failures": 0, "overloaded": 0}, "counts"),
        ({"requests": 1.5, "failures": 0, "overloaded": 0}, "counts"),
        ({"requests": 2**60, "failures": 0, "overloaded": 0}, "counts"),
        ({"requests": 1, "failures": 1, "overloaded": 1}, "more failures"),
        ({"requests": 1, "failures": 0, "overloaded": 0, "latencyMs": [[99_999, 1]]}, "out of range"),
        ({"requests": 1, "failures": 0, "overloaded": 0, "latencyMs": [[1, -1]]}, "out of range"),
        ({"requests": 1, "failures": 0, "overloaded": 0, "latencyMs": [[1, 2]]}, "more latencies"),
        ({"requests": 1, "failures": 0, "overloaded": 0, "ttftMs": {"1": 1}}, "a list"),
        ({"requests": 1, "failures": 0, "overloaded": 0, "ttftMs": [[1, 1, 1]]}, "two integers"),
        ({"requests": 9, "failures": 0, "overloaded": 0, "ttftMs": [[1, 0]] * (BUCKETS + 1)}, "at most"),
    ],
)
def test_a_summary_from_a_peer_is_checked(wire: object, why: str) -> None:
    with pytest.raises(SummaryError, match=why):
        BackendSummary.from_json(wire)


def test_values_outside_the_range_land_in_the_end_buckets() -> None:
    histogram = LogHistogram()
    for value in (0.0, -5.0, float("nan"), 1e12, float("inf")):
        histogram.add(value)
    assert len(histogram.counts) == 2 and histogram.total == 5
    assert histogram.percentile(0.0) == 0.01 and histogram.percentile(1.0) == pytest.approx(1e7, rel=0.01)
