"""``gitxds serve``'s side of rollouts: the clock that drives them, rebuilds, and Git after a rollback.

The controller (:mod:`gitxds.rollout`) keeps the progress; this module gives it a clock task, turns
its rebuild requests into builds of the one writer (coalesced, on the event loop), and after a
rollback pushes a revert commit or records why it could not.

A step is a new value of one input, the rollout progress: the writer rebuilds what it serves with
that input replaced (``Reconciler.apply``), reading no file and no secret, and re-translating only the
routes whose weights moved. A version Envoy already accepted is not checked again for new weights.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from gitxds import ir
from gitxds.gitops.gitcmd import GitError
from gitxds.gitops.gitsync import GitSync
from gitxds.gitops.inputs import Inputs
from gitxds.gitops.rollback import push_revert, still_declared_note
from gitxds.gitops.rollout_lease import RolloutLease
from gitxds.rollout import Rollouts, RuleRollout, WindowSource
from gitxds.rollout.controller import ManualError, RolloutController
from gitxds.rollout.metrics import RolloutMetrics
from gitxds.rollout.store import StateStore

__all__ = ["Apply", "RolloutDriver", "with_progress"]

Change = Callable[[Inputs], Inputs]
FOLLOWER_READ_SECONDS = 1.0  # how often a replica that does not drive reads the Lease
Apply = Callable[[str, Change], Awaitable[Any]]  # Reconciler.apply: rebuild with some inputs replaced


def with_progress(controller: RolloutController) -> Change:
    """The served inputs with the controller's current progress applied to the same Git model."""

    def change(inputs: Inputs) -> Inputs:
        if inputs.rollouts is None:
            return inputs
        applied = controller.apply(inputs.rollouts.model, inputs.version)
        return replace(inputs, model=applied.served, rollouts=applied)

    return change


