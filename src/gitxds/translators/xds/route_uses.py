"""What one model route gives its gateway besides Envoy routes: the policies its rules use, the
backends they send to, the clusters they name. Kept per route and summed per gateway in counts, so a
build adds the changed routes' share and takes the removed ones' out instead of walking every rule."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from gitxds import ir
from gitxds.translators.xds.clusters import fallback_of
from gitxds.translators.xds.filters import reads_model
from gitxds.translators.xds.routes import cluster_for_backend

__all__ = ["Counts", "RouteUses", "uses_of"]

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class RouteUses:
    auth: frozenset[str]  # AuthPolicies its rules name
    rate_limits: frozenset[str]  # RateLimitPolicies its rules name
    faults: int  # rules with a fault
    model_readers: int  # rules matching on the body's model
    targets: frozenset[str]  # primary and fallback backends (what the filter plan looks at)
    routed: frozenset[str]  # those and mirrors: the backends that need a cluster
    fallbacks: frozenset[tuple[str, tuple[str, ...]]]  # (primary, its fallback chain), chains not empty
    clusters: frozenset[str]  # the clusters its Envoy routes name (the route configuration's references)


def uses_of(route: ir.Route) -> RouteUses:
    rules = route.rules
    targets = {b.backend for rule in rules for b in rule.backends}
    targets.update(name for rule in rules for name in rule.fallback)
    mirrors = {rule.mirror.backend for rule in rules if rule.mirror is not None}
    fallbacks = {(b.backend, fallback_of(b.backend, rule.fallback)) for rule in rules for b in rule.backends}
    return RouteUses(
        auth=frozenset(rule.auth for rule in rules if rule.auth is not None),
        rate_limits=frozenset(rule.rate_limit for rule in rules if rule.rate_limit is not None),
        faults=sum(rule.fault is not None for rule in rules),
        model_readers=sum(reads_model(rule) for rule in rules),
        targets=frozenset(targets),
        routed=frozenset(targets | mirrors),
        fallbacks=frozenset(pair for pair in fallbacks if pair[1]),
        clusters=frozenset(_named_clusters(rules)),
    )


def _named_clusters(rules: Iterable[ir.Rule]) -> Iterator[str]:
    """What ``routes_for`` makes each route's action name: its cluster or weighted clusters, mirrors."""
    for rule in rules:
        yield from (cluster_for_backend(b.backend, rule) for b in rule.backends)
        if rule.mirror is not None:
            yield rule.mirror.backend


class Counts(Generic[K]):
    """How many routes name each key; :attr:`changed` tells whether the set of keys differs from what
    it was at the last :meth:`settle` (a key that went and came back, as when a route is replaced by
    one naming the same backends, is no change)."""

    __slots__ = ("_appeared", "_gone", "counts")

    def __init__(self) -> None:
        self.counts: dict[K, int] = {}
        self._appeared = True  # nothing settled yet
        self._gone: set[K] = set()

    @property
    def changed(self) -> bool:
        return self._appeared or bool(self._gone)

    def settle(self) -> None:
        self._appeared = False
        self._gone = set()

    def add(self, keys: Iterable[K]) -> None:
        counts = self.counts
        for key in keys:
            count = counts.get(key, 0)
            if not count:
                if key in self._gone:
                    self._gone.discard(key)
                else:
                    self._appeared = True
            counts[key] = count + 1

    def remove(self, keys: Iterable[K]) -> None:
        counts = self.counts
        for key in keys:
            count = counts[key] - 1
            if count:
                counts[key] = count
            else:
                del counts[key]
                self._gone.add(key)
