"""SignalStore: windowed per-backend aggregates, per-key usage, and the bounds that keep it small."""

from __future__ import annotations

from dataclasses import replace

import pytest
from envoy.data.accesslog.v3.accesslog_pb2 import HTTPAccessLogEntry

from gitxds.signals import OTHER, AccessRecord, SignalStore, decode_entry, key_hash

NOW = 1_800_000_000.0


def record(**changes: object) -> AccessRecord:
    base = AccessRecord(
        gateway="edge",
        route_rule="chat/0",
        backend="chat-v1",
        status=200,
        response_flags=frozenset(),
        duration_ms=10.0,
        ttft_ms=5.0,
        input_tokens=3,
        output_tokens=4,
        model="gpt-4o",
        tier="free",
        key_hash=key_hash("sk-1"),
        timestamp=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def store(**kwargs: object) -> SignalStore:
    return SignalStore(clock=lambda: NOW + 1, **kwargs)  # type: ignore[arg-type]


def test_window_counts_failures_and_overloads_apart():
    signals = store()
    for status, flags in [(200, ""), (503, "UF"), (429, ""), (503, "UO"), (0, "UC"), (504, "UT")]:
        signals.record(record(status=status, response_flags=frozenset(flags.split(",")) - {""}))
    signals.record(record(backend="chat-v2"))
    window = signals.window(["chat-v1", "chat-v2", "absent"], NOW - 1, NOW + 1)
    assert (window["chat-v1"].requests, window["chat-v1"].failures, window["chat-v1"].overloaded) == (6, 3, 2)
    assert window["chat-v2"].requests == 1 and window["chat-v2"].failures == 0
    assert window["absent"].requests == 0 and window["absent"].latency_p99_ms is None


def test_window_percentiles_and_bounds_in_time():
    signals = store()
    for ms in range(1, 101):
        signals.record(record(duration_ms=float(ms), ttft_ms=float(ms) / 2))
    signals.record(record(timestamp=NOW - 30, duration_ms=10_000.0))
    window = signals.window(["chat-v1"], NOW, NOW + 1)["chat-v1"]
    assert window.requests == 100
    # A log-scale bucket's upper bound: never below the true value, at most 1% above.
    assert window.latency_p99_ms is not None and 99.0 <= window.latency_p99_ms <= 99.0 * 1.01 + 0.001
    assert window.ttft_p95_ms is not None and 47.5 <= window.ttft_p95_ms <= 47.5 * 1.01 + 0.001


def test_usage_totals_cost_and_unknown_usage():
    signals = store(pricing=lambda backend: (2.5, 10.0) if backend == "chat-v1" else None)
    signals.record(record(input_tokens=1000, output_tokens=2000))
    signals.record(record(input_tokens=None, output_tokens=None))
    usage = signals.usage()
    [row] = usage["totals"]
    assert (row["requests"], row["unknown_usage"], row["total_tokens"]) == (2, 1, 3000)
    assert row["cost"] == pytest.approx((1000 * 2.5 + 2000 * 10.0) / 1e6)
    assert usage["top_keys"][0]["key"] == key_hash("sk-1")


def test_per_key_state_has_a_fixed_size():
    signals = store(max_keys=10, max_dimensions=5)
    for index in range(1000):
        signals.record(record(key_hash=key_hash(f"sk-{index}"), route_rule=f"r/{index}"))
    usage = signals.usage(top=1000)
    assert len(usage["top_keys"]) == 11  # ten keys and "other"
    assert sum(k["requests"] for k in usage["top_keys"]) == 1000
    assert len(usage["totals"]) == 6 and any(t["rule"] == OTHER for t in usage["totals"])


def test_snapshot_since_is_plain_data():
    signals = store()
    signals.record(record(response_flags=frozenset({"UF"})))
    [snapshot] = signals.snapshot_since(NOW - 5)
    assert snapshot["backend"] == "chat-v1" and snapshot["response_flags"] == ["UF"]
    assert signals.snapshot_since(NOW + 5) == []


def test_decode_entry_folds_unknown_tiers_and_hashes_keys():
    entry = HTTPAccessLogEntry()
    common = entry.common_properties
    common.route_name = "chat/0"
    common.start_time.FromMicroseconds(int(NOW * 1_000_000))
    common.duration.FromMilliseconds(42)
    common.custom_tags.update(
        {"backend": "chat-v1", "model": "-", "flags": "UF,URX", "ttft_ms": "7", "key": "sk-1", "tier": "vip"}
    )
    common.metadata.filter_metadata["gitxds.ai"].update({"input_tokens": 5, "output_tokens": 6})
    entry.response.response_code.value = 503
    decoded = decode_entry(entry, "edge", "envoy-1", frozenset({"free"}))
    assert decoded.tier == OTHER and decoded.model == OTHER
    assert decoded.key_hash == key_hash("sk-1") and "sk-1" not in repr(decoded)
    assert (decoded.input_tokens, decoded.output_tokens, decoded.ttft_ms) == (5, 6, 7.0)
    assert decoded.response_flags == {"UF", "URX"} and decoded.failed
    no_usage = HTTPAccessLogEntry()
    assert decode_entry(no_usage, "edge", "n", frozenset()).usage_known is False


def test_a_sender_clock_or_forged_time_never_grows_the_windows():
    signals = store(retention_seconds=60)
    for offset in range(1, 2001):  # far future and far past, each second distinct
        signals.record(record(timestamp=NOW + offset * 86_400))
        signals.record(record(timestamp=NOW - offset * 86_400))
    assert len(signals._seconds) <= 2 and len(signals._records) <= 2 and len(signals._minutes) <= 2
    # A time ahead of ours counts now; one older than the retention counts only in the totals.
    assert signals.window(["chat-v1"], NOW, NOW + 2)["chat-v1"].requests == 2000
    assert signals.usage()["totals"][0]["requests"] == 4000


def test_decode_entry_cuts_long_values_and_hashes_the_whole_key():
    entry = HTTPAccessLogEntry()
    entry.common_properties.route_name = "r" * 100_000
    tags = entry.common_properties.custom_tags
    tags.update({"backend": "b" * 100_000, "model": "m" * 100_000, "flags": "UF," * 50_000})
    tags["key"] = "k" * 300 + "1"
    decoded = decode_entry(entry, "edge", "n" * 100_000, frozenset())
    assert len(decoded.route_rule) == len(decoded.backend) == len(decoded.model) == 256
    assert len(",".join(decoded.response_flags)) <= 256
    tags["key"] = "k" * 300 + "2"
    assert decode_entry(entry, "edge", "n", frozenset()).key_hash != decoded.key_hash


def test_forged_latencies_over_every_bucket_never_grow_the_histograms_past_the_budget():
    signals = store(max_histogram_buckets=40)
    latencies = [0.02 * 1.013**i for i in range(1500)]  # each in a bucket of its own
    for backend in ("chat-v1", "chat-v2"):
        for i, latency in enumerate(latencies):
            signals.record(
                record(backend=backend, duration_ms=latency, ttft_ms=latency, timestamp=NOW - i % 5)
            )
    held = sum(s.buckets for buckets in signals._seconds.values() for s in buckets.values())
    assert held == signals.histogram_buckets
    histograms = 2 * 2 * 5  # backends x (latency, TTFT) x seconds: each may also open the highest bucket
    assert held <= 40 + histograms
    window = signals.window(["chat-v1"], NOW - 10, NOW + 1)["chat-v1"]
    assert window.requests == 1500
    true_p99 = sorted(latencies)[int(0.99 * 1500) - 1]
    assert window.latency_p99_ms is not None and window.latency_p99_ms >= true_p99  # rounded up, never down


def test_expired_seconds_give_their_histogram_buckets_back():
    clock = [NOW]
    signals = SignalStore(clock=lambda: clock[0], retention_seconds=10)
    for i in range(20):
        signals.record(record(duration_ms=1.0 + i, timestamp=NOW))
    assert signals.histogram_buckets == 21  # 20 latencies, one TTFT
    clock[0] = NOW + 30
    signals.record(record(duration_ms=1.0, ttft_ms=None, timestamp=NOW + 30))
    assert signals.histogram_buckets == 1
