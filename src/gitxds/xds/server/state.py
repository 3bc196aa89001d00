"""Per-stream state: owned by one stream, dropped when it ends."""

from __future__ import annotations

import time
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field

from gitxds.xds.cache import ResourceSet
from gitxds.xds.server.status import Variant

EMPTY_NAMES: frozenset[str] = frozenset()


class _SharedNames:
    __slots__ = ("names", "users", "views")

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names
        self.users = 0
        self.views: dict[ResourceSet, ResourceSet] = {}  # snapshot table -> the part these names see


class NameSets:
    """Shares equal subscription name sets, and what they see of each table, between streams.

    A thousand proxies subscribing to the same ten thousand EDS names then hold one set and one view,
    not a thousand. Streams acquire and release; a set and its views are dropped when no stream uses
    it, so nothing a request asked for outlives the streams that asked.
    """

    def __init__(self) -> None:
        self._sets: dict[frozenset[str], _SharedNames] = {}

    def acquire(self, names: Iterable[str]) -> frozenset[str]:
        key = frozenset(names)
        if not key:
            return EMPTY_NAMES
        shared = self._sets.get(key)
        if shared is None:
            shared = self._sets[key] = _SharedNames(key)
        shared.users += 1
        return shared.names

    def release(self, names: frozenset[str]) -> None:
        if not names:
            return
        shared = self._sets.get(names)
        if shared is None:
            return
        shared.users -= 1
        if shared.users <= 0:
            del self._sets[names]

    def view(self, table: ResourceSet, names: frozenset[str] | None) -> ResourceSet:
        """The part of ``table`` a subscription to ``names`` sees (everything for a wildcard)."""
        if names is None:
            return table
        shared = self._sets.get(names)
        if shared is None:
            return table.subset(names)
        view = shared.views.get(table)
        if view is None:
            view = shared.views[table] = table.subset(names)
        return view

    def clear_views(self, keep: Container[ResourceSet] = ()) -> None:
        """Forget every view but those of ``keep`` (tables still served), so none pins the table of a
        snapshot that was replaced while a table a new snapshot reuses is not cut again (10,000
        endpoint names at fleet size)."""
        for shared in self._sets.values():
            shared.views = {table: view for table, view in shared.views.items() if table in keep}

    def __len__(self) -> int:
        return len(self._sets)


@dataclass(frozen=True, slots=True)
class InFlight:
    """A response sent and not yet acknowledged."""

    nonce: str
    sent: ResourceSet
    config_version: str


@dataclass(eq=False, slots=True)
class TypeState:
    """Subscription and ACK bookkeeping for one resource type on one stream."""

    type_url: str
    subscribed: bool = False
    wildcard: bool = False
    legacy_wildcard: bool = False
    names: frozenset[str] = EMPTY_NAMES
    acked: ResourceSet | None = None
    acked_config_version: str = ""
    # Delta only: what the client holds when it is not exactly ``acked`` (reconnect, unsubscribe).
    known: Mapping[str, str] | None = None
    in_flight: InFlight | None = None
    last_nonce: str = ""
    nacked_version: str = ""
    nack_error: str = ""
    # SotW EDS: a CDS response was sent, so the next EDS request is answered even if unchanged.
    answer_next_request: bool = False
    force_send: bool = False
    # SotW: the version_info a proxy reconnecting on a new stream says it already holds.
    claimed_version: str = ""
    # Delta: names (re)subscribed since the last response; always answered. Replaced, never mutated
    # (most streams hold the shared empty set).
    forced: frozenset[str] = EMPTY_NAMES
    # Delta: the snapshot table the last plan of this type used; None once anything it depends on
    # changed. While it is still the current table, planning again would find nothing to send.
    planned_from: ResourceSet | None = None

    def held(self) -> list[ResourceSet]:
        """The sets the client may currently be using: acknowledged and in flight."""
        sets = [self.acked] if self.acked is not None else []
        if self.in_flight is not None:
            sets.append(self.in_flight.sent)
        return sets

    def client_versions(self) -> Mapping[str, str]:
        if self.known is not None:
            return self.known
        return self.acked.versions() if self.acked is not None else {}

    def view_names(self) -> frozenset[str] | None:
        """None for a wildcard subscription, else the names subscribed."""
        return None if self.wildcard else self.names


@dataclass(eq=False, slots=True)
class StreamState:
    """Everything one xDS stream knows. ``types`` is keyed by type URL."""

    variant: Variant
    aggregated: bool
    connected_since: float = field(default_factory=time.time)
    node_id: str = ""
    node_cluster: str = ""
    has_node: bool = False
    group: str | None = None
    types: dict[str, TypeState] = field(default_factory=dict)
    change_pending: bool = False
    _nonce_counter: int = 0

    def type_state(self, type_url: str) -> TypeState:
        state = self.types.get(type_url)
        if state is None:
            state = TypeState(type_url)
            self.types[type_url] = state
        return state

    def next_nonce(self) -> str:
        self._nonce_counter += 1
        return str(self._nonce_counter)
