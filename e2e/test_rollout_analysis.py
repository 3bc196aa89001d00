"""Rollouts judged on the gateway's own signals: Envoy streams its access logs to gitxds (ALS).

Real Envoy, real upstreams, real git with a local bare remote. A bad chat-v2 (5xx, a slow first
token, 429s) is rolled back in one push and the remote gets a revert carrying the evidence; too
little traffic holds the step.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import wait_for
from harness.client import HttpClient, stream_events
from rollout_stack import PATH, RolloutStack, Traffic, plain_request, policy

INTERVAL = 2.0
SETTLE = 1.5  # Envoy flushes access logs every second; an interval is judged this long after it ends


def streaming_request(client: HttpClient) -> tuple[str, int]:
    body = {"model": "chat", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    head, events, _ = stream_events(client.port, PATH, method="POST", body=body, read_timeout=10)
    return head.upstream or "envoy", head.status if events else 0


ANALYSIS = (
    f"{{interval: {INTERVAL:g}s, minRequests: 10, failureLimit: 1, successRate: {{min: 95%}}, "
    "latencyP99: {max: 5s}, timeToFirstTokenP95: {max: 800ms}, overloadedRate: {max: 2%}}"
)


@pytest.fixture
def analysed_stack(tmp_path: Path) -> Iterator[RolloutStack]:
    steps = "[{weight: 20, pause: 30s}, {weight: 60, pause: 30s}]"
    stack = RolloutStack(tmp_path, policy(steps, analysis=ANALYSIS), settle=f"{SETTLE:g}s")
    yield stack
    stack.close()


def _rolled_back(stack: RolloutStack, commit: str, timeout: float) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        data = stack.admin("/rollouts")
        for rollout in (*data["current"], *data["ended"]):
            if rollout["commit"] == commit and rollout["phase"] == "rolled-back":
                return dict(rollout)
        return None

    result: dict[str, Any] = wait_for(found, timeout, message="rollout rolled back")
    return result


def _zero_on_v2_at(stack: RolloutStack, timeout: float) -> float:
    wait_for(
        lambda: stack.envoy_share("chat-v2") == 0.0, timeout, interval=0.01, message="Envoy at 0% chat-v2"
    )
    return time.time()


def _roll_out_and_fail(
    stack: RolloutStack, traffic: Traffic, metric: str
) -> tuple[dict[str, Any], float, str]:
    stack.wait_serving_only("chat-v1")
    commit = stack.push("chat-v2", "move chat to chat-v2")
    traffic.start()
    try:
        stack.wait_rollout(lambda r: r["commit"] == commit, 10, "rollout started")
        zero_at = _zero_on_v2_at(stack, timeout=30)
        rollout = _rolled_back(stack, commit, timeout=10)
    finally:
        traffic.stop()
    breaches = [e for e in rollout["evidence"] if not e["held"]]
    assert breaches and {e["metric"] for e in breaches} == {metric}, rollout["evidence"]
    assert all(e["backend"] == "chat-v2" and e["requests"] >= 10 for e in breaches)
    return rollout, zero_at, commit


def _revert_on_remote(stack: RolloutStack, commit: str) -> str:
    def revert() -> str | None:
        return next((e for e in stack.remote_log() if f"This reverts commit {commit}" in e), None)

    message: str = wait_for(revert, 15, message="revert commit on the remote")
    return message


def test_errors_roll_back_within_one_interval_and_git_gets_the_revert(analysed_stack: RolloutStack) -> None:
    stack = analysed_stack
    stack.v2.configure(fail_status=500, fail_mode="every", fail_count=5)  # 20% of v2's answers
    traffic = Traffic(stack.port, plain_request, per_second=100)
    rollout, zero_at, commit = _roll_out_and_fail(stack, traffic, "successRate")

    first_failure = rollout["firstFailureAt"]
    decided = max(e["interval"][1] for e in rollout["evidence"])
    assert decided - first_failure <= INTERVAL + 0.01  # the very next interval decided
    print(f"end of first failing interval -> Envoy at 0% on chat-v2: {zero_at - first_failure:.2f}s")
    assert zero_at - first_failure <= INTERVAL + SETTLE + 1.0  # + the tick (0.2s) and the push

    during = [a for a in traffic.answers if rollout["startedAt"] <= a[0] <= zero_at]  # the rollout's life
    bad = sum(1 for _, upstream, _ in during if upstream == "chat-v2")
    failed = sum(1 for _, upstream, status in during if upstream == "chat-v2" and status >= 500)
    print(
        f"bad version answered {bad}/{len(during)} = {100 * bad / len(during):.1f}% of requests "
        f"({100 * failed / len(during):.1f}% failed); bound: step weight 20% x failure rate 20% = 4%"
    )
    assert failed / len(during) <= 0.2 * 0.2 + 0.03

    message = _revert_on_remote(stack, commit)
    assert "successRate" in message and "chat-v2" in message
    head = stack.remote_log()[0].split("\x00")[0]
    wait_for(
        lambda: stack.admin("/status")["config"]["served"]["version"] == head, 15, message="revert served"
    )
    stack.wait_serving_only("chat-v1")


def test_a_slow_first_token_rolls_back_on_time_to_first_token(analysed_stack: RolloutStack) -> None:
    stack = analysed_stack
    stack.v1.configure(sse_interval=0.05, sse_duration=0.1)
    stack.v2.configure(sse_interval=0.05, sse_duration=0.1, sse_first_delay=1.5)
    traffic = Traffic(stack.port, streaming_request, per_second=80, threads=24)
    rollout, _, _ = _roll_out_and_fail(stack, traffic, "timeToFirstTokenP95")
    slow = next(e for e in rollout["evidence"] if not e["held"])
    assert slow["value"] >= 1500


def test_provider_overload_rolls_back_on_overloaded_rate(analysed_stack: RolloutStack) -> None:
    stack = analysed_stack
    stack.v2.configure(fail_status=429, fail_mode="every", fail_count=10)  # 10% of v2's answers
    traffic = Traffic(stack.port, plain_request, per_second=100)
    _, _, commit = _roll_out_and_fail(stack, traffic, "overloadedRate")
    assert "overloadedRate" in _revert_on_remote(stack, commit)


def test_too_little_traffic_holds_the_step(tmp_path: Path) -> None:
    analysis = "{interval: 1s, minRequests: 50, failureLimit: 0, successRate: {min: 95%}}"
    steps = "[{weight: 50, pause: 1s}, {weight: 80, pause: 1s}]"
    stack = RolloutStack(tmp_path, policy(steps, analysis=analysis), settle=f"{SETTLE:g}s")
    try:
        stack.wait_serving_only("chat-v1")
        commit = stack.push("chat-v2", "move chat to chat-v2")
        trickle = Traffic(stack.port, plain_request, per_second=10).start()  # ~5 a second reach chat-v2
        try:
            stack.wait_rollout(lambda r: r["commit"] == commit, 10, "rollout started")
            wait_for(
                lambda: stack.metric("gitxds_rollout_intervals_total", outcome="inconclusive") >= 4,
                15,
                message="four inconclusive intervals",
            )
            held = stack.rollout()
            assert held is not None and (held["phase"], held["step"]) == ("progressing", 0)
            assert stack.envoy_share("chat-v2") == 50.0
        finally:
            trickle.stop()
        busy = Traffic(stack.port, plain_request, per_second=200).start()
        try:
            done = stack.wait_rollout(lambda r: r["phase"] == "done", 20, "rollout done once traffic grows")
        finally:
            busy.stop()
        assert done["commit"] == commit
    finally:
        stack.close()
