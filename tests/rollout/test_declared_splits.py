"""The declared splits a plan starts from, kept across versions, equal those read from every rule."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gitxds import ir
from gitxds.rollout.plan import Rollouts, _DeclaredSplits, plan
from gitxds.rollout.split import split_of


def route(name: str, weights: tuple[int, ...], rule_names: tuple[str, ...]) -> ir.Route:
    rules = tuple(
        ir.Rule(rule, (), tuple(ir.WeightedBackend(f"b{i}", w) for i, w in enumerate(weights)))
        for rule in rule_names
    )
    return ir.Route(name, ("edge",), (), rules)


routes = st.builds(
    route,
    st.sampled_from(["a", "b", "c", "d"]),
    st.lists(st.integers(1, 3), min_size=1, max_size=2).map(tuple),
    st.lists(st.sampled_from(["a/0", "a/1", "b/0", "c/0", "d/0"]), min_size=1, max_size=2).map(tuple),
)


@given(st.lists(routes, max_size=5), st.lists(st.tuples(st.integers(0, 9), routes), max_size=8))
def test_declared_splits_kept_across_versions_equal_a_fresh_walk(first: list[ir.Route], edits: Any) -> None:
    declared = _DeclaredSplits()
    current = list(first)
    for step in range(len(edits) + 1):
        model_routes = tuple(current)
        expected = {rule.name: split_of(rule.backends) for r in model_routes for rule in r.rules}
        assert declared.of(model_routes) == expected
        if step < len(edits) and current:
            index, replacement = edits[step]
            current[index % len(current)] = replacement  # the others stay the very same objects


def test_a_version_without_rollout_policies_never_works_out_the_declared_splits() -> None:
    """Only covered rules read the declared splits; without a policy a plan leaves them unread, and
    a later version that adds a policy and changes the split starts the rollout from the earlier one."""
    backends = (ir.Backend("v1", ir.DnsEndpoints("v1", 80)), ir.Backend("v2", ir.DnsEndpoints("v2", 80)))

    def model(weights: tuple[int, int], policies: tuple[ir.RolloutPolicy, ...]) -> ir.Model:
        split = tuple(ir.WeightedBackend(f"v{i + 1}", w) for i, w in enumerate(weights) if w)
        chat = ir.Route("chat", ("edge",), (), (ir.Rule("chat/0", (), split),))
        return ir.Model(backends=backends, routes=(chat,), rollout_policies=policies)

    first = plan(Rollouts(), model((100, 0), ()), "v1", now=0.0)
    assert first.declared._splits is None  # type: ignore[attr-defined]
    policy = ir.RolloutPolicy("careful", ("chat",), (ir.RolloutStep(50, 60_000),), None)
    second = plan(first, model((0, 100), (policy,)), "v2", now=1.0)
    started = second.rollouts["chat/0"]
    assert (started.old, started.new) == ((("v1", 100),), (("v2", 100),))
    assert dict(second.declared) == {"chat/0": (("v2", 100),)}
