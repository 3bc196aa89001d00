"""Findings for the AI traffic fields, none of which Istio's APIs can express."""

from __future__ import annotations

from gitxds import ir
from gitxds.findings import FindingReason, Findings

__all__ = ["report_ai_fields"]


def report_ai_fields(model: ir.Model, findings: Findings) -> None:
    for route in model.routes:
        for index, rule in enumerate(route.rules):
            for position, match in enumerate(rule.matches):
                if match.model is not None:
                    findings.error(
                        "Route",
                        route.name,
                        f"spec.rules[{index}].matches[{position}].model",
                        FindingReason.NO_ISTIO_EQUIVALENT,
                        "a VirtualService matches on headers, not on the JSON body's model: the match is "
                        "exported without its model condition, so it would take requests for any model",
                    )
    for backend in model.backends:
        for field, value in (("api", backend.api), ("pricing", backend.pricing)):
            if value is not None:
                findings.warn(
                    "Backend",
                    backend.name,
                    f"spec.{field}",
                    FindingReason.NO_ISTIO_EQUIVALENT,
                    "Istio does not read token usage from responses; token counts and cost are not exported",
                )
    for policy in model.rate_limit_policies:
        if policy.token_limits:
            findings.error(
                "RateLimitPolicy",
                policy.name,
                "spec.tokens",
                FindingReason.NO_ISTIO_EQUIVALENT,
                "token budgets charge each response's tokens after it; the exported filter limits requests "
                "only",
            )
