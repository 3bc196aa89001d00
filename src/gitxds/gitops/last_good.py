"""A replica started while its branch head is invalid serves the last good commit, found in Git.

Nothing is stored: the last good version is found again from Git history by commit. Walking back
from HEAD along first parents (at most ``HISTORY_DEPTH`` commits), the newest commit whose config
passes every check -- the same build and Envoy check as any reload -- is what a replica that ran all
along would be serving, so every replica restarted on the same history serves the same version. Each
candidate is taken out with ``git archive`` into a private temporary directory, removed right after
(the repository itself is only read, so a read-only checkout works). A shallow clone only has the
history it fetched: give git-sync a ``--depth`` of at least the number of bad commits to survive.
"""

from __future__ import annotations

import logging
import tarfile
import tempfile
from pathlib import Path

from gitxds.gitops.gitcmd import GitError, run_git_async, work_tree_root
from gitxds.gitops.reconciler import Outcome, Reconciler

__all__ = ["HISTORY_DEPTH", "restore_last_good"]

HISTORY_DEPTH = 25


async def restore_last_good(
    reconciler: Reconciler, config_dir: Path, rejected: str, logger: logging.Logger
) -> Outcome | None:
    """Serve the newest good commit before ``rejected`` (the head's version); None when none is found
    or ``config_dir`` is not in a Git work tree."""
    root = work_tree_root(config_dir)
    if root is None:
        return None
    folder = config_dir.resolve().relative_to(root.resolve()).as_posix()
    try:
        listed = await run_git_async(
            root, "rev-list", "--first-parent", f"--max-count={HISTORY_DEPTH}", "HEAD"
        )
    except GitError as exc:
        logger.warning("cannot read Git history to find the last good config: %s", exc)
        return None
    for commit in listed.split():
        if commit == rejected:
            continue
        with tempfile.TemporaryDirectory(prefix="gitxds-last-good-") as scratch:
            try:
                directory = await _extract(root, commit, folder, Path(scratch))
            except GitError as exc:
                logger.warning("cannot take commit %s out of Git: %s", commit[:12], exc)
                continue
            why = {
                "version": commit,
                "head": rejected,
                "reason": "the head was refused when this replica started",
            }
            outcome = await reconciler.restore(
                directory, commit, f"restored {commit[:12]} from Git history", why
            )
        if outcome.accepted:
            logger.warning(
                "head %s is refused; serving %s, the newest good commit in its history", rejected, commit
            )
            return outcome
    logger.error("no good commit in the last %d of the history: serving nothing", HISTORY_DEPTH)
    return None


async def _extract(root: Path, commit: str, folder: str, scratch: Path) -> Path:
    archive = scratch / "config.tar"
    await run_git_async(root, "archive", "--format=tar", "-o", str(archive), commit, "--", folder)
    with tarfile.open(archive) as tar:
        tar.extractall(scratch / "tree", filter="data")  # no links out, no device files
    archive.unlink()
    return scratch / "tree" / folder
