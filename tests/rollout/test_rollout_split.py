"""Blended splits and which backends a rollout judges."""

from __future__ import annotations

from gitxds import ir
from gitxds.rollout import blend, new_backends


def shares(backends: tuple[ir.WeightedBackend, ...]) -> dict[str, float]:
    total = sum(b.weight for b in backends)
    return {b.backend: 100 * b.weight / total for b in backends}


def test_blend_keeps_each_splits_proportions() -> None:
    old = (("v1", 90), ("v2", 10))
    new = (("v1", 50), ("v3", 50))
    assert shares(blend(old, new, 20)) == {"v1": 82.0, "v2": 8.0, "v3": 10.0}


def test_blend_at_the_ends_is_the_old_or_the_new_split() -> None:
    old, new = (("v1", 1),), (("v2", 3), ("v3", 1))
    assert shares(blend(old, new, 0)) == {"v1": 100.0}
    assert shares(blend(old, new, 100)) == {"v2": 75.0, "v3": 25.0}


def test_judged_backends_are_the_added_ones_else_those_that_grow() -> None:
    assert new_backends((("v1", 100),), (("v1", 50), ("v2", 50))) == ("v2",)
    assert new_backends((("v1", 90), ("v2", 10)), (("v1", 50), ("v2", 50))) == ("v2",)
