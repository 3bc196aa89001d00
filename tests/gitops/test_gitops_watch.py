"""The directory watcher follows how config really changes on disk."""

from __future__ import annotations

import os
from pathlib import Path

from gitxds.gitops.service import GitxdsService
from waiting import eventually

from .helpers import git, options, route, routed_cluster, run_service, write_config


def test_an_editor_write_then_rename_is_served(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config")

    async def body(service: GitxdsService) -> None:
        assert routed_cluster(service) == "blue"
        temp = config / ".route.yaml.swp"
        temp.write_text(route("green"))
        os.replace(temp, config / "route.yaml")
        await eventually(lambda: routed_cluster(service) == "green")

    run_service(options(config), body)


def test_a_git_sync_symlink_swap_is_served(tmp_path: Path) -> None:
    root = tmp_path / "git"
    write_config(root / "rev-1", "blue")
    write_config(root / "rev-2", "green")
    link = root / "current"
    link.symlink_to(root / "rev-1")

    async def body(service: GitxdsService) -> None:
        assert routed_cluster(service) == "blue"
        # git-sync swaps the link atomically: a new link is renamed over the old one.
        staged = root / "current.tmp"
        staged.symlink_to(root / "rev-2")
        os.replace(staged, link)
        await eventually(lambda: routed_cluster(service) == "green")
        write_config(root / "rev-3", "blue")
        staged.symlink_to(root / "rev-3")
        os.replace(staged, link)  # a second swap: the watcher re-armed on the new target
        await eventually(lambda: routed_cluster(service) == "blue")

    run_service(options(link), body)


def test_a_git_checkout_is_served_with_its_commit_as_version(tmp_path: Path) -> None:
    repo = write_config(tmp_path / "repo", "blue")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "blue")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "route.yaml").write_text(route("green"))
    git(repo, "commit", "-qam", "green")
    second = git(repo, "rev-parse", "HEAD")

    async def body(service: GitxdsService) -> None:
        served = service.reconciler.status.served
        assert served is not None and served.version == second
        git(repo, "checkout", "-q", first)
        await eventually(lambda: routed_cluster(service) == "blue")
        served = service.reconciler.status.served
        assert served is not None and served.version == first
        (repo / "route.yaml").write_text(route("green"))
        await eventually(lambda: routed_cluster(service) == "green")
        served = service.reconciler.status.served
        assert served is not None and served.version == f"{first}-dirty"

    run_service(options(repo), body)


def test_a_burst_of_writes_is_one_reload(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config")

    async def body(service: GitxdsService) -> None:
        def served() -> float:
            return service.metrics.config_reloads.labels(result="served")._value.get()

        before = served()
        for target in ("green", "blue", "green", "blue", "green"):
            (config / "route.yaml").write_text(route(target))
        await eventually(lambda: routed_cluster(service) == "green")
        # One more change, served after anything the burst could still cause: two reloads in all.
        (config / "route.yaml").write_text(route("blue"))
        await eventually(lambda: routed_cluster(service) == "blue")
        assert served() - before == 2

    run_service(options(config, watch_quiet_ms=50), body)


def test_a_swap_of_a_symlinked_ancestor_is_served(tmp_path: Path) -> None:
    """git-sync's layout: the config is a folder inside the swapped link; old worktrees stay."""
    root = tmp_path / "git"
    write_config(root / "wt-1" / "config", "blue")
    write_config(root / "wt-2" / "config", "green")
    (root / "current").symlink_to(root / "wt-1")

    async def body(service: GitxdsService) -> None:
        assert routed_cluster(service) == "blue"
        staged = root / "current.tmp"
        staged.symlink_to(root / "wt-2")
        os.replace(staged, root / "current")
        await eventually(lambda: routed_cluster(service) == "green")

    run_service(options(root / "current" / "config"), body)


def test_committing_what_is_on_disk_is_served_under_the_new_commit(tmp_path: Path) -> None:
    repo = write_config(tmp_path / "repo", "blue")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "blue")
    first = git(repo, "rev-parse", "HEAD")

    async def body(service: GitxdsService) -> None:
        (repo / "route.yaml").write_text(route("green"))
        await eventually(lambda: service.reconciler.status.served.version == f"{first}-dirty")
        git(repo, "commit", "-qam", "green")  # no file below the config dir changes
        second = git(repo, "rev-parse", "HEAD")
        await eventually(lambda: service.reconciler.status.served.version == second)

    run_service(options(repo), body)
