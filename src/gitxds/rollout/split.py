"""Weighted splits: what a rule serves while it moves from its old split to its new one."""

from __future__ import annotations

from collections.abc import Iterable

from gitxds import ir

__all__ = ["Split", "blend", "new_backends", "split_of"]

Split = tuple[tuple[str, int], ...]  # (backend, weight) in the order the rule lists them

_SCALE = 100  # served weights are in hundredths of a percent, so a 1% step stays exact


def split_of(backends: Iterable[ir.WeightedBackend]) -> Split:
    return tuple((b.backend, b.weight) for b in backends)


def blend(old: Split, new: Split, weight: int) -> tuple[ir.WeightedBackend, ...]:
    """``weight``% of the traffic on ``new`` and the rest on ``old``, each split keeping its proportions."""
    shares: dict[str, float] = {}
    for split, percent in ((old, 100 - weight), (new, weight)):
        total = sum(w for _, w in split)
        if total <= 0 or percent <= 0:
            continue
        for backend, w in split:
            shares[backend] = shares.get(backend, 0.0) + percent * _SCALE * w / total
    served = tuple(ir.WeightedBackend(b, round(share)) for b, share in shares.items() if round(share) > 0)
    return served or tuple(ir.WeightedBackend(b, w) for b, w in new)


def new_backends(old: Split, new: Split) -> tuple[str, ...]:
    """The backends a rollout judges: those the old split lacks, else those whose share grows."""
    old_names = {b for b, w in old if w > 0}
    added = tuple(b for b, w in new if w > 0 and b not in old_names)
    if added:
        return added
    old_total = sum(w for _, w in old) or 1
    new_total = sum(w for _, w in new) or 1
    old_share = {b: w / old_total for b, w in old}
    return tuple(b for b, w in new if w / new_total > old_share.get(b, 0.0))
