"""The rollout controller: keeps rollout progress, moves it on with the clock, hands it to the writer.

It never touches the cache. The one writer asks :meth:`RolloutController.apply` for the model to
serve while it builds a version and calls :meth:`commit` when it publishes it; when the clock or an
operator moves a rollout on, the controller calls ``request_rebuild`` so the writer builds again.
Thread-safe: builds run off the event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from gitxds import ir
from gitxds.rollout.analysis import Judgement, WindowSource, judge
from gitxds.rollout.metrics import RolloutMetrics
from gitxds.rollout.plan import Rollouts, plan, policies_of, served_model, tick
from gitxds.rollout.state import Judge, Phase, RuleRollout
from gitxds.rollout.store import StateStore

__all__ = ["Applied", "ManualError", "RolloutController"]

RolledBack = Callable[[RuleRollout, ir.RolloutPolicy], None]


class ManualError(Exception):
    """A manual command that cannot apply (no such rollout, or it is over)."""


@dataclass(frozen=True)
class Applied:
    """A version as the writer will serve it: Git's model, the model served and the rollouts behind it."""

    model: ir.Model
    version: str
    served: ir.Model
    state: Rollouts
    base: Rollouts  # the controller's state this was planned from


class RolloutController:
    def __init__(
        self,
        signals: WindowSource | None,
        *,
        metrics: RolloutMetrics | None = None,
        store: StateStore | None = None,
        clock: Callable[[], float] = time.time,
        settle_seconds: float = 1.5,
        logger: logging.Logger | None = None,
    ) -> None:
        self._signals = signals
        self._metrics = metrics
        self._store = store
        self._clock = clock
        self._settle = (
            settle_seconds  # access logs arrive in batches: judge an interval this long after it ends
        )
        self._log = logger or logging.getLogger("gitxds.rollout")
        self._lock = threading.RLock()
        self._state = store.load() if store is not None else Rollouts()
        self._model: ir.Model | None = None  # Git's model of the version being served
        self._planned: tuple[ir.Model, str] | None = None  # what the state was last planned for
        self.request_rebuild: Callable[[str], None] = lambda reason: None
        self.on_rolled_back: RolledBack | None = None

    def use_signals(self, signals: WindowSource) -> None:
        """Where analysis reads the traffic of each interval (the gateway's own access logs)."""
        self._signals = signals

    # -- the writer's side ---------------------------------------------------------------------

    def apply(self, model: ir.Model, version: str) -> Applied:
        with self._lock:
            base = self._state
            if self._planned is not None and self._planned[0] is model and self._planned[1] == version:
                state = base  # a step of the version served: Git's model is the same object, so the plan
            else:
                state = plan(base, model, version, self._clock())
            return Applied(model, version, served_model(state, model), state, base)

    def commit(self, applied: Applied) -> None:
        """The writer published ``applied``: it is what every proxy is served now."""
        with self._lock:
            if applied.base is not self._state:  # moved on meanwhile: keep that progress
                self._set(plan(self._state, applied.model, applied.version, self._clock()))
                self.request_rebuild("rollout moved on during a build")
            else:
                self._set(applied.state)
            self._model = applied.model
            self._planned = (applied.model, applied.version)
            for rollout in applied.state.rollouts.values():
                if rollout.rule not in applied.base.rollouts and rollout.active:
                    self._log.info(
                        "rollout of %s started by %s: %s -> %s",
                        rollout.rule,
                        rollout.commit,
                        rollout.old,
                        rollout.new,
                    )

    # -- the clock -----------------------------------------------------------------------------

    def tick(self) -> bool:
        """Move every rollout on to now; True when what is served changed (a rebuild was requested).

        Judged outside the lock: judging may wait (boundedly) on peer replicas' signals, and builds,
        status and commands must not wait with it. When the state changed meanwhile (a commit, a
        command, adopted progress), that state wins and the next tick judges again.
        """
        with self._lock:
            model = self._model
            if model is None or not any(r.active for r in self._state.rollouts.values()):
                return False
            before = self._state
        judgements: list[tuple[str, Judgement]] = []
        moved = tick(before, model, self._clock() - self._settle, self._judging(judgements))
        with self._lock:
            if moved == before or self._state is not before:
                return False
            self._set(moved)  # judged intervals are kept even when nothing served changes
            changed = [
                r for name, r in moved.rollouts.items() if _served(r) != _served(before.rollouts.get(name))
            ]
        for rule, judgement in judgements:
            self._record(rule, judgement)
        policies = policies_of(model, (r.rule for r in changed))
        for rollout in changed:
            self._report(rollout, before.rollouts.get(rollout.rule), policies.get(rollout.rule))
        if changed:
            self.request_rebuild("rollout step")
        return bool(changed)

    def _judging(self, judgements: list[tuple[str, Judgement]]) -> Judge:
        def judged(rollout: RuleRollout, analysis: ir.Analysis, start: float, end: float) -> Judgement:
            windows = self._signals.window(rollout.backends, start, end) if self._signals is not None else {}
            judgement = judge(analysis, windows, rollout.backends, start, end)
            judgements.append((rollout.rule, judgement))
            return judgement

        return judged

    def _record(self, rule: str, judgement: Judgement) -> None:
        """Metrics and log lines of a judgement whose result was kept."""
        if self._metrics is not None:
            self._metrics.judged(rule, judgement)
        for evidence in judgement.breaches:
            self._log.warning("rollout of %s: %s", rule, evidence)

    def _report(
        self, rollout: RuleRollout, before: RuleRollout | None, policy: ir.RolloutPolicy | None
    ) -> None:
        if self._metrics is not None:
            self._metrics.observe(rollout, policy)
        if before is not None and before.step != rollout.step and rollout.active and policy is not None:
            self._log.info(
                "rollout of %s: step %d of %d (%d%% on the new split)",
                rollout.rule,
                rollout.step + 1,
                len(policy.steps),
                rollout.weight(policy),
            )
        if rollout.phase is Phase.DONE:
            self._log.info("rollout of %s done: %s", rollout.rule, rollout.note)
        if rollout.phase is Phase.ROLLED_BACK and (before is None or before.active):
            self._log.error("rollout of %s %s; evidence:", rollout.rule, rollout.note)
            for evidence in rollout.evidence:
                self._log.error("  %s", evidence)
            if self.on_rolled_back is not None and policy is not None:
                self.on_rolled_back(rollout, policy)

    # -- operators -----------------------------------------------------------------------------

    def command(self, action: str, rule: str | None = None, *, who: str = "operator") -> list[dict[str, Any]]:
        """``pause``, ``resume``, ``promote`` or ``abort`` one rollout (or every active one)."""
        with self._lock:
            targets = [
                r for r in self._state.rollouts.values() if r.active and (rule is None or r.rule == rule)
            ]
            if not targets:
                raise ManualError(f"no active rollout{f' of {rule}' if rule else ''}")
            before = self._state
            rollouts = dict(before.rollouts)
            for target in targets:
                rollouts[target.rule] = _commanded(target, action, who, self._clock())
            self._set(replace(before, rollouts=rollouts))
            model = self._model
        policies = policies_of(model, (t.rule for t in targets)) if model is not None else {}
        for target in targets:
            self._report(rollouts[target.rule], before.rollouts[target.rule], policies.get(target.rule))
        self.request_rebuild(f"rollout {action}")
        return [rollouts[t.rule].to_json() for t in targets]

    def adopt(self, state: Rollouts) -> None:
        """Serve the progress the driving replica published (this replica does not drive)."""
        with self._lock:
            before = self._state
            if state == before:
                return
            self._set(state)
            self._planned = None  # planned by the driving replica, maybe for another version
            changed = any(_served(r) != _served(before.rollouts.get(n)) for n, r in state.rollouts.items())
            changed = changed or set(state.rollouts) != set(before.rollouts)
        if changed:
            self.request_rebuild("rollout progress from the driving replica")

    def annotate(self, rule: str, commit: str, note: str) -> None:
        """Record what became of Git after ``rule``'s rollback (started by ``commit``)."""
        with self._lock:
            rollout = self._state.rollouts.get(rule)
            if rollout is None or rollout.commit != commit or rollout.phase is not Phase.ROLLED_BACK:
                return  # Git moved on meanwhile
            rollouts = {**self._state.rollouts, rule: replace(rollout, note=note)}
            self._set(replace(self._state, rollouts=rollouts))

    # -- reading -------------------------------------------------------------------------------

    @property
    def state(self) -> Rollouts:
        return self._state

    def status(self) -> dict[str, list[dict[str, Any]]]:
        """Every rollout with what it serves, and the latest ended ones, for /status and the CLI."""
        with self._lock:
            state, model = self._state, self._model
        rules = [*state.rollouts, *(r.rule for r in state.history)]
        policies = policies_of(model, rules) if model is not None else {}
        return {
            "current": [_describe(r, policies.get(r.rule)) for _, r in sorted(state.rollouts.items())],
            "ended": [_describe(r, policies.get(r.rule)) for r in state.history],
        }

    def _set(self, state: Rollouts) -> None:
        self._state = state
        if self._store is not None:
            self._store.save(state)


