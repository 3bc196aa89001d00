"""What version of the config is being served: the commit, or a content hash outside Git."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gitxds.gitops.gitcmd import GitError, run_git
from gitxds.hashing import content_hash


def files_version(files: Iterable[tuple[str, bytes]]) -> str:
    """The config version outside Git: the content hash of (relative path, content) pairs, independent
    of their order."""
    return FilesVersion()(files)


class FilesVersion:
    """:func:`files_version`, hashing again only the files whose content is another object than last
    time (the loader hands back the very bytes it kept for a file it did not read again)."""

    def __init__(self) -> None:
        self._hashes: dict[str, tuple[bytes, str]] = {}

    def __call__(self, files: Iterable[tuple[str, bytes]]) -> str:
        hashes: dict[str, tuple[bytes, str]] = {}
        lines = []
        for relpath, data in sorted(files):
            known = self._hashes.get(relpath)
            digest = known[1] if known is not None and known[0] is data else content_hash(data)
            hashes[relpath] = (data, digest)
            lines.append(f"{relpath}\0{digest}\n")
        self._hashes = hashes
        return content_hash("".join(lines).encode())


def git_version(config_dir: Path) -> str | None:
    """``<commit sha>`` or ``<commit sha>-dirty`` when the config dir is in a Git work tree, else None.

    Only changes below ``config_dir`` make it dirty: other parts of a monorepo don't matter here.
    One ``git status`` call answers both questions, which keeps a reload to a single subprocess.
    """
    try:
        out = run_git(
            config_dir, "status", "--porcelain=v2", "--branch", "--untracked-files=normal", "--", "."
        )
    except (GitError, FileNotFoundError, NotADirectoryError):
        return None  # not a work tree
    sha = ""
    dirty = False
    for line in out.splitlines():
        if line.startswith("# branch.oid "):
            sha = line.removeprefix("# branch.oid ").strip()
        elif not line.startswith("#"):
            dirty = True
    if not sha or sha == "(initial)":
        return None  # a repository with no commit yet
    return f"{sha}-dirty" if dirty else sha