class RolloutDriver:
    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        signals: WindowSource | None,
        state_file: Path | None,
        tick_seconds: float,
        settle_seconds: float,
        logger: logging.Logger,
        lease: RolloutLease | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.controller = RolloutController(
            signals,
            metrics=RolloutMetrics(registry),
            store=StateStore(state_file, logger) if state_file is not None else None,
            clock=clock,
            settle_seconds=settle_seconds,
            logger=logger,
        )
        self.controller.on_rolled_back = self._on_rolled_back
        self._tick_seconds = tick_seconds
        self._log = logger
        self._loop: asyncio.AbstractEventLoop | None = None
        self._apply: Apply | None = None
        self._git: GitSync | None = None
        self._sync: Callable[[], Awaitable[Any]] | None = None
        self._pending: asyncio.Task[Any] | None = None
        self._again = False
        self._background: set[asyncio.Task[Any]] = set()
        self._lease = lease  # with several replicas: only the holder drives
        self.driving = lease is None
        self._published: Rollouts | None = None  # the progress last written into the Lease
        self.holder: str | None = None

    def start(
        self, apply: Apply, *, git: GitSync | None, sync: Callable[[], Awaitable[Any]], stop: asyncio.Event
    ) -> asyncio.Task[None]:
        self._loop = asyncio.get_running_loop()
        self._apply, self._git, self._sync = apply, git, sync
        self.controller.request_rebuild = self._request_rebuild
        return asyncio.create_task(self._drive(stop))

    async def prime(self) -> None:
        """Before the first version is built: with a Lease, take the driving replica's progress, so a
        replica that starts mid-rollout serves the published step from its first version on."""
        if self._lease is None:
            return
        try:
            await self._sync_lease(self._lease)
        except Exception:  # the API is away: the clock's next sync adopts the progress
            self._log.exception("could not read the rollout lease before serving")

    async def _drive(self, stop: asyncio.Event) -> None:
        renew_every = max(1, int(self._lease.duration / self._tick_seconds / 3)) if self._lease else 0
        # A follower reads the Lease every second: its proxies follow the holder's steps (and a
        # rollback) within about a second, for one GET a second to the API server.
        read_every = max(1, min(renew_every, round(FOLLOWER_READ_SECONDS / self._tick_seconds)))
        ticks = 0
        while not stop.is_set():
            try:
                # The holder publishes each change of progress at once (a holder that stops between
                # renewals would leave its successor an older step), and renews on schedule.
                changed = self.driving and self.controller.state is not self._published
                every = renew_every if self.driving else read_every
                if self._lease is not None and (ticks % every == 0 or changed):
                    await self._sync_lease(self._lease)
                if self.driving:
                    # In a worker: judging can wait (boundedly) on peer replicas' signals, and the
                    # event loop keeps serving xDS and the admin endpoint meanwhile.
                    await asyncio.to_thread(self.controller.tick)
            except Exception:  # the clock must outlive one bad tick or an API error; the next one retries
                self._log.exception("rollout tick failed")
            ticks += 1
            await asyncio.sleep(self._tick_seconds)

    async def _sync_lease(self, lease: RolloutLease) -> None:
        state = self.controller.state
        view = await asyncio.to_thread(lease.sync, state)
        was_driving, self.driving, self.holder = self.driving, view.held, view.holder
        self._published = state if view.held else None
        if view.state is not None and (not view.held or not was_driving):
            self.controller.adopt(
                view.state
            )  # a follower serves the holder's step; a new holder goes on from it

    def _request_rebuild(self, reason: str) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._schedule, reason)

    def _schedule(self, reason: str) -> None:
        if self._pending is not None and not self._pending.done():
            self._again = True  # one more build after the running one picks up everything
            return
        self._pending = asyncio.create_task(self._rebuild(reason))

    async def _rebuild(self, reason: str) -> None:
        assert self._apply is not None
        progress = with_progress(self.controller)
        await self._apply(reason, progress)
        while self._again:
            self._again = False
            await self._apply(reason, progress)

    # -- after a rollback ----------------------------------------------------------------------

    def _on_rolled_back(self, rollout: RuleRollout, policy: ir.RolloutPolicy) -> None:
        if policy.on_failure is not ir.OnFailure.REVERT:
            self.controller.annotate(
                rollout.rule, rollout.commit, still_declared_note(rollout, "onFailure: hold")
            )
            return
        if self._git is None or self._loop is None:
            why = "the config is a watched directory: gitxds pushes reverts only with --git-url"
            self.controller.annotate(rollout.rule, rollout.commit, still_declared_note(rollout, why))
            return
        # Called from the tick's worker thread (or the loop, for an operator's abort).
        self._loop.call_soon_threadsafe(self._start_revert, self._git, rollout, policy)

    def _start_revert(self, git: GitSync, rollout: RuleRollout, policy: ir.RolloutPolicy) -> None:
        task = asyncio.create_task(self._revert(git, rollout, policy))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _revert(self, git: GitSync, rollout: RuleRollout, policy: ir.RolloutPolicy) -> None:
        try:
            pushed = await push_revert(
                git.checkout, git.branch, rollout, policy, self._log, credentials=git.credentials
            )
        except GitError as exc:
            self._log.error("could not push a revert of %s: %s", rollout.commit[:12], exc)
            self.controller.annotate(rollout.rule, rollout.commit, still_declared_note(rollout, str(exc)))
            return
        note = f"rolled back; pushed revert {pushed} of {rollout.commit}"
        self.controller.annotate(rollout.rule, rollout.commit, note)
        assert self._sync is not None
        await self._sync()  # serve the revert now rather than at the next poll

    # -- admin ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        driver = {"driving": self.driving, "holder": self.holder} if self._lease is not None else {}
        return {**self.controller.status(), **driver}

    def command(self, action: str, rule: str | None) -> dict[str, Any]:
        """A manual command from the admin endpoint; raises ManualError when it cannot apply."""
        if not self.driving:
            raise ManualError(
                f"this replica does not drive rollouts; send it to {self.holder or 'the lease holder'}"
            )
        changed = self.controller.command(action, rule, who="the admin endpoint")
        self._log.warning(
            "rollout %s of %s by the admin endpoint", action, ", ".join(r["rule"] for r in changed)
        )
        return {"result": action, "rollouts": changed}
