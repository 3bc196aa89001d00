"""Git changes while a rollout is under way, each with its one documented behaviour (docs/config.md,
"The behaviour of changes made during a rollout"): real git, ``gitxds serve``, Envoy and upstreams.

- a commit that leaves the rule's backends alone applies at once; the rollout keeps its step;
- a commit to yet another split restarts at step 1, from the split being left to the newest one;
- a commit reverting the change ends the rollout: the old split serves at once, nothing is pushed;
- a changed RolloutPolicy goes on at the same step number (the last, when it has fewer) with its
  new steps; a removed one ends the rollout and the split Git declares serves at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import UpstreamServer, wait_for
from harness.client import send_many, tally_upstreams
from rollout_stack import RolloutStack, policy

MODELS_ROUTE = """\
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {name: models}
spec:
  gateways: [edge]
  rules: [{matches: [{path: {prefix: /v1/models}}], backends: [{name: chat-v1}]}]
"""
V3_BACKEND = """\
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: chat-v3}}
spec: {{endpoints: [{{address: 127.0.0.1, port: {port}}}]}}
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[RolloutStack]:
    made = RolloutStack(tmp_path, policy("[{weight: 50, pause: 1s}, {weight: 80, pause: 10m}]"))
    yield made
    made.close()


def _start_rollout(stack: RolloutStack, step: int = 0) -> dict[str, Any]:
    stack.wait_serving_only("chat-v1")
    commit = stack.push("chat-v2", "move chat to chat-v2")
    weight = (50, 80)[step]
    rollout = stack.wait_rollout(
        lambda r: r["commit"] == commit and r["step"] == step, 15, f"step {step + 1}"
    )
    wait_for(lambda: stack.envoy_share("chat-v2") == weight, 10, message=f"Envoy at {weight}% on chat-v2")
    return rollout


def _served_version(stack: RolloutStack, commit: str) -> None:
    wait_for(
        lambda: (stack.admin("/status")["config"]["served"] or {}).get("version") == commit,
        15,
        message=f"{commit[:12]} served",
    )


def _ended(stack: RolloutStack, commit: str) -> dict[str, Any]:
    ended = [r for r in stack.admin("/rollouts")["ended"] if r["commit"] == commit]
    assert ended, stack.admin("/rollouts")
    return dict(ended[0])


def test_a_new_commit_mid_rollout_applies_at_once_or_restarts_the_rollout(stack: RolloutStack) -> None:
    started = _start_rollout(stack, step=1)

    # Another route in the next commit: served at once; the rollout keeps its step and its clock.
    stack.repo.write("routes/models.yaml", MODELS_ROUTE)
    unrelated = stack.push_commit("add the models route")
    _served_version(stack, unrelated)
    assert set(tally_upstreams(send_many(stack.port, 20, "/v1/models"))) == {"chat-v1"}
    rollout = stack.rollout()
    assert rollout is not None
    assert (rollout["commit"], rollout["step"], rollout["stepStartedAt"]) == (
        started["commit"],
        1,
        started["stepStartedAt"],
    )
    assert stack.envoy_share("chat-v2") == 80.0

    # Yet another split (chat-v3): step 1 again, from chat-v1 (the split being left) to chat-v3;
    # chat-v2 stops answering at once.
    v3 = UpstreamServer("chat-v3").start()
    try:
        backends = (stack.repo.path / "backends.yaml").read_text() + V3_BACKEND.format(port=v3.port)
        stack.repo.write("backends.yaml", backends)
        third = stack.push("chat-v3", "move chat to chat-v3 instead")
        restarted = stack.wait_rollout(lambda r: r["commit"] == third, 15, "rollout to chat-v3")
        assert restarted["step"] == 0 and restarted["summary"].startswith("rolling out, step 1 of 2: 50%")
        assert [b for b, _ in restarted["old"]] == ["chat-v1"] and [b for b, _ in restarted["new"]] == [
            "chat-v3"
        ]
        wait_for(lambda: set(stack.tally(40)) == {"chat-v1", "chat-v3"}, 10, message="chat-v1 and chat-v3")
        assert "chat-v2" not in stack.tally(200)
        assert _ended(stack, started["commit"])["note"] == f"ended at step 2 by {third}"
    finally:
        v3.stop()


def test_a_commit_reverting_the_change_ends_the_rollout_on_the_old_split(stack: RolloutStack) -> None:
    started = _start_rollout(stack)
    revert = stack.repo.revert(started["commit"])
    stack.repo.git("push", "--quiet", "origin", "HEAD:main")
    _served_version(stack, revert)
    stack.wait_serving_only("chat-v1")
    assert stack.envoy_share("chat-v2") == 0.0
    assert stack.rollout() is None  # Git declares what is served: nothing to roll out
    assert _ended(stack, started["commit"])["note"] == f"ended at step 1 by {revert}"
    assert "chat-v2" not in stack.tally(100)
    assert len(stack.remote_log()) == 3  # the first commit, the change and its revert: gitxds pushed none


def test_a_changed_policy_keeps_the_step_and_a_removed_one_ends_the_rollout(stack: RolloutStack) -> None:
    started = _start_rollout(stack, step=1)

    # New weights, same number of steps: the rollout goes on at step 2 with the new step's weight
    # (a policy with fewer steps would hold it at its last one).
    stack.repo.write("rollout.yaml", policy("[{weight: 20, pause: 10m}, {weight: 40, pause: 10m}]"))
    changed = stack.push_commit("gentler steps")
    _served_version(stack, changed)
    wait_for(lambda: stack.envoy_share("chat-v2") == 40.0, 10, message="Envoy at 40% on chat-v2")
    rollout = stack.rollout()
    assert rollout is not None and rollout["commit"] == started["commit"]
    assert rollout["summary"] == "rolling out, step 2 of 2: 40% on the new split"
    assert set(stack.tally(100)) == {"chat-v1", "chat-v2"}

    # No policy: the rollout ends and the split Git declares serves at once.
    stack.repo.git("rm", "--quiet", "rollout.yaml")
    removed = stack.push_commit("no rollout policy")
    _served_version(stack, removed)
    stack.wait_serving_only("chat-v2")
    assert stack.envoy_share("chat-v2") == 100.0
    assert stack.rollout() is None
    assert _ended(stack, started["commit"])["note"] == f"ended at step 2 by {removed}"
