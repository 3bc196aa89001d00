"""Cross-field rules of a RolloutPolicy: steps that rise, routes listed once, a check to analyse."""

from __future__ import annotations

from collections.abc import Iterator

from gitxds.config.document import Issue
from gitxds.config.schema import RolloutPolicyObject
from gitxds.config.schema_rollout import MAX_STEPS, Analysis
from gitxds.errors import Reason

__all__ = ["check_rollout_policy"]


def check_rollout_policy(obj: RolloutPolicyObject) -> Iterator[Issue]:
    spec = obj.spec
    if not spec.routes:
        yield Issue(("spec", "routes"), Reason.MISSING_FIELD, "list at least one Route the policy rolls out")
    seen: dict[str, int] = {}
    for index, route in enumerate(spec.routes):
        if route in seen:
            message = f'route "{route}" is already listed at spec.routes[{seen[route]}]'
            yield Issue(("spec", "routes", index), Reason.DUPLICATE_NAME, message)
        seen.setdefault(route, index)
    if not spec.steps:
        message = "list at least one step: {weight: 10, pause: 1m}"
        yield Issue(("spec", "steps"), Reason.MISSING_FIELD, message)
    if len(spec.steps) > MAX_STEPS:
        message = f"{len(spec.steps)} steps; a rollout has at most {MAX_STEPS}"
        yield Issue(("spec", "steps"), Reason.INVALID_VALUE, message)
    for index in range(1, len(spec.steps)):
        before, weight = spec.steps[index - 1].weight, spec.steps[index].weight
        if weight <= before:
            message = f"weights must rise from step to step: {weight} follows {before}"
            yield Issue(("spec", "steps", index, "weight"), Reason.INVALID_VALUE, message)
    analysis = spec.analysis
    if analysis is not None and not _checks_anything(analysis):
        message = (
            "analysis checks nothing: set successRate, latencyP99, timeToFirstTokenP95 or overloadedRate"
        )
        yield Issue(("spec", "analysis"), Reason.MISSING_FIELD, message)


def _checks_anything(analysis: Analysis) -> bool:
    thresholds = (analysis.latency_p99, analysis.time_to_first_token_p95, analysis.overloaded_rate)
    return analysis.success_rate is not None or any(t is not None for t in thresholds)
