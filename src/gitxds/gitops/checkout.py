"""Where a ``--git-url`` clone lives: a directory that belongs to one gitxds instance.

By default ``<tmp>/gitxds-<uid>/<repository>-<hash of URL and branch>``, made with mode 0700, so the
clone of one repository and branch is never served by an instance following another. While the
instance runs it holds an exclusive lock (``flock`` on ``<checkout>.lock``): a second instance of the
same repository and branch takes the next free slot (``-2``, ``-3``...), never the same directory.
An explicit ``--checkout-dir`` is locked the same way; if another instance holds it, serve refuses
to start. The lock goes with the process (a crash releases it). A checkout is kept after exit, so a
restart fetches instead of cloning; delete ``<tmp>/gitxds-<uid>`` to clean every checkout not in use.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
from pathlib import Path

from gitxds.errors import UsageError

__all__ = ["CheckoutLock", "claim_checkout", "default_checkouts_root"]

MAX_SLOTS = 16


class CheckoutLock:
    """An exclusive lock on one checkout directory, held until :meth:`release` or process exit."""

    def __init__(self, checkout: Path) -> None:
        self.checkout = checkout
        self.path = checkout.with_name(checkout.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def default_checkouts_root() -> Path:
    return Path(tempfile.gettempdir()) / f"gitxds-{os.getuid()}"


def _slot_name(url: str, branch: str) -> str:
    repository = re.sub(r"[^A-Za-z0-9._-]+", "-", url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))
    digest = hashlib.sha256(f"{url}\0{branch}".encode()).hexdigest()[:12]
    return f"{repository[:40] or 'repository'}-{digest}"


def claim_checkout(url: str, branch: str, explicit: Path | None = None) -> CheckoutLock:
    """Lock the checkout this instance will use: ``explicit``, or the first free default slot."""
    if explicit is not None:
        explicit.parent.mkdir(parents=True, exist_ok=True)
        lock = CheckoutLock(explicit)
        if not lock.acquire():
            raise UsageError(f"--checkout-dir {explicit} is in use by another gitxds ({lock.path} is locked)")
        return lock
    root = default_checkouts_root()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if root.stat().st_uid != os.getuid() or root.stat().st_mode & 0o077:
        raise UsageError(f"{root} must belong to this user and be private (mode 0700)")
    base = _slot_name(url, branch)
    for slot in range(1, MAX_SLOTS + 1):
        lock = CheckoutLock(root / (base if slot == 1 else f"{base}-{slot}"))
        if lock.acquire():
            return lock
    raise UsageError(f"{MAX_SLOTS} gitxds instances already follow {branch} of this repository here")