def _served(rollout: RuleRollout | None) -> tuple[Phase, int] | None:
    """What decides the weights a rollout serves."""
    return (rollout.phase, rollout.step) if rollout is not None else None


def _commanded(rollout: RuleRollout, action: str, who: str, now: float) -> RuleRollout:
    if action == "pause":
        return replace(rollout, phase=Phase.PAUSED, paused_at=rollout.paused_at or now)
    if action == "resume":
        held = now - rollout.paused_at if rollout.paused_at is not None else 0.0
        return replace(
            rollout,
            phase=Phase.PROGRESSING,
            paused_at=None,
            step_started_at=rollout.step_started_at + held,  # the step gets its whole pause again
            held_seconds=rollout.held_seconds + held,
        )
    if action == "promote":
        note = f"promoted by {who}: the new split is served"
        return replace(rollout, phase=Phase.DONE, note=note, finished_at=now)
    if action == "abort":
        return replace(
            rollout, phase=Phase.ROLLED_BACK, evidence=(), note=f"aborted by {who}", finished_at=now
        )
    raise ManualError(f"unknown action {action!r}: pause, resume, promote or abort")


def _describe(rollout: RuleRollout, policy: ir.RolloutPolicy | None) -> dict[str, Any]:
    data = rollout.to_json()
    steps = len(policy.steps) if policy else 0
    weight = rollout.weight(policy) if policy else 0
    data["weight"] = weight
    data["steps"] = steps
    if rollout.active:
        paused = " (paused)" if rollout.phase is Phase.PAUSED else ""
        data["summary"] = (
            f"rolling out, step {rollout.step + 1} of {steps}{paused}: {weight}% on the new split"
        )
    elif rollout.phase is Phase.ROLLED_BACK:
        data["summary"] = f"rolled back: {rollout.note}"
    else:
        data["summary"] = f"done: {rollout.note}"
    return data
