"""What version of the config is being served: the commit, or a content hash outside Git."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gitxds.gitops.gitcmd import GitError, run_git, work_tree_root
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


class ConfigVersion:
    """The version of what one read of the config directory saw: the commit (:func:`git_version`) in a
    Git work tree, else the content hash of the files read.

    ``git status`` runs beside the read instead of after it (a process, ~5-20 ms at 10k files):
    :meth:`begin` before reading, then the function it returns with the files read.
    """

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self._in_work_tree: bool | None = None  # asked on the first read: a --git-url clone appears then
        self._files = FilesVersion()
        self._git = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gitxds-git-version")

    def begin(self) -> Callable[[Iterable[tuple[str, bytes]]], str]:
        if self._in_work_tree is None:
            self._in_work_tree = work_tree_root(self.config_dir) is not None
        commit = self._git.submit(git_version, self.config_dir) if self._in_work_tree else None

        def version(files: Iterable[tuple[str, bytes]]) -> str:
            return (commit.result() if commit is not None else None) or self._files(files)

        return version
