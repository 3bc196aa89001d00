"""One rule's rollout as data, and the pure step machine that moves it on (the clock is an argument).

A rollout is a value: every transition returns a new one, so it can be persisted, shared with other
replicas and tested with any clock. ``weight`` is what the rule serves on the new split right now.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from gitxds import ir
from gitxds.rollout.analysis import Evidence, Judgement, Outcome
from gitxds.rollout.split import Split

__all__ = ["Judge", "Phase", "RuleRollout", "advance"]

# Judges the interval [start, end) of a rollout's new backends.
Judge = Callable[["RuleRollout", ir.Analysis, float, float], Judgement]


class Phase(enum.StrEnum):
    PROGRESSING = "progressing"
    PAUSED = "paused"  # by an operator: the step is held; analysis still runs and can roll back
    ROLLED_BACK = "rolled-back"  # the old split is served until Git changes
    DONE = "done"  # the new split is served; the rollout is over


@dataclass(frozen=True, slots=True)
class RuleRollout:
    rule: str  # ir.Rule.name, "<route>/<rule>"
    policy: str
    commit: str  # the config version that started the rollout
    old: Split
    new: Split
    backends: tuple[str, ...]  # the new backends, judged by analysis
    step: int  # index into the policy's steps
    step_started_at: float
    interval_started_at: float
    phase: Phase = Phase.PROGRESSING
    failures: int = 0  # failing intervals over the whole rollout
    last_outcome: Outcome | None = None  # of the last interval judged in this step
    evidence: tuple[Evidence, ...] = ()  # of the interval that decided (or the last failing one)
    note: str = ""  # why it ended, what happened to Git
    started_at: float = 0.0
    first_failure_at: float | None = None  # end of the first failing interval
    paused_at: float | None = None  # an operator's pause does not count toward the step's pause
    held_seconds: float = 0.0  # how long operators held the rollout, in all
    finished_at: float | None = None  # when it was rolled back or done

    def weight(self, policy: ir.RolloutPolicy) -> int:
        """Percent of the rule's traffic served on the new split."""
        if self.phase is Phase.ROLLED_BACK:
            return 0
        if self.phase is Phase.DONE:
            return 100
        return policy.steps[min(self.step, len(policy.steps) - 1)].weight

    @property
    def active(self) -> bool:
        return self.phase in (Phase.PROGRESSING, Phase.PAUSED)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "policy": self.policy,
            "commit": self.commit,
            "old": [list(pair) for pair in self.old],
            "new": [list(pair) for pair in self.new],
            "backends": list(self.backends),
            "step": self.step,
            "stepStartedAt": self.step_started_at,
            "intervalStartedAt": self.interval_started_at,
            "phase": self.phase.value,
            "failures": self.failures,
            "lastOutcome": self.last_outcome.value if self.last_outcome else None,
            "evidence": [e.to_json() for e in self.evidence],
            "note": self.note,
            "startedAt": self.started_at,
            "firstFailureAt": self.first_failure_at,
            "pausedAt": self.paused_at,
            "heldSeconds": self.held_seconds,
            "finishedAt": self.finished_at,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> RuleRollout:
        return RuleRollout(
            rule=str(data["rule"]),
            policy=str(data["policy"]),
            commit=str(data["commit"]),
            old=tuple((str(b), int(w)) for b, w in data["old"]),
            new=tuple((str(b), int(w)) for b, w in data["new"]),
            backends=tuple(str(b) for b in data["backends"]),
            step=int(data["step"]),
            step_started_at=float(data["stepStartedAt"]),
            interval_started_at=float(data["intervalStartedAt"]),
            phase=Phase(data["phase"]),
            failures=int(data["failures"]),
            last_outcome=Outcome(data["lastOutcome"]) if data.get("lastOutcome") else None,
            evidence=tuple(Evidence.from_json(e) for e in data.get("evidence", ())),
            note=str(data.get("note", "")),
            started_at=float(data.get("startedAt", 0.0)),
            first_failure_at=None if data.get("firstFailureAt") is None else float(data["firstFailureAt"]),
            paused_at=None if data.get("pausedAt") is None else float(data["pausedAt"]),
            held_seconds=float(data.get("heldSeconds", 0.0)),
            finished_at=None if data.get("finishedAt") is None else float(data["finishedAt"]),
        )


def advance(rollout: RuleRollout, policy: ir.RolloutPolicy, now: float, judge: Judge) -> RuleRollout:
    """Judge every interval that ended by ``now`` and take every step that is due, in time order."""
    while rollout.active:
        analysis = policy.analysis
        step_due = rollout.step_started_at + policy.steps[rollout.step].pause_ms / 1000
        passed = analysis is None or rollout.last_outcome is Outcome.PASSED
        can_step = rollout.phase is Phase.PROGRESSING and passed and step_due <= now
        if analysis is None:
            if not can_step:
                return rollout
            rollout = _next_step(rollout, policy, step_due)
            continue
        interval_end = rollout.interval_started_at + analysis.interval_ms / 1000
        if can_step and step_due <= interval_end:
            rollout = _next_step(rollout, policy, max(step_due, rollout.interval_started_at))
        elif interval_end <= now:
            judgement = judge(rollout, analysis, rollout.interval_started_at, interval_end)
            rollout = replace(_judged(rollout, analysis, judgement), interval_started_at=interval_end)
            if rollout.phase is Phase.ROLLED_BACK:
                rollout = replace(rollout, finished_at=now)
        else:
            return rollout
    return rollout


def _judged(rollout: RuleRollout, analysis: ir.Analysis, judgement: Judgement) -> RuleRollout:
    if judgement.outcome is not Outcome.FAILED:
        evidence = judgement.evidence or rollout.evidence
        return replace(rollout, last_outcome=judgement.outcome, evidence=evidence)
    failures = rollout.failures + 1
    if rollout.first_failure_at is None:
        rollout = replace(rollout, first_failure_at=judgement.evidence[0].interval_end)
    if failures > analysis.failure_limit:
        note = f"rolled back after {failures} failing interval(s) (failureLimit {analysis.failure_limit})"
        return replace(
            rollout,
            phase=Phase.ROLLED_BACK,
            failures=failures,
            last_outcome=Outcome.FAILED,
            evidence=judgement.evidence,
            note=note,
        )
    return replace(rollout, failures=failures, last_outcome=Outcome.FAILED, evidence=judgement.evidence)


def _next_step(rollout: RuleRollout, policy: ir.RolloutPolicy, at: float) -> RuleRollout:
    step = rollout.step + 1
    if step >= len(policy.steps):
        note = "every step passed; the new split is served"
        return replace(rollout, phase=Phase.DONE, note=note, finished_at=at)
    return replace(rollout, step=step, step_started_at=at, interval_started_at=at, last_outcome=None)
