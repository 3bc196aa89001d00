"""``gitxds serve --git-url``: clone, follow the branch on a poll and on POST /sync (a push webhook)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path

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
