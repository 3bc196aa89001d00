"""ClusterLoadAssignment builders: the endpoints of one Backend, grouped by priority."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby

from envoy.config.core.v3.address_pb2 import Address, SocketAddress
from envoy.config.core.v3.base_pb2 import Metadata
from envoy.config.endpoint.v3.endpoint_components_pb2 import Endpoint, LbEndpoint, LocalityLbEndpoints
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from google.protobuf.struct_pb2 import Struct, Value

from gitxds import ir
from gitxds.translators.xds._proto import uint32

__all__ = ["BACKEND_METADATA_KEY", "METADATA_NAMESPACE", "load_assignment_for", "load_assignment_of"]

# Every endpoint carries its Backend's name, so a response header can name the backend that answered
# even when an aggregate (fallback) cluster picked it.
METADATA_NAMESPACE = "gitxds"
BACKEND_METADATA_KEY = "backend"


def socket_address_for(address: str, port: int) -> Address:
    return Address(socket_address=SocketAddress(address=address, port_value=port))


def backend_metadata_for(backend_name: str) -> Metadata:
    fields = Struct(fields={BACKEND_METADATA_KEY: Value(string_value=backend_name)})
    return Metadata(filter_metadata={METADATA_NAMESPACE: fields})


def lb_endpoint_for(endpoint: ir.Endpoint, metadata: Metadata) -> LbEndpoint:
    return LbEndpoint(
        endpoint=Endpoint(address=socket_address_for(endpoint.address, endpoint.port)),
        load_balancing_weight=uint32(endpoint.weight),
        metadata=metadata,
    )


def load_assignment_of(cluster_name: str, endpoints: Iterable[ir.Endpoint]) -> ClusterLoadAssignment:
    """Endpoints grouped into one LocalityLbEndpoints per priority (0 first)."""
    metadata = backend_metadata_for(cluster_name)
    ordered = sorted(endpoints, key=lambda e: e.priority)
    return ClusterLoadAssignment(
        cluster_name=cluster_name,
        endpoints=[
            LocalityLbEndpoints(priority=priority, lb_endpoints=[lb_endpoint_for(e, metadata) for e in group])
            for priority, group in groupby(ordered, key=lambda e: e.priority)
        ],
    )


def load_assignment_for(backend: ir.Backend) -> ClusterLoadAssignment:
    """The Backend's endpoints as known from the config.

    DNS backends resolve inside Envoy (one endpoint: the hostname). Kubernetes backends start empty;
    whatever discovers their EndpointSlices builds the assignment with :func:`load_assignment_of`.
    """
    source = backend.endpoints
    if isinstance(source, ir.StaticEndpoints):
        return load_assignment_of(backend.name, source.endpoints)
    if isinstance(source, ir.DnsEndpoints):
        return load_assignment_of(backend.name, (ir.Endpoint(source.hostname, source.port),))
    return ClusterLoadAssignment(cluster_name=backend.name)
