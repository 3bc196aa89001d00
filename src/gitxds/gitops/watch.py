"""Watch a config directory and turn bursts of file events into single reload requests.

Handles how config really changes on disk: editors that write a temp file and rename it over the
original, ``git checkout``/``pull`` touching many files at once, and git-sync's atomic swap of a
symlink (the config dir is a link whose target is replaced).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import watchfiles

_GIT = f"{os.sep}.git{os.sep}"
# What a commit or checkout moves in a Git directory: the version (the commit) changes with them even
# when no file does (committing what was already on disk turns "<sha>-dirty" into the new sha).
_GIT_COMMIT_MARKERS = (f"{_GIT}HEAD", f"{_GIT}refs{os.sep}", f"{_GIT}packed-refs")


def _relevant(change: watchfiles.Change, path: str) -> bool:
    name = os.path.basename(path)
    # Editors' swap and backup files never hold config; .git internals are not config either,
    # except the refs a commit moves (never the index: each reload's `git status` rewrites it).
    if name.endswith(("~", ".swp", ".swx", ".tmp", ".lock")) or name.startswith(".#"):
        return False
    if _GIT in path:
        return any(marker in path for marker in _GIT_COMMIT_MARKERS)
    return True


class ConfigWatcher:
    """Calls ``on_change()`` once per burst of changes below ``config_dir``.

    ``quiet_ms``: a burst ends after this long without events (the short debounce). The watcher looks
    every ``quiet_ms`` and a burst ends on the first look that finds nothing new, so every change
    waits one to two of them before its reload (see docs/operations.md for the trade-off).
    ``max_delay_ms``: a steady stream of writes still triggers a reload at least this often.
    """

    def __init__(
        self,
        config_dir: Path,
        on_change: Callable[[], Awaitable[None]],
        *,
        quiet_ms: int = 5,
        max_delay_ms: int = 500,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config_dir = config_dir
        self._on_change = on_change
        self._quiet_ms = quiet_ms
        self._max_delay_ms = max_delay_ms
        self._log = logger or logging.getLogger("gitxds.watch")
        self.armed = asyncio.Event()  # set once the OS watch is in place: no change can be missed after

    def _watched_paths(self) -> list[Path]:
        """The resolved config dir, plus the folder holding each symlink on the way to it.

        git-sync swaps a link (``/git/current``) that may be the config dir itself or one of its
        ancestors (``/git/current/config``): the swap shows up only in the folder holding the link.
        """
        paths = [self.config_dir.resolve()]
        path = self.config_dir.absolute()
        for candidate in (path, *path.parents):
            if candidate.is_symlink():
                holder = candidate.parent.resolve()
                if holder not in paths:
                    paths.append(holder)
        return paths

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until ``stop`` is set, re-arming when the symlinked target changes."""
        while not stop.is_set():
            target = self.config_dir.resolve()
            async for _changes in watchfiles.awatch(
                *self._watched_paths(),
                watch_filter=_relevant,
                debounce=self._max_delay_ms,
                step=self._quiet_ms,
                stop_event=stop,
                recursive=True,
                force_polling=False,
                yield_on_timeout=True,  # an empty first yield tells us the watch is in place
                rust_timeout=200,
            ):
                self.armed.set()
                if not _changes:
                    continue
                await self._on_change()
                if self.config_dir.resolve() != target:
                    self._log.info("config dir now points at %s", self.config_dir.resolve())
                    break  # re-arm on the new target
