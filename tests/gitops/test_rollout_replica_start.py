"""A replica that starts (or restarts) during a rollout driven by another replica serves the step the
Lease publishes from its very first version: never Git's new split, never the old one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fakes.kube_leases import FakeLeaseApi
from gitxds.gitops.rollout_lease import RolloutLease, lease_api
from gitxds.gitops.service import GitxdsService
from gitxds.rollout import Rollouts, RuleRollout

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
