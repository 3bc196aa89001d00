"""Prometheus metrics of rollouts, registered on the process's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from gitxds import ir
from gitxds.rollout.analysis import Judgement
from gitxds.rollout.state import Phase, RuleRollout

__all__ = ["RolloutMetrics"]


class RolloutMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.weight = Gauge(
            "gitxds_rollout_weight_percent",
            "Percent of a rolling rule's traffic served on its new split",
            ["rule"],
            registry=registry,
        )
        self.step = Gauge(
            "gitxds_rollout_step", "Current step of a rollout (1-based)", ["rule"], registry=registry
        )
        self.intervals = Counter(
            "gitxds_rollout_intervals",
            "Analysis intervals judged, by outcome",
            ["rule", "outcome"],
            registry=registry,
        )
        self.rollbacks = Counter(
            "gitxds_rollout_rollbacks",
            "Rollouts rolled back, by the first failing metric",
            ["rule", "metric"],
            registry=registry,
        )
        self.analysis_value = Gauge(
            "gitxds_rollout_analysis_value",
            "Last judged value of an analysis metric of a new backend (percent or milliseconds)",
            ["rule", "backend", "metric"],
            registry=registry,
        )

    def judged(self, rule: str, judgement: Judgement) -> None:
        self.intervals.labels(rule=rule, outcome=judgement.outcome.value).inc()
        for evidence in judgement.evidence:
            self.analysis_value.labels(rule=rule, backend=evidence.backend, metric=evidence.metric).set(
                evidence.value
            )

    def observe(self, rollout: RuleRollout, policy: ir.RolloutPolicy | None) -> None:
        self.weight.labels(rule=rollout.rule).set(rollout.weight(policy) if policy else 0)
        self.step.labels(rule=rollout.rule).set(rollout.step + 1)
        if rollout.phase is Phase.ROLLED_BACK:
            metric = next((e.metric for e in rollout.evidence if not e.held), "manual")
            self.rollbacks.labels(rule=rollout.rule, metric=metric).inc()
