"""After a rollback, Git is told, or status says why it could not be: in-process serve, real git.

The rollback here is an operator's abort (the analysis path is the same ``on_rolled_back``).
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import generate_latest

from gitxds.gitops.service import GitxdsService
from waiting import eventually

from .helpers import git, options, route, run_service, write_config

POLICY = """\
apiVersion: gitxds.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: careful}
spec:
  routes: [chat]
  steps: [{weight: 50, pause: 10m}]
  onFailure: revert
"""


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
