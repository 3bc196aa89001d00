"""Keep a local clone of a remote Git repository up to date (``gitxds serve --git-url``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from gitxds.gitops.gitcmd import GitError, run_git_async
from gitxds.metrics import Metrics


class GitSync:
    """Clones ``url`` into ``checkout`` and fast-forwards it to the tip of ``branch`` on demand or on a poll.

    The checkout is reset hard to the fetched commit: the remote is the source of truth, local edits
    in the checkout are never kept.
    """

    def __init__(
        self,
        url: str,
        checkout: Path,
        *,
        branch: str = "main",
        poll_seconds: float = 15.0,
        logger: logging.Logger | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.url = url
        self.checkout = checkout
        self.branch = branch
        self.poll_seconds = poll_seconds
        self._log = logger or logging.getLogger("gitxds.gitsync")
        self._lock = asyncio.Lock()
        self._metrics = metrics
        self.head: str | None = None
        self.last_error: str | None = None

    async def clone(self) -> str:
        """Clone (or reuse an existing clone of the same remote) and return the checked-out commit."""
        if (self.checkout / ".git").exists():
            await run_git_async(self.checkout, "remote", "set-url", "origin", self.url)
            return await self.sync()
        self.checkout.parent.mkdir(parents=True, exist_ok=True)
        await run_git_async(
            self.checkout.parent,
            "clone",
            "--quiet",
            "--branch",
            self.branch,
            "--single-branch",
            self.url,
            str(self.checkout),
        )
        self.head = await run_git_async(self.checkout, "rev-parse", "HEAD")
        return self.head

    async def sync(self) -> str:
        """Fetch the branch and move the checkout to it; returns the commit now checked out."""
        async with self._lock:
            try:
                await run_git_async(self.checkout, "fetch", "--quiet", "origin", self.branch)
                await run_git_async(self.checkout, "reset", "--quiet", "--hard", "FETCH_HEAD")
                self.head = await run_git_async(self.checkout, "rev-parse", "HEAD")
                self.last_error = None
                self._count("fetched")
            except GitError as exc:
                self.last_error = str(exc)
                self._count("failed")
                self._log.warning("git sync failed, keeping %s: %s", self.head, exc)
                raise
            return self.head

    def _count(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.git_fetches.labels(result=result).inc()

    async def poll_forever(self, on_change: Callable[[str], Awaitable[None]]) -> None:
        """Fetch every ``poll_seconds``; call ``on_change(commit)`` when the tip moved."""
        while True:
            await asyncio.sleep(self.poll_seconds)
            before = self.head
            try:
                after = await self.sync()
            except GitError:
                continue
            if after != before:
                await on_change(after)
