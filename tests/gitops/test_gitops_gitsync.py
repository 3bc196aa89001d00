"""``gitxds serve --git-url``: clone, follow the branch on a poll and on POST /sync (a push webhook)."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import urllib.request
from pathlib import Path

import pytest

from gitxds.errors import UsageError
from gitxds.gitops.service import GitxdsService
from waiting import eventually

from .helpers import git, options, route, routed_cluster, run_service, write_config


def _remote_with_config(tmp_path: Path) -> tuple[Path, Path]:
    work = write_config(tmp_path / "work", "blue")
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "blue")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(remote))
    git(work, "remote", "add", "origin", str(remote))
    return work, remote


def _push(work: Path, target: str) -> str:
    (work / "route.yaml").write_text(route(target))
    git(work, "commit", "-qam", target)
    git(work, "push", "-q", "origin", "main")
    return git(work, "rev-parse", "HEAD")


def _post_sync(port: int) -> dict[str, object]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/sync", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, object] = json.load(response)
        return data


def test_post_sync_fetches_and_serves_the_pushed_commit(tmp_path: Path) -> None:
    work, remote = _remote_with_config(tmp_path)
    opts = options(Path("."), git_url=str(remote), checkout_dir=tmp_path / "checkout", git_poll_seconds=3600)

    async def body(service: GitxdsService) -> None:
        assert routed_cluster(service) == "blue"
        pushed = _push(work, "green")
        answer = await asyncio.to_thread(_post_sync, service.admin_port)
        assert answer["result"] == "served" and answer["version"] == pushed
        assert routed_cluster(service) == "green"
        assert service.status()["config"]["git"]["head"] == pushed

    run_service(opts, body)


def test_the_poll_follows_the_branch(tmp_path: Path) -> None:
    work, remote = _remote_with_config(tmp_path)
    opts = options(Path("."), git_url=str(remote), checkout_dir=tmp_path / "checkout", git_poll_seconds=0.1)

    async def body(service: GitxdsService) -> None:
        pushed = _push(work, "green")

        def served_pushed() -> bool:
            served = service.reconciler.status.served
            return served is not None and served.version == pushed

        await eventually(served_pushed)
        assert routed_cluster(service) == "green"

    run_service(opts, body)


def test_a_config_folder_inside_the_repository(tmp_path: Path) -> None:
    work = tmp_path / "work"
    write_config(work / "envoy" / "config", "green")
    (work / "README.md").parent.mkdir(parents=True, exist_ok=True)
    (work / "README.md").write_text("not config\n")
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "init")
    opts = options(Path("envoy/config"), git_url=str(work), checkout_dir=tmp_path / "checkout")

    async def body(service: GitxdsService) -> None:
        assert routed_cluster(service) == "green"

    run_service(opts, body)


def test_a_remote_unreachable_at_start_is_retried_with_backoff_and_shown_in_status(tmp_path: Path) -> None:
    remote = tmp_path / "later.git"  # nothing there yet
    opts = options(Path("."), git_url=str(remote), checkout_dir=tmp_path / "checkout", git_poll_seconds=3600)

    async def body(service: GitxdsService) -> None:
        assert not service.ready()
        git_status = service.status()["config"]["git"]
        assert git_status["cloned"] is False and git_status["clone_attempts"] >= 1
        assert "later.git" in git_status["last_error"]
        answer = await service.sync()
        assert answer["result"] == "not cloned yet"
        work = write_config(tmp_path / "work", "blue")  # the remote appears
        git(work, "init", "-q", "-b", "main")
        git(work, "add", "-A")
        git(work, "commit", "-qm", "blue")
        git(tmp_path, "clone", "-q", "--bare", str(work), str(remote))
        await eventually(service.ready, timeout=15, message="cloned on a retry and served")
        git_status = service.status()["config"]["git"]
        assert git_status["cloned"] is True and git_status["last_error"] is None
        assert git_status["clone_attempts"] >= 2 and routed_cluster(service) == "blue"

    run_service(opts, body)


def test_the_default_checkout_is_private_per_repository_and_never_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    _, first_remote = _remote_with_config(tmp_path / "one")
    work, second_remote = _remote_with_config(tmp_path / "two")
    _push(work, "green")

    async def main() -> None:
        services = [
            GitxdsService(options(Path("."), git_url=str(remote), git_poll_seconds=3600))
            for remote in (first_remote, second_remote, first_remote)
        ]
        for service in services:
            await service.start()
        try:
            checkouts = [service.status()["config"]["git"]["checkout"] for service in services]
            assert len(set(checkouts)) == 3  # the same repository twice: two checkouts, each locked
            root = Path(checkouts[0]).parent
            assert root == tmp_path / "tmp" / f"gitxds-{os.getuid()}" and root.stat().st_mode & 0o777 == 0o700
            assert [routed_cluster(s) for s in services] == ["blue", "green", "blue"]
            with pytest.raises(UsageError, match="in use by another gitxds"):
                GitxdsService(options(Path("."), git_url=str(first_remote), checkout_dir=Path(checkouts[0])))
        finally:
            for service in services:
                await service.stop(grace=0)

    asyncio.run(main())


def test_the_checkout_is_served_only_as_fetched_commits_never_half_reset(tmp_path: Path) -> None:
    """gitxds alone moves its checkout (fetch, then reset): it is not watched, so a tree read while
    `git reset` runs (new files under the old HEAD, "<old sha>-dirty") is never served."""
    work, remote = _remote_with_config(tmp_path)
    checkout = tmp_path / "checkout"
    opts = options(Path("."), git_url=str(remote), checkout_dir=checkout, git_poll_seconds=0.05)

    async def body(service: GitxdsService) -> None:
        (checkout / "route.yaml").write_text(route("green"))  # what a reset half done looks like
        pushed = _push(work, "green")
        await eventually(lambda: service.status()["config"]["served"]["version"] == pushed, timeout=10)
        assert [v for v in service.reconciler.detected_at if v.endswith("-dirty")] == []

    run_service(opts, body)
