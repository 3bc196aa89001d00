"""Each backend's cluster and endpoints, kept between builds of a gateway (see :mod:`.incremental`)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment

from gitxds import ir
from gitxds.translators.xds.clusters import aggregate_cluster_for, cluster_for
from gitxds.translators.xds.endpoints import DiscoveredEndpoints, load_assignment_for
from gitxds.translators.xds.gateway import by_name, discovered_for
from gitxds.translators.xds.secrets import SecretValues

__all__ = ["BackendResources"]


class BackendResources:
    """Each backend's cluster and endpoints, reused while the backend object and its inputs are the
    same; forgets backends the last build did not use."""

    def __init__(self) -> None:
        self._clusters: dict[str, tuple[ir.Backend, bool, SecretValues, Cluster]] = {}
        self._endpoints: dict[str, tuple[ir.Backend, Hashable, SecretValues, ClusterLoadAssignment]] = {}

    def build(
        self,
        backends: Mapping[str, ir.Backend],
        used: set[str],
        grpc: set[str],
        fallbacks: Iterable[tuple[str, tuple[str, ...]]],
        *,
        secrets: SecretValues,
        discovered: DiscoveredEndpoints | None,
    ) -> tuple[list[Cluster], list[ClusterLoadAssignment]]:
        """What ``translate_gateway`` lists as clusters and endpoints, in its order: for the ``used``
        backends (``grpc``: those Envoy calls over gRPC), and an aggregate cluster per fallback chain."""
        clusters_before, endpoints_before = self._clusters, self._endpoints
        self._clusters, self._endpoints = {}, {}
        clusters: list[Cluster] = []
        endpoints: list[ClusterLoadAssignment] = []
        for backend in (backends[name] for name in sorted(used)):
            is_grpc = backend.name in grpc
            last = clusters_before.get(backend.name)
            if last is None or last[0] is not backend or last[1] != is_grpc or last[2] != secrets:
                last = (backend, is_grpc, secrets, cluster_for(backend, secrets, grpc_service=is_grpc))
            self._clusters[backend.name] = last
            clusters.append(last[3])
            if isinstance(backend.endpoints, ir.DnsEndpoints):
                continue
            found = discovered_for(backend, discovered)
            known = endpoints_before.get(backend.name)
            if known is None or known[0] is not backend or known[1] != found or known[2] != secrets:
                known = (backend, found, secrets, load_assignment_for(backend, secrets, discovered))
            self._endpoints[backend.name] = known
            endpoints.append(known[3])
        clusters += [
            aggregate_cluster_for(backends[primary], tuple(backends[name] for name in chain))
            for primary, chain in fallbacks
        ]
        return by_name(clusters), by_name(endpoints, "cluster_name")
