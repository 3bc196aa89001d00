"""Materialize a config directory as it was at a Git revision (for ``gitxds diff``)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from gitxds.gitops.gitcmd import GitError, run_git, work_tree_root


def config_at_revision(config_dir: Path, revision: str, into: Path) -> Path:
    """Extract ``config_dir`` as of ``revision`` below ``into``; returns the extracted directory.

    A directory that did not exist at that revision comes back empty (everything is "added").
    """
    root = work_tree_root(config_dir)
    if root is None:
        raise GitError(f"{config_dir} is not inside a Git work tree, so it has no revision {revision}")
    rel = config_dir.resolve().relative_to(root.resolve())
    run_git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    target = into / rel
    target.mkdir(parents=True, exist_ok=True)
    spec = "." if str(rel) == "." else str(rel)
    proc = subprocess.run(
        ["git", "archive", "--format=tar", revision, "--", spec],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        if b"did not match any files" in proc.stderr:
            return target
        raise GitError(f"git archive failed: {proc.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(into, filter=_keep_links)
    return target


def _keep_links(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """Links are extracted as they are, wherever they point: the config loader refuses those that
    leave the config directory with a diagnostic (it never follows them), as it does in a work tree."""
    if member.issym():
        return tarfile.tar_filter(member, path)
    return tarfile.data_filter(member, path)
