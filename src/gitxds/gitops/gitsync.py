"""Keep a local clone of a remote Git repository up to date (``gitxds serve --git-url``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from pathlib import Path

from gitxds.gitops.gitauth import GitCredentials
from gitxds.gitops.gitcmd import NO_AUTH, GitAuth, GitError, redact_url_credentials, run_git_async
from gitxds.metrics import Metrics


def auth_of(credentials: GitCredentials | None) -> AbstractContextManager[GitAuth]:
    """The credentials for one command that talks to the remote, read from the secret store now."""
    return credentials.auth() if credentials is not None else contextlib.nullcontext(NO_AUTH)


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
        credentials: GitCredentials | None = None,
    ) -> None:
        self.url = url
        self.credentials = credentials  # from the secret store, for clone, fetch and the revert push
        self.checkout = checkout
        self.branch = branch
        self.poll_seconds = poll_seconds
        self._log = logger or logging.getLogger("gitxds.gitsync")
        self._lock = asyncio.Lock()
        self._metrics = metrics
        self.head: str | None = None
        self.last_error: str | None = None
        self.cloned = False
        self.clone_attempts = 0
        self._next_attempt_at: float | None = None  # loop time of the next clone attempt

    async def try_clone(self) -> bool:
        """One clone attempt; False (logged, shown in status) when the remote cannot be reached."""
        self.clone_attempts += 1
        try:
            await self.clone()
        except GitError as exc:
            self.last_error = str(exc)
            self._count("failed")
            self._log.warning("cannot clone %s (attempt %d): %s", redact_url_credentials(self.url),
                              self.clone_attempts, exc)  # fmt: skip
            return False
        self.cloned = True
        self.last_error = None
        return True

    async def clone_with_backoff(
        self, stop: asyncio.Event, first_delay: float = 1.0, max_delay: float = 60.0
    ) -> None:
        """Retry the clone, doubling the wait up to ``max_delay``, until it succeeds or ``stop`` is set."""
        delay = first_delay
        loop = asyncio.get_running_loop()
        while not self.cloned:
            self._next_attempt_at = loop.time() + delay
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                raise asyncio.CancelledError
            self._next_attempt_at = None
            if not await self.try_clone():
                delay = min(delay * 2, max_delay)
        self._log.info("cloned %s after %d attempt(s)", redact_url_credentials(self.url), self.clone_attempts)

    def clone_status(self) -> dict[str, object]:
        retry_in = None
        if self._next_attempt_at is not None:
            retry_in = round(max(0.0, self._next_attempt_at - asyncio.get_running_loop().time()), 3)
        return {
            "cloned": self.cloned,
            "clone_attempts": self.clone_attempts,
            "clone_retry_in_seconds": retry_in,
        }

    async def clone(self) -> str:
        """Clone (or reuse an existing clone of the same remote) and return the checked-out commit."""
        if (self.checkout / ".git").exists():
            await run_git_async(self.checkout, "remote", "set-url", "origin", self.url)
            return await self.sync()
        self.checkout.parent.mkdir(parents=True, exist_ok=True)
        with auth_of(self.credentials) as auth:
            await run_git_async(
                self.checkout.parent,
                "clone",
                "--quiet",
                "--branch",
                self.branch,
                "--single-branch",
                self.url,
                str(self.checkout),
                auth=auth,
            )
        self.head = await run_git_async(self.checkout, "rev-parse", "HEAD")
        return self.head

    async def sync(self) -> str:
        """Fetch the branch and move the checkout to it; returns the commit now checked out."""
        async with self._lock:
            try:
                with auth_of(self.credentials) as auth:
                    await run_git_async(self.checkout, "fetch", "--quiet", "origin", self.branch, auth=auth)
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
