"""Each backend's cluster and endpoints, kept between builds of a gateway (see :mod:`.incremental`).

The lists stay sorted by name with their resources; a build changes the entries of the backends that
came, went, or are not the very objects they were (found in C: ``map(is_not, ...)`` over the names
used), and of the fallback chains that came, went or lost a member object. New secrets or newly
discovered endpoints build every entry again. A list that changed is handed out as a new list (the
encoding cache recognizes an unchanged list by identity).
"""

from __future__ import annotations

import operator
from bisect import bisect_left
from collections.abc import Hashable, Iterable, Mapping
from itertools import compress
from typing import Generic, TypeVar

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment

from gitxds import ir
from gitxds.translators.xds.clusters import aggregate_cluster_for, aggregate_cluster_name, cluster_for
from gitxds.translators.xds.endpoints import DiscoveredEndpoints, load_assignment_for
from gitxds.translators.xds.secrets import SecretValues

__all__ = ["BackendResources"]

V = TypeVar("V")
Chain = tuple[str, tuple[str, ...]]  # a primary backend and its fallback chain


class _ByName(Generic[V]):
    """Values sorted by name, as ``gateway.by_name`` lists them."""

    def __init__(self, values: Mapping[str, V] | None = None) -> None:
        values = values or {}
        self._names = sorted(values)
        self._values = [values[name] for name in self._names]
        self._listed: list[V] | None = None

    def put(self, name: str, value: V) -> None:
        index = bisect_left(self._names, name)
        if index < len(self._names) and self._names[index] == name:
            self._values[index] = value
        else:
            self._names.insert(index, name)
            self._values.insert(index, value)
        self._listed = None

    def drop(self, name: str) -> None:
        index = bisect_left(self._names, name)
        if index < len(self._names) and self._names[index] == name:
            del self._names[index]
            del self._values[index]
            self._listed = None

    def listed(self) -> list[V]:
        """The values in name order: the very same list until one changes."""
        if self._listed is None:
            self._listed = list(self._values)
        return self._listed


class BackendResources:
    """The clusters and endpoints of one gateway's used backends. One build at a time."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._inputs: Hashable = None  # the secrets and discovered endpoints every entry was built with
        self._backends: dict[str, ir.Backend] = {}  # used: the object each entry was built from
        self._grpc: frozenset[str] = frozenset()
        self._chains: dict[Chain, tuple[ir.Backend, ...]] = {}  # members each aggregate was built from
        self._clusters: _ByName[Cluster] = _ByName()
        self._endpoints: _ByName[ClusterLoadAssignment] = _ByName()

    def build(
        self,
        backends: Mapping[str, ir.Backend],
        used: set[str],
        grpc: set[str],
        fallbacks: Iterable[Chain],
        *,
        secrets: SecretValues,
        discovered: DiscoveredEndpoints | None,
    ) -> tuple[list[Cluster], list[ClusterLoadAssignment]]:
        """What ``translate_gateway`` lists as clusters and endpoints, in its order: for the ``used``
        backends (``grpc``: those Envoy calls over gRPC), and an aggregate cluster per fallback chain."""
        inputs = (secrets, dict(discovered or {}))
        if inputs != self._inputs:
            self._reset()  # everything depends on them
            self._inputs = inputs
        names = list(used)
        now = list(map(backends.__getitem__, names))
        moved = compress(names, map(operator.is_not, now, map(self._backends.get, names)))
        changed = {*moved, *(self._backends.keys() - used), *(self._grpc ^ grpc)}
        for name in changed:
            self._update(
                name, backends.get(name) if name in used else None, name in grpc, secrets, discovered
            )
        self._grpc = frozenset(grpc)
        self._update_chains(backends, set(fallbacks), changed)
        return self._clusters.listed(), self._endpoints.listed()

    def _update(
        self,
        name: str,
        backend: ir.Backend | None,
        grpc: bool,
        secrets: SecretValues,
        discovered: DiscoveredEndpoints | None,
    ) -> None:
        if backend is None:
            self._backends.pop(name, None)
            self._clusters.drop(name)
            self._endpoints.drop(name)
            return
        self._backends[name] = backend
        self._clusters.put(name, cluster_for(backend, secrets, grpc_service=grpc))
        if isinstance(backend.endpoints, ir.DnsEndpoints):
            self._endpoints.drop(name)
        else:
            self._endpoints.put(name, load_assignment_for(backend, secrets, discovered))

    def _update_chains(
        self, backends: Mapping[str, ir.Backend], chains: set[Chain], changed: set[str]
    ) -> None:
        for chain in self._chains.keys() - chains:
            del self._chains[chain]
            self._clusters.drop(aggregate_cluster_name(*chain))
        for chain in chains if changed else chains - self._chains.keys():
            primary, fallback = chain
            members = (backends[primary], *(backends[name] for name in fallback))
            last = self._chains.get(chain)
            if last is None or any(map(operator.is_not, last, members)):
                self._chains[chain] = members
                self._clusters.put(
                    aggregate_cluster_name(*chain), aggregate_cluster_for(members[0], members[1:])
                )
