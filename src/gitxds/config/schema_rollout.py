"""The user-facing schema of a RolloutPolicy: how covered routes move to a new split, step by step."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gitxds.config.base import Model
from gitxds.config.types import Duration, PositiveDuration, Ref, Share

__all__ = ["MAX_STEPS", "Analysis", "RolloutPolicySpec", "RolloutStep"]

MAX_STEPS = 20  # a rollout of more steps is a typo, and each step is one push to every proxy


class RolloutStep(Model):
    weight: int = Field(ge=1, le=100)  # percent of the rule's traffic on the new split
    pause: Duration = 0  # how long the step is held (and analysed) before the next one


class MinShare(Model):
    min: Share


class MaxShare(Model):
    max: Share


class MaxDuration(Model):
    max: PositiveDuration


class Analysis(Model):
    interval: PositiveDuration = 30_000
    min_requests: int = Field(50, ge=1, le=1_000_000_000)
    failure_limit: int = Field(1, ge=0, le=1000)
    success_rate: MinShare | None = None
    latency_p99: MaxDuration | None = None
    time_to_first_token_p95: MaxDuration | None = Field(None, alias="timeToFirstTokenP95")
    overloaded_rate: MaxShare | None = None


class RolloutPolicySpec(Model):
    routes: list[Ref]
    steps: list[RolloutStep]  # at least one, weights rising, at most MAX_STEPS: see checks
    analysis: Analysis | None = None
    on_failure: Literal["revert", "hold"] = "hold"
