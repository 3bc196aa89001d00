"""The layout the manifests rely on: gitxds serves ``/git/current/config`` while git-sync checks each
commit out into a new worktree, swaps the ``current`` symlink, then deletes the old worktree.
``GitxdsService`` runs in-process on a directory laid out the same way."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from gitxds.gitops.service import GitxdsService, ServeOptions
from waiting import eventually

GATEWAY = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {name: edge}
spec:
  proxies: {cluster: edge}
  listeners: [{name: http, port: PORT, address: 127.0.0.1}]
"""


def check_out(root: Path, worktree: str, port: int) -> None:
    (root / worktree / "config").mkdir(parents=True)
    (root / worktree / "config" / "gateway.yaml").write_text(GATEWAY.replace("PORT", str(port)))


def swap(root: Path, new: str, old: str) -> None:
    """What git-sync does for a new commit: an atomic symlink swap, then the old worktree goes."""
    os.symlink(new, root / "current.new")
    os.rename(root / "current.new", root / "current")
    shutil.rmtree(root / old)


def test_each_git_sync_swap_is_served(tmp_path: Path) -> None:
    check_out(tmp_path, "wt-1", 10001)
    os.symlink("wt-1", tmp_path / "current")
    options = ServeOptions(
        config_dir=tmp_path / "current" / "config",
        xds_address="127.0.0.1:0",
        admin_address="127.0.0.1:0",
        envoy_validate=False,
    )

    async def served_after(service: GitxdsService, previous: str) -> str:
        def new_version() -> str | None:
            served = service.reconciler.status.served
            return served.version if served is not None and served.version != previous else None

        return await eventually(new_version, message="the swapped commit is served")

    async def main() -> None:
        service = GitxdsService(options)
        await service.start()
        try:
            assert service.reconciler.status.served is not None
            first = service.reconciler.status.served.version
            for number in (2, 3):
                check_out(tmp_path, f"wt-{number}", 10000 + number)
                swap(tmp_path, f"wt-{number}", f"wt-{number - 1}")
                first = await served_after(service, first)
                dump = service.config_dump("edge")
                assert dump is not None
                [listener] = dump["resources"]["listeners"]
                assert listener["address"]["socket_address"]["port_value"] == 10000 + number
        finally:
            await service.stop(grace=0)

    asyncio.run(main())
