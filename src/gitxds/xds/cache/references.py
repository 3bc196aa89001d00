"""Which other xDS resources a resource names: the edges that consistency and make-before-break follow."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.extensions.clusters.aggregate.v3.cluster_pb2 import ClusterConfig
from envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2 import (
    HttpConnectionManager,
)
from envoy.extensions.filters.network.tcp_proxy.v3.tcp_proxy_pb2 import TcpProxy
from google.protobuf.message import Message

from gitxds import typeurls

_HCM_TYPE = "type.googleapis.com/" + HttpConnectionManager.DESCRIPTOR.full_name
_TCP_PROXY_TYPE = "type.googleapis.com/" + TcpProxy.DESCRIPTOR.full_name
_AGGREGATE_TYPE = "type.googleapis.com/" + ClusterConfig.DESCRIPTOR.full_name


class Reference(NamedTuple):
    """A name of a resource of type ``type_url``."""

    type_url: str
    name: str


Named = Mapping[str, frozenset[str]]
"""The names a resource gives to resources of other types, by type URL (types it names nothing of
are absent)."""


def named_of(type_url: str, message: Message) -> Named:
    if type_url == typeurls.ROUTE:
        return _by_type(Reference(typeurls.CLUSTER, name) for name in _route_config_clusters(message))
    if type_url == typeurls.LISTENER:
        return _by_type(_listener_references(message))
    if type_url == typeurls.CLUSTER:
        return _by_type(_cluster_references(message))
    return {}


def _by_type(references: Iterable[Reference]) -> Named:
    names: dict[str, set[str]] = {}
    for reference in references:
        names.setdefault(reference.type_url, set()).add(reference.name)
    return {type_url: frozenset(each) for type_url, each in names.items()}


def _route_config_clusters(route_config: Any) -> Iterator[str]:
    for virtual_host in route_config.virtual_hosts:
        for route in virtual_host.routes:
            if not route.HasField("route"):
                continue
            action = route.route
            if action.cluster:
                yield action.cluster
            for weighted in action.weighted_clusters.clusters:
                yield weighted.name
            for mirror in action.request_mirror_policies:
                if mirror.cluster:
                    yield mirror.cluster


def _listener_references(listener: Any) -> Iterator[Reference]:
    chains: Iterable[Any] = list(listener.filter_chains)
    if listener.HasField("default_filter_chain"):
        chains = [*chains, listener.default_filter_chain]
    for chain in chains:
        for network_filter in chain.filters:
            typed = network_filter.typed_config
            if typed.type_url == _HCM_TYPE:
                yield from _hcm_references(typed)
            elif typed.type_url == _TCP_PROXY_TYPE:
                yield from _tcp_proxy_references(typed)


def _hcm_references(typed: Any) -> Iterator[Reference]:
    manager = HttpConnectionManager()
    typed.Unpack(manager)
    if manager.HasField("rds"):
        yield Reference(typeurls.ROUTE, manager.rds.route_config_name)
    elif manager.HasField("route_config"):
        for name in _route_config_clusters(manager.route_config):
            yield Reference(typeurls.CLUSTER, name)


def _tcp_proxy_references(typed: Any) -> Iterator[Reference]:
    proxy = TcpProxy()
    typed.Unpack(proxy)
    if proxy.cluster:
        yield Reference(typeurls.CLUSTER, proxy.cluster)
    for weighted in proxy.weighted_clusters.clusters:
        yield Reference(typeurls.CLUSTER, weighted.name)


def _cluster_references(cluster: Any) -> Iterator[Reference]:
    if cluster.WhichOneof("cluster_discovery_type") == "type" and cluster.type == Cluster.EDS:
        yield Reference(typeurls.ENDPOINT, cluster.eds_cluster_config.service_name or cluster.name)
    elif cluster.HasField("cluster_type") and cluster.cluster_type.typed_config.type_url == _AGGREGATE_TYPE:
        members = ClusterConfig()
        cluster.cluster_type.typed_config.Unpack(members)
        for member in members.clusters:
            yield Reference(typeurls.CLUSTER, member)
