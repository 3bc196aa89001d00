"""Rollouts through the real CLI, real git (a local bare remote), a real Envoy and real upstreams.

A commit moving chat from chat-v1 to chat-v2 is served step by step; operators pause, promote and
abort through the token-protected admin endpoint; an abort with onFailure: revert pushes a revert
commit to the remote, and Git then says what is served.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import wait_for
from harness.serve import ServeProcess
from rollout_stack import RolloutStack, measure_steps, policy

STEP_REQUESTS = 400  # at least this many per step are measured
# Envoy picks a weighted cluster at random per request: at 2500 requests a 60% step measures within
# 3 points 99.7% of the time (3 standard deviations); 400 would miss one run in five.
MEASURED_PER_STEP = 2500
TOLERANCE_POINTS = 3.0


@pytest.fixture
def healthy_stack(tmp_path: Path) -> Iterator[RolloutStack]:
    stack = RolloutStack(tmp_path, policy("[{weight: 20, pause: 4s}, {weight: 60, pause: 4s}]"))
    yield stack
    stack.close()


def test_healthy_rollout_serves_each_step_then_the_new_split(healthy_stack: RolloutStack) -> None:
    stack = healthy_stack
    stack.wait_serving_only("chat-v1")
    commit = stack.push("chat-v2", "move chat to chat-v2")
    first = stack.wait_rollout(lambda r: r["commit"] == commit, 10, "rollout started by the commit")
    assert first["summary"].startswith("rolling out, step 1 of 2")
    per_step, final = measure_steps(stack, batch=40, enough=MEASURED_PER_STEP, timeout=120)

    for step, weight in zip(sorted(per_step), (20, 60), strict=True):
        counts = per_step[step]
        total = sum(counts.values())
        share = 100.0 * counts["chat-v2"] / total
        print(f"step {step + 1}: chat-v2 {share:.1f}% of {total} requests (weight {weight})")
        assert total >= STEP_REQUESTS
        assert set(counts) == {"chat-v1", "chat-v2"}
        assert abs(share - weight) <= TOLERANCE_POINTS
    assert final["phase"] == "done"
    took = final["finishedAt"] - final["startedAt"] - final["heldSeconds"]
    print(f"rollout took {took:.2f}s for 8s of pauses (and was held {final['heldSeconds']:.2f}s to measure)")
    assert 8.0 <= took <= 8.0 + 1.0  # the driver ticks every 0.2s and waits 0.3s for access logs
    stack.wait_serving_only("chat-v2")
    status = stack.admin("/status")
    assert status["rollouts"]["current"][0]["summary"].startswith("done")


@pytest.fixture
def slow_stack(tmp_path: Path) -> Iterator[RolloutStack]:
    stack = RolloutStack(tmp_path, policy("[{weight: 50, pause: 10m}, {weight: 80, pause: 10m}]"))
    yield stack
    stack.close()


def test_pause_resume_promote_and_abort_with_a_revert_pushed(slow_stack: RolloutStack) -> None:
    stack = slow_stack
    stack.wait_serving_only("chat-v1")
    commit = stack.push("chat-v2", "move chat to chat-v2")
    stack.wait_rollout(lambda r: r["commit"] == commit, 10, "rollout started")
    wait_for(lambda: set(stack.tally(40)) == {"chat-v1", "chat-v2"}, 10, message="both versions answer")

    assert stack.serve.get("/rollouts")[0] == 401  # the admin token guards rollouts too
    assert stack.command("pause", "chat/0")[0] == 200
    assert stack.rollout()["phase"] == "paused"  # type: ignore[index]
    assert "rolling out, step 1 of 2 (paused): 50% on the new split" in stack.cli("status").stdout
    assert stack.command("resume")[0] == 200
    assert stack.rollout()["phase"] == "progressing"  # type: ignore[index]
    assert stack.command("pause", "other/0") == (404, {"error": "no active rollout of other/0"})

    assert stack.command("promote")[0] == 200
    stack.wait_serving_only("chat-v2")
    assert stack.command("promote")[0] == 404  # nothing left to promote

    # Back to chat-v1 (starts a rollout from chat-v2), then abort it: chat-v2 again, and Git says so.
    back = stack.push("chat-v1", "move chat back to chat-v1")
    stack.wait_rollout(lambda r: r["commit"] == back and r["phase"] == "progressing", 10, "second rollout")
    aborted = stack.cli("abort")
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    assert "chat/0" in aborted.stdout
    aborted_at = time.monotonic()
    stack.wait_serving_only("chat-v2")
    print(f"abort answered -> Envoy serving only the old split: {time.monotonic() - aborted_at:.2f}s")
    revert = wait_for(lambda: _revert_of(stack, back), 15, message="revert commit on the remote")
    assert "aborted by the admin endpoint" in revert
    ended = wait_for(
        lambda: [r for r in stack.admin("/rollouts")["ended"] if r["commit"] == back],
        10,
        message="rollout ended by the revert",
    )
    assert ended[0]["phase"] == "rolled-back"
    assert "pushed revert" in ended[0]["note"] and "Git moved on to" in ended[0]["note"]
    assert stack.admin("/rollouts")["current"] == []  # Git declares chat-v2 again: nothing to roll out
    stack.repo.git("pull", "--quiet", "origin", "main")
    assert "chat-v2" in (stack.repo.path / "routes" / "chat.yaml").read_text()
    head = stack.repo.head()  # the revert gitxds pushed
    wait_for(
        lambda: stack.admin("/status")["config"]["served"]["version"] == head, 10, message="revert served"
    )


def _revert_of(stack: RolloutStack, commit: str) -> str | None:
    return next((entry for entry in stack.remote_log() if f"This reverts commit {commit}" in entry), None)


def test_a_restart_resumes_the_rollout_at_its_step(tmp_path: Path) -> None:
    state = tmp_path / "rollouts.json"
    stack = RolloutStack(
        tmp_path, policy("[{weight: 30, pause: 3s}, {weight: 70, pause: 10m}]"), "--rollout-state", str(state)
    )
    try:
        stack.wait_serving_only("chat-v1")
        commit = stack.push("chat-v2", "move chat to chat-v2")
        before = stack.wait_rollout(lambda r: r["commit"] == commit and r["step"] == 1, 15, "second step")
        wait_for(lambda: abs(stack.envoy_share("chat-v2") - 70) < 0.01, 10, message="Envoy on step 2")
        stack.serve.stop()
        stack.serve = ServeProcess(Path("."), tmp_path, *stack.serve_args, xds_port=stack.serve.xds_port)
        after = stack.rollout()
        assert after is not None
        assert (after["commit"], after["step"], after["stepStartedAt"]) == (
            commit,
            1,
            before["stepStartedAt"],
        )
        assert after["summary"].startswith("rolling out, step 2 of 2: 70%")
        # The Envoy reconnects to the new process and is served the same step, never 0% or 100%.
        wait_for(
            lambda: stack.admin("/status")["proxies"], 45, message="Envoy reconnected"
        )  # its retry backoff grew
        assert abs(stack.envoy_share("chat-v2") - 70) < 0.01
    finally:
        stack.close()
