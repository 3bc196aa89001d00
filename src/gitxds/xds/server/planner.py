"""What a stream should hold for each type, including resources kept alive for make-before-break.

Work that depends only on shared, immutable sets (not on the stream) is memoized by set identity, so a
change fanned out to a thousand streams is computed once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from functools import partial
from typing import TypeVar

from gitxds import typeurls
from gitxds.xds.cache import EncodedResource, Reference, ResourceSet, Snapshot
from gitxds.xds.server.state import NameSets, StreamState

T = TypeVar("T")

# A resource the snapshot dropped stays in a stream's set while the proxy still holds one of these
# types naming it: clusters until routes and listeners stop naming them, endpoints until their cluster
# is gone, route configurations until no listener names them.
KEPT_WHILE_NAMED_BY: dict[str, tuple[str, ...]] = {
    typeurls.CLUSTER: (typeurls.ROUTE, typeurls.LISTENER),
    typeurls.ENDPOINT: (typeurls.CLUSTER,),
    typeurls.ROUTE: (typeurls.LISTENER,),
}


# The reverse: whose plan changes when a type's acknowledged or in-flight set does.
DEPENDENTS: dict[str, tuple[str, ...]] = {
    held: tuple(kept for kept, named_by in KEPT_WHILE_NAMED_BY.items() if held in named_by)
    for held in typeurls.PUSH_ORDER
}


def replan(stream: StreamState, type_url: str) -> None:
    """Something ``type_url`` held or asked changed: plan it, and the types it keeps alive, again."""
    stream.type_state(type_url).planned_from = None
    for dependent in DEPENDENTS[type_url]:
        state = stream.types.get(dependent)
        if state is not None:
            state.planned_from = None


class SharedMemo:
    """A bounded memo keyed by immutable shared objects (compared by identity)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._entries: dict[tuple[Hashable, ...], object] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget everything, so entries never pin the sets of snapshots that were replaced."""
        self._entries.clear()

    def get(self, key: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
        if key in self._entries:
            self.hits += 1
            return self._entries[key]  # type: ignore[return-value]
        self.misses += 1
        if len(self._entries) >= self._capacity:
            self._entries.clear()
        value = compute()
        self._entries[key] = value
        return value


def desired_set(
    stream: StreamState, snapshot: Snapshot, type_url: str, memo: SharedMemo, name_sets: NameSets
) -> ResourceSet:
    """The set to send now: the snapshot's view, plus (on ADS) dropped resources still named."""
    state = stream.type_state(type_url)
    base = name_sets.view(snapshot.resources(type_url), state.view_names())
    if not stream.aggregated or type_url not in KEPT_WHILE_NAMED_BY:
        return base
    missing: list[EncodedResource] = []
    for held in state.held():
        missing.extend(memo.get(("missing", held, base), partial(_missing_from, held, base)))
    if not missing:
        return base
    named = _names_held_by(stream, KEPT_WHILE_NAMED_BY[type_url], memo)
    kept = tuple(r for r in missing if Reference(type_url, r.name) in named)
    if not kept:
        return base
    return memo.get(("kept", base, kept), lambda: base.with_extra(kept))


def _missing_from(held: ResourceSet, base: ResourceSet) -> tuple[EncodedResource, ...]:
    if held is base:
        return ()
    wanted = base.resources
    return tuple(resource for name, resource in held.resources.items() if name not in wanted)


def _names_held_by(stream: StreamState, type_urls: tuple[str, ...], memo: SharedMemo) -> frozenset[Reference]:
    held = [resource_set for type_url in type_urls for resource_set in stream.type_state(type_url).held()]
    if len(held) == 1:
        return held[0].references()
    return memo.get(("refs", *held), lambda: frozenset().union(*(s.references() for s in held)))


def in_sync(stream: StreamState, snapshot: Snapshot | None, type_url: str, name_sets: NameSets) -> bool:
    """The proxy acknowledged exactly what the current snapshot gives it for this type."""
    state = stream.type_state(type_url)
    if snapshot is None or state.acked is None or state.in_flight is not None:
        return False
    target = name_sets.view(snapshot.resources(type_url), state.view_names())
    if state.known is not None:
        return dict(state.known) == dict(target.versions())
    return state.acked.version == target.version
