"""Leader election for rollouts through the official Kubernetes client and a FAKE Lease API server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fakes.kube_leases import FakeLeaseApi
from gitxds.gitops.rollout_lease import RolloutLease, lease_api
from gitxds.rollout import Rollouts, RuleRollout


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def progress(step: int) -> Rollouts:
    rollout = RuleRollout("chat/0", "careful", "c2", (("v1", 1),), (("v2", 1),), ("v2",), step, 1.0, 1.0)
    return Rollouts({"chat/0": (("v2", 1),)}, {"chat/0": rollout})


def test_one_holder_publishes_progress_the_other_serves_it_and_takes_over_when_it_stops(
    tmp_path: Path,
) -> None:
    with FakeLeaseApi() as fake:
        api = lease_api(fake.write_kubeconfig(tmp_path / "kubeconfig"))
        clock = Clock()
        first = RolloutLease(api, "gitxds", "rollouts", "replica-a", duration_seconds=10, clock=clock)
        second = RolloutLease(api, "gitxds", "rollouts", "replica-b", duration_seconds=10, clock=clock)

        assert first.sync(progress(0)).held
        view = second.sync(Rollouts())
        assert (view.held, view.holder, view.state) == (False, "replica-a", progress(0))

        clock.now += dt.timedelta(seconds=5)
        assert first.sync(progress(1)).held  # renewed, with the next step
        assert second.sync(Rollouts()).state == progress(1)

        clock.now += dt.timedelta(seconds=11)  # replica-a stopped renewing
        taken = second.sync(Rollouts())
        assert (taken.held, taken.state) == (True, progress(1))  # goes on from where replica-a was
        assert fake.holder("gitxds", "rollouts") == "replica-b"
        assert not first.sync(progress(0)).held  # the old holder is told, and does not drive
