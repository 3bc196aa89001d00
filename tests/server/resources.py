"""Small Envoy resources built directly, so server tests do not depend on the translator."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3.address_pb2 import Address, SocketAddress
from envoy.config.core.v3.config_source_pb2 import AggregatedConfigSource, ConfigSource
from envoy.config.endpoint.v3.endpoint_components_pb2 import Endpoint, LbEndpoint, LocalityLbEndpoints
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from envoy.config.listener.v3.listener_components_pb2 import Filter, FilterChain
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.route.v3.route_components_pb2 import Route, RouteAction, RouteMatch, VirtualHost
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2 import (
    HttpConnectionManager,
    Rds,
)
from google.protobuf.any_pb2 import Any as AnyMessage

from gitxds import typeurls
from gitxds.xds.cache import Snapshot


def ads() -> ConfigSource:
    return ConfigSource(ads=AggregatedConfigSource(), resource_api_version=3)


def cluster(name: str, *, timeout_ms: int = 250) -> Cluster:
    result = Cluster(name=name, type=Cluster.EDS)
    result.eds_cluster_config.eds_config.CopyFrom(ads())
    result.connect_timeout.FromMilliseconds(timeout_ms)
    return result


def assignment(name: str, port: int = 8080, host: str = "127.0.0.1") -> ClusterLoadAssignment:
    address = Address(socket_address=SocketAddress(address=host, port_value=port))
    endpoint = LbEndpoint(endpoint=Endpoint(address=address))
    return ClusterLoadAssignment(cluster_name=name, endpoints=[LocalityLbEndpoints(lb_endpoints=[endpoint])])


def route_config(name: str, routes: Mapping[str, str]) -> RouteConfiguration:
    """``routes`` maps a path prefix to the cluster it goes to."""
    entries = [
        Route(match=RouteMatch(prefix=prefix), route=RouteAction(cluster=target))
        for prefix, target in routes.items()
    ]
    return RouteConfiguration(
        name=name, virtual_hosts=[VirtualHost(name="all", domains=["*"], routes=entries)]
    )


def listener(name: str, route_config_name: str, port: int = 10000) -> Listener:
    manager = HttpConnectionManager(
        stat_prefix=name, rds=Rds(route_config_name=route_config_name, config_source=ads())
    )
    typed = AnyMessage()
    typed.Pack(manager)
    address = Address(socket_address=SocketAddress(address="127.0.0.1", port_value=port))
    return Listener(
        name=name,
        address=address,
        filter_chains=[FilterChain(filters=[Filter(name="hcm", typed_config=typed)])],
    )


def gateway(
    clusters: Iterable[str] = ("a",),
    routes: Mapping[str, str] | None = None,
    *,
    port_of: Mapping[str, int] | None = None,
    route_configs: Sequence[str] = ("routes",),
) -> dict[str, list[Any]]:
    """A consistent config: one listener per route config, each route config with ``routes``."""
    names = list(clusters)
    routes = routes if routes is not None else {"/": names[0]}
    ports = port_of or {}
    return {
        typeurls.CLUSTER: [cluster(name) for name in names],
        typeurls.ENDPOINT: [assignment(name, ports.get(name, 8080)) for name in names],
        typeurls.LISTENER: [listener(f"listener-{rc}", rc, 10000 + i) for i, rc in enumerate(route_configs)],
        typeurls.ROUTE: [route_config(rc, routes) for rc in route_configs],
    }


def snapshot(
    clusters: Iterable[str] = ("a",),
    routes: Mapping[str, str] | None = None,
    *,
    label: str = "",
    **kwargs: Any,
) -> Snapshot:
    return Snapshot.build(gateway(clusters, routes, **kwargs), config_version=label)
