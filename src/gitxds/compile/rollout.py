"""RolloutPolicy documents -> IR, each covered route resolved and covered by one policy only."""

from __future__ import annotations

from gitxds import ir
from gitxds.compile.references import References
from gitxds.config import Document
from gitxds.config.schema import RolloutPolicyObject
from gitxds.errors import Diagnostic, Reason

__all__ = ["compile_rollout_policy", "routes_in_two_policies"]


def compile_rollout_policy(
    document: Document, refs: References
) -> tuple[ir.RolloutPolicy | None, list[Diagnostic]]:
    obj = document.obj
    assert isinstance(obj, RolloutPolicyObject)
    spec = obj.spec
    problems = refs.check_all(
        document, [(("spec", "routes", index), "Route", route) for index, route in enumerate(spec.routes)]
    )
    if problems:
        return None, problems
    analysis = None
    if spec.analysis is not None:
        a = spec.analysis
        analysis = ir.Analysis(
            interval_ms=a.interval,
            min_requests=a.min_requests,
            failure_limit=a.failure_limit,
            success_rate_min=a.success_rate.min if a.success_rate else None,
            latency_p99_max_ms=a.latency_p99.max if a.latency_p99 else None,
            ttft_p95_max_ms=a.time_to_first_token_p95.max if a.time_to_first_token_p95 else None,
            overloaded_rate_max=a.overloaded_rate.max if a.overloaded_rate else None,
        )
    policy = ir.RolloutPolicy(
        name=obj.metadata.name,
        routes=tuple(spec.routes),
        steps=tuple(ir.RolloutStep(step.weight, step.pause) for step in spec.steps),
        analysis=analysis,
        on_failure=ir.OnFailure(spec.on_failure),
    )
    return policy, []


def routes_in_two_policies(
    compiled: list[tuple[Document, ir.RolloutPolicy]],
) -> dict[str, list[Diagnostic]]:
    """A route covered by two policies would have two step plans: the later policy (by name) is refused."""
    first: dict[str, tuple[Document, int]] = {}
    conflicts: dict[str, list[Diagnostic]] = {}
    for document, policy in compiled:
        for index, route in enumerate(policy.routes):
            if route not in first:
                first[route] = (document, index)
                continue
            other, _ = first[route]
            message = f'route "{route}" is already rolled out by RolloutPolicy "{other.name}" ({other.file})'
            diagnostic = document.diagnostic(("spec", "routes", index), Reason.CONFLICTING_FIELDS, message)
            conflicts.setdefault(document.name, []).append(diagnostic)
    return conflicts
