"""Which files make up a config directory, and reading them without trusting them.

Every command and ``gitxds serve`` list and read files here, so they all see the same files in the
same order with the same diagnostics. The directory is usually a pull request's checkout, so nothing
in it is trusted:

- A symbolic link (to a file or a folder) is followed only when it resolves inside the config
  directory; one that leads outside is a ``LinkOutsideConfig`` diagnostic that names the link and
  never opens, quotes or names its target. A folder reached twice (a link back to an ancestor, or two
  links to one folder) is ``LinkCycle``. The directory itself may be a link, or sit below one (the
  git-sync layout swaps such a link): the boundary is where it resolves to when listing starts.
- Only regular files are read. A FIFO, device or socket with a config file's name is
  ``NotARegularFile``, found by ``stat`` before any ``open``; the open is non-blocking and the type is
  checked again on the open file, so a file swapped in between cannot hang the reader either.
- Sizes are bounded (:class:`Limits`): a file larger than ``max_file_bytes`` is ``FileTooLarge``
  without being read, and once the files read add up to ``max_total_bytes`` (or ``max_files``
  files) the rest are ``ConfigTooLarge``.
- Any error other than "the file is gone" while listing or reading is ``UnreadableFile`` for that
  file, never an exception. A file that disappears while being read is left out; the next change
  reloads.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from gitxds.errors import Diagnostic, Reason

__all__ = ["DEFAULT_LIMITS", "ConfigFile", "Limits", "Listing", "list_config_files", "read_config_file"]

CONFIG_SUFFIXES = (".yaml", ".yml")
_MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    max_file_bytes: int = 1 * _MiB
    max_total_bytes: int = 32 * _MiB
    max_files: int = 10_000


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A regular file to read: its path relative to the config directory (with ``/``), the real path
    to open (inside the directory), and a signature that changes whenever its content may have."""

    relpath: str
    path: str
    signature: tuple[int, int, int, int]  # (device, inode, size, mtime in ns)


@dataclass(frozen=True)
class Listing:
    files: tuple[ConfigFile, ...]  # sorted by relpath
    refused: tuple[Diagnostic, ...]  # entries that are not read, one diagnostic each


def list_config_files(root: Path, limits: Limits = DEFAULT_LIMITS) -> Listing:
    """Every ``*.yaml``/``*.yml`` file below ``root`` (hidden names skipped), sorted by path."""
    walk = _Walk(os.path.realpath(root), limits)
    walk.run()
    files = sorted(walk.files, key=lambda f: f.relpath)
    files, over = _within_totals(files, limits)
    refused = sorted([*walk.refused, *over], key=Diagnostic.sort_key)
    return Listing(tuple(files), tuple(refused))


