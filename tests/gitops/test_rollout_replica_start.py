"""A replica that starts (or restarts) during a rollout driven by another replica serves the step the
Lease publishes from its very first version: never Git's new split, never the old one."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from fakes.kube_leases import FakeLeaseApi
from gitxds.gitops.rollout_lease import STATE_ANNOTATION, RolloutLease, lease_api
from gitxds.gitops.rollouts import RolloutDriver
from gitxds.gitops.service import GitxdsService
from gitxds.rollout import Rollouts, RuleRollout
from waiting import eventually

from .helpers import POLICY, options, run_service, write_config


def test_a_starting_follower_serves_the_published_step_from_its_first_version(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config", target="green")  # Git already declares the new split
    (config / "rollout.yaml").write_text(POLICY)
    with FakeLeaseApi() as fake:
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        rule = "chat/0"
        rollout = RuleRollout(rule, "careful", "c2", (("blue", 1),), (("green", 1),), ("green",), 0, 1.0, 1.0)
        driver = RolloutLease(lease_api(kubeconfig), "gitxds", "rollouts", "replica-z", duration_seconds=60)
        assert driver.sync(Rollouts({rule: (("green", 1),)}, {rule: rollout})).held

        async def first_version(service: GitxdsService) -> Any:
            return service.config_dump("edge")  # right after start: nothing adopted later yet

        dump = run_service(
            options(config, rollout_lease="gitxds/rollouts", kubeconfig=kubeconfig), first_version
        )
    action = dump["resources"]["routes"][0]["virtual_hosts"][0]["routes"][0]["route"]
    weights = {c["name"]: c["weight"] for c in action.get("weighted_clusters", {}).get("clusters", [])}
    assert weights and 100 * weights["green"] / sum(weights.values()) == 50, action


def test_the_driver_publishes_a_change_of_progress_at_once_not_at_the_next_renewal(tmp_path: Path) -> None:
    """A holder that stops between renewals must not leave its successor an older step."""
    with FakeLeaseApi() as fake:
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
        lease = RolloutLease(lease_api(kubeconfig), "gitxds", "rollouts", "replica-a", duration_seconds=60)
        driver = RolloutDriver(
            CollectorRegistry(), signals=None, state_file=None, tick_seconds=0.05, settle_seconds=0.0,
            logger=logging.getLogger("test"), lease=lease,
        )  # fmt: skip  # renews every 400 ticks (20s)
        rule = "chat/0"
        rollout = RuleRollout(rule, "careful", "c2", (("blue", 1),), (("green", 1),), ("green",), 1, 1.0, 1.0)
        moved = Rollouts({rule: (("green", 1),)}, {rule: rollout})

        def published() -> str:
            lease_object = fake.leases.get(("gitxds", "rollouts"), {})
            return str(lease_object.get("metadata", {}).get("annotations", {}).get(STATE_ANNOTATION, ""))

        async def scenario() -> None:
            stop = asyncio.Event()

            async def nothing(*_: Any) -> None:
                return None

            task = driver.start(nothing, git=None, sync=nothing, stop=stop)
            await eventually(lambda: driver.driving, 5, message="holds the lease")
            driver.controller.adopt(moved)  # the progress moves on (as a tick or a command would)
            await eventually(lambda: '"step":1' in published(), 5, message="published before a renewal (20s)")
            stop.set()
            await task

        asyncio.run(scenario())
