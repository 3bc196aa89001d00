"""Rollout policies in the internal model: how covered rules move from one split to the next."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Analysis", "OnFailure", "RolloutPolicy", "RolloutStep"]


class OnFailure(enum.StrEnum):
    REVERT = "revert"  # serve the old split and push a revert commit of the change to Git
    HOLD = "hold"  # serve the old split and report; Git is left to the user


@dataclass(frozen=True, slots=True)
class RolloutStep:
    weight: int  # percent of the rule's traffic on the new split
    pause_ms: int


@dataclass(frozen=True, slots=True)
class Analysis:
    """Thresholds checked on the new backends every ``interval_ms``; shares are percent (0-100)."""

    interval_ms: int
    min_requests: int
    failure_limit: int
    success_rate_min: float | None = None
    latency_p99_max_ms: int | None = None
    ttft_p95_max_ms: int | None = None
    overloaded_rate_max: float | None = None


@dataclass(frozen=True, slots=True)
class RolloutPolicy:
    name: str
    routes: tuple[str, ...]
    steps: tuple[RolloutStep, ...]
    analysis: Analysis | None
    on_failure: OnFailure = OnFailure.HOLD
