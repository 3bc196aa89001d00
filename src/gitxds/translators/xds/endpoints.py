"""ClusterLoadAssignment builders: the endpoints of one Backend, grouped by priority."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby

from envoy.config.core.v3.address_pb2 import Address, SocketAddress
from envoy.config.core.v3.base_pb2 import Metadata
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment

from gitxds import ir
from gitxds.translators.xds.secrets import SecretValues

__all__ = [
    "BACKEND_METADATA_KEY",
    "METADATA_NAMESPACE",
    "REQUEST_HEADERS_METADATA_KEY",
    "DiscoveredEndpoints",
    "discovered_assignments",
    "endpoint_metadata_for",
    "load_assignment_for",
    "load_assignment_of",
]

# Every endpoint carries its Backend's name, so a response header can name the backend that answered
# even when an aggregate (fallback) cluster picked it; and the values of the Backend's
# ``requestHeaders``, which an aggregate cluster can only read from the endpoint it picked.
METADATA_NAMESPACE = "gitxds"
BACKEND_METADATA_KEY = "backend"
REQUEST_HEADERS_METADATA_KEY = "request_headers"

# The endpoints found for each Kubernetes source so far (a source not in it has none yet).
DiscoveredEndpoints = Mapping[ir.KubernetesEndpoints, Sequence[ir.Endpoint]]


def socket_address_for(address: str, port: int) -> Address:
    return Address(socket_address=SocketAddress(address=address, port_value=port))


def endpoint_metadata_for(backend: ir.Backend, secrets: SecretValues) -> Metadata:
    metadata = Metadata()
    fields = metadata.filter_metadata[METADATA_NAMESPACE].fields
    fields[BACKEND_METADATA_KEY].string_value = backend.name
    ops = backend.request_headers
    if ops.set or ops.add:
        values = {name: secrets.resolve(value) for name, value in (*ops.add, *ops.set)}
        fields[REQUEST_HEADERS_METADATA_KEY].struct_value.update(values)
    return metadata


def load_assignment_of(
    cluster_name: str, endpoints: Iterable[ir.Endpoint], metadata: Metadata
) -> ClusterLoadAssignment:
    """Endpoints grouped into one LocalityLbEndpoints per priority (0 first), each with ``metadata``
    (from :func:`endpoint_metadata_for`)."""
    # Filled in place rather than from nested constructors: this runs once per endpoint, and a
    # large config has tens of thousands of them.
    metadata_bytes = metadata.SerializeToString()
    assignment = ClusterLoadAssignment(cluster_name=cluster_name)
    endpoints = tuple(endpoints)
    if len({endpoint.priority for endpoint in endpoints}) > 1:  # usually one priority: nothing to sort
        endpoints = tuple(sorted(endpoints, key=_priority))
    for priority, group in groupby(endpoints, key=_priority):
        locality = assignment.endpoints.add(priority=priority)
        for endpoint in group:
            lb_endpoint = locality.lb_endpoints.add()
            socket_address = lb_endpoint.endpoint.address.socket_address
            socket_address.address = endpoint.address
            socket_address.port_value = endpoint.port
            lb_endpoint.load_balancing_weight.value = endpoint.weight
            lb_endpoint.metadata.MergeFromString(metadata_bytes)
    return assignment


def _priority(endpoint: ir.Endpoint) -> int:
    return endpoint.priority


def load_assignment_for(
    backend: ir.Backend, secrets: SecretValues, discovered: DiscoveredEndpoints | None = None
) -> ClusterLoadAssignment:
    """The Backend's endpoints: from the config, or for a Kubernetes backend those ``discovered``.

    DNS backends resolve inside Envoy (one endpoint: the hostname). A Kubernetes backend whose
    EndpointSlices were not listed yet has no endpoints.
    """
    source = backend.endpoints
    metadata = endpoint_metadata_for(backend, secrets)
    if isinstance(source, ir.StaticEndpoints):
        return load_assignment_of(backend.name, source.endpoints, metadata)
    if isinstance(source, ir.DnsEndpoints):
        return load_assignment_of(backend.name, (ir.Endpoint(source.hostname, source.port),), metadata)
    found = (discovered or {}).get(source, ())
    if not found:
        return ClusterLoadAssignment(cluster_name=backend.name)
    return load_assignment_of(backend.name, found, metadata)


def discovered_assignments(
    model: ir.Model, source: ir.KubernetesEndpoints, secrets: SecretValues, discovered: DiscoveredEndpoints
) -> list[ClusterLoadAssignment]:
    """The assignment of every Backend fed by ``source``: what an endpoints-only update replaces."""
    return [
        load_assignment_for(backend, secrets, discovered)
        for backend in model.backends
        if backend.endpoints == source
    ]