def read_config_file(entry: ConfigFile, limits: Limits = DEFAULT_LIMITS) -> bytes | Diagnostic | None:
    """The file's bytes, a diagnostic saying why it is not read, or ``None`` when it is gone."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(entry.path, flags)
    except OSError as exc:
        return _open_failed(entry.relpath, exc)
    try:
        with os.fdopen(fd, "rb", closefd=True) as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):  # replaced since it was listed
                return _not_regular(entry.relpath, mode)
            content = handle.read(limits.max_file_bytes + 1)
    except OSError as exc:
        return _unreadable(entry.relpath, exc)
    if len(content) > limits.max_file_bytes:  # grew since it was listed
        return too_large(entry.relpath, len(content), limits)
    return content


def too_large(relpath: str, size: int, limits: Limits) -> Diagnostic:
    message = (
        f"the file has {size} bytes or more; a config file may have at most {limits.max_file_bytes} "
        "bytes, so it is not read (split it into several files)"
    )
    return Diagnostic(relpath, 0, "", Reason.FILE_TOO_LARGE, message)


class _Walk:
    """One listing: walks real folders below ``root``, following links that stay inside it.

    Links to folders are followed after every real folder was walked, so a folder reached twice is
    blamed on the link, never on the folder itself.
    """

    def __init__(self, root: str, limits: Limits) -> None:
        self.root = root
        self.limits = limits
        self.files: list[ConfigFile] = []
        self.refused: list[Diagnostic] = []
        self._folders: dict[tuple[int, int], str] = {}  # (device, inode) -> relpath of a folder walked
        self._linked_folders: list[tuple[str, str]] = []  # (real path, relpath of the link + "/")

    def run(self) -> None:
        self.folder(self.root, "")
        while self._linked_folders:
            self.folder(*self._linked_folders.pop(0))

    def folder(self, real: str, relpath: str) -> None:
        try:
            info = os.stat(real)
            seen = self._folders.setdefault((info.st_dev, info.st_ino), relpath)
            if seen != relpath:
                self.refused.append(_cycle(relpath, seen))
                return
            with os.scandir(real) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except FileNotFoundError:
            return  # removed while listing; the next change reloads
        except OSError as exc:
            self.refused.append(_unreadable(relpath or ".", exc))
            return
        for entry in entries:
            if not entry.name.startswith("."):
                self._entry(entry, f"{relpath}{entry.name}")

    def _entry(self, entry: os.DirEntry[str], relpath: str) -> None:
        is_config = entry.name.endswith(CONFIG_SUFFIXES)
        try:
            if entry.is_symlink():
                self._link(entry, relpath, is_config)
            elif entry.is_dir(follow_symlinks=False):
                self.folder(entry.path, f"{relpath}/")
            elif is_config:
                self._file(relpath, entry.path, entry.stat(follow_symlinks=False))
        except FileNotFoundError:
            return  # removed while listing
        except OSError as exc:
            self.refused.append(_unreadable(relpath, exc))

    def _link(self, entry: os.DirEntry[str], relpath: str, is_config: bool) -> None:
        target = os.path.realpath(entry.path)
        inside = target == self.root or target.startswith(self.root + os.sep)
        if not inside:
            # Only a config file's name or a folder would ever be read; other links are not looked at.
            if is_config or os.path.isdir(target):
                self.refused.append(_outside(relpath))
            return
        try:
            info = os.stat(target)
        except FileNotFoundError:
            if is_config:
                message = "a symbolic link to a file that does not exist"
                self.refused.append(Diagnostic(relpath, 0, "", Reason.UNREADABLE_FILE, message))
            return
        if stat.S_ISDIR(info.st_mode):
            self._linked_folders.append((target, f"{relpath}/"))
        elif is_config:
            self._file(relpath, target, info)

    def _file(self, relpath: str, real: str, info: os.stat_result) -> None:
        if not stat.S_ISREG(info.st_mode):
            self.refused.append(_not_regular(relpath, info.st_mode))
        elif info.st_size > self.limits.max_file_bytes:
            self.refused.append(too_large(relpath, info.st_size, self.limits))
        else:
            signature = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
            self.files.append(ConfigFile(relpath, real, signature))


def _within_totals(files: list[ConfigFile], limits: Limits) -> tuple[list[ConfigFile], list[Diagnostic]]:
    """The files that fit the directory's limits, in path order; each one past them is refused."""
    kept: list[ConfigFile] = []
    over: list[Diagnostic] = []
    total = 0
    for entry in files:
        total += entry.signature[2]
        if total > limits.max_total_bytes or len(kept) >= limits.max_files:
            message = (
                f"the config directory is over its limits ({limits.max_files} files, "
                f"{limits.max_total_bytes} bytes in all): this file and those after it are not read"
            )
            over.append(Diagnostic(entry.relpath, 0, "", Reason.CONFIG_TOO_LARGE, message))
        else:
            kept.append(entry)
    return kept, over


def _outside(relpath: str) -> Diagnostic:
    message = "a symbolic link that leads outside the config directory; it is not followed"
    return Diagnostic(relpath, 0, "", Reason.LINK_OUTSIDE_CONFIG, message)


def _cycle(relpath: str, seen: str) -> Diagnostic:
    where = seen.rstrip("/") or "the config directory itself"
    message = f"a symbolic link to a folder that is already read as {where}; each folder is read once"
    return Diagnostic(relpath.rstrip("/"), 0, "", Reason.LINK_CYCLE, message)


def _not_regular(relpath: str, mode: int) -> Diagnostic:
    kinds = {
        stat.S_IFIFO: "a FIFO (named pipe)",
        stat.S_IFSOCK: "a socket",
        stat.S_IFCHR: "a character device",
        stat.S_IFBLK: "a block device",
        stat.S_IFDIR: "a folder",
    }
    kind = kinds.get(stat.S_IFMT(mode), "not a regular file")
    message = f"{kind}, not a regular file; only regular files are read"
    return Diagnostic(relpath, 0, "", Reason.NOT_A_REGULAR_FILE, message)


def _open_failed(relpath: str, exc: OSError) -> Diagnostic | None:
    if exc.errno == errno.ENOENT:
        return None
    if exc.errno == errno.ELOOP:  # became a link since it was listed; the next listing decides
        message = "the file was replaced by a symbolic link while it was read"
        return Diagnostic(relpath, 0, "", Reason.UNREADABLE_FILE, message)
    return _unreadable(relpath, exc)


def _unreadable(relpath: str, exc: OSError) -> Diagnostic:
    # strerror only: the exception's text names the real path, which may be a link's target
    reason = exc.strerror or type(exc).__name__
    return Diagnostic(relpath, 0, "", Reason.UNREADABLE_FILE, f"cannot read it: {reason}")
