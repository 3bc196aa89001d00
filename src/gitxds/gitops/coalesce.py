"""Many callers, one run: a burst of ``POST /sync`` becomes one fetch and one build.

A caller joins the run that has not started yet, or queues one to start when the current run ends, so
every caller gets a result that reflects a fetch begun after it asked, and a burst costs at most one
run beyond the one already going. The first run of a burst waits ``gather_seconds`` for company.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["Coalesced"]


class Coalesced(Generic[T]):
    def __init__(self, work: Callable[[], Awaitable[T]], *, gather_seconds: float = 0.05) -> None:
        self._work = work
        self._gather_seconds = gather_seconds
        self._queued: asyncio.Future[T] | None = None  # not started: new callers join it
        self._latest: asyncio.Future[T] | None = None  # the newest run, started or not
        self.runs = 0

    async def __call__(self) -> T:
        if self._queued is None:
            self._queued = asyncio.ensure_future(self._run(self._latest))
            self._latest = self._queued
        # shield: one caller giving up (a closed connection) never cancels the others' run
        return await asyncio.shield(self._queued)

    async def _run(self, previous: asyncio.Future[T] | None) -> T:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])  # its outcome belongs to its own callers
        else:
            await asyncio.sleep(self._gather_seconds)  # debounce: let the rest of a burst arrive
        self._queued = None  # from here on, a caller needs a run that starts after this one
        self.runs += 1
        return await self._work()
