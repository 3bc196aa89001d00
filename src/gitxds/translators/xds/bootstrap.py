"""Envoy bootstraps: dynamic (ADS from gitxds) and static (a gateway's resources inlined)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from envoy.config.bootstrap.v3.bootstrap_pb2 import Admin, Bootstrap
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.core.v3.base_pb2 import Node, TransportSocket
from envoy.config.core.v3.config_source_pb2 import ApiConfigSource, ApiVersion
from envoy.config.core.v3.grpc_service_pb2 import GrpcService
from envoy.config.core.v3.protocol_pb2 import Http2ProtocolOptions
from envoy.config.endpoint.v3.endpoint_components_pb2 import Endpoint, LbEndpoint, LocalityLbEndpoints
from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from envoy.config.listener.v3.listener_pb2 import Listener
from envoy.config.route.v3.route_pb2 import RouteConfiguration
from envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2 import (
    HttpConnectionManager,
)
from envoy.extensions.transport_sockets.tls.v3.tls_pb2 import DownstreamTlsContext
from envoy.extensions.upstreams.http.v3.http_protocol_options_pb2 import HttpProtocolOptions
from google.protobuf import json_format
from google.protobuf.message import Message

from gitxds import ir, typeurls
from gitxds.errors import UsageError
from gitxds.translators.xds._proto import CONTROL_PLANE_CLUSTER, ads_config_source, duration, packed, uint32
from gitxds.translators.xds.clusters import HTTP_PROTOCOL_OPTIONS
from gitxds.translators.xds.endpoints import socket_address_for
from gitxds.translators.xds.gateway import translate_gateway
from gitxds.translators.xds.listeners import GRPC_ACCESS_LOG

__all__ = [
    "XDS_CLUSTER",
    "bootstrap_json",
    "dynamic_bootstrap",
    "parse_host_port",
    "static_bootstrap",
    "static_bootstrap_of",
]

XDS_CLUSTER = CONTROL_PLANE_CLUSTER
# Large route tables exceed gRPC's default 4 MiB per message; allow far more, with HTTP/2 windows to match.
MAX_XDS_MESSAGE_BYTES = 256 * 1024 * 1024
XDS_WINDOW_BYTES = 16 * 1024 * 1024


def _admin(address: str, port: int) -> Admin:
    return Admin(address=socket_address_for(address, port))


def parse_host_port(address: str) -> tuple[str, int]:
    host, separator, port = address.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f'xDS address "{address}" is not HOST:PORT')
    return host.strip("[]"), int(port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _xds_cluster(xds_address: str, tls: TransportSocket | None = None) -> Cluster:
    host, port = parse_host_port(xds_address)
    http2 = Http2ProtocolOptions(
        initial_stream_window_size=uint32(XDS_WINDOW_BYTES),
        initial_connection_window_size=uint32(XDS_WINDOW_BYTES),
    )
    options = HttpProtocolOptions(
        explicit_http_config=HttpProtocolOptions.ExplicitHttpConfig(http2_protocol_options=http2)
    )
    endpoint = LbEndpoint(endpoint=Endpoint(address=socket_address_for(host, port)))
    cluster = Cluster(
        name=XDS_CLUSTER,
        type=Cluster.STATIC if _is_ip(host) else Cluster.STRICT_DNS,
        connect_timeout=duration(1000),
        load_assignment=ClusterLoadAssignment(
            cluster_name=XDS_CLUSTER, endpoints=[LocalityLbEndpoints(lb_endpoints=[endpoint])]
        ),
    )
    cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(packed(options))
    if tls is not None:
        cluster.transport_socket.CopyFrom(tls)
    return cluster


def dynamic_bootstrap(
    *,
    xds_address: str,
    node_id: str,
    node_cluster: str,
    admin_port: int = 9901,
    delta: bool = False,
    admin_address: str = "127.0.0.1",
    xds_tls: TransportSocket | None = None,
) -> Bootstrap:
    """A bootstrap that takes every listener and cluster from gitxds over one ADS stream.

    ``xds_tls`` (see :func:`~gitxds.translators.xds.xds_tls.xds_client_tls_for`) secures that stream."""
    grpc = GrpcService(
        envoy_grpc=GrpcService.EnvoyGrpc(
            cluster_name=XDS_CLUSTER, max_receive_message_length=uint32(MAX_XDS_MESSAGE_BYTES)
        )
    )
    ads = ApiConfigSource(
        api_type=ApiConfigSource.DELTA_GRPC if delta else ApiConfigSource.GRPC,
        transport_api_version=ApiVersion.V3,
        grpc_services=[grpc],
        set_node_on_first_message_only=True,
    )
    return Bootstrap(
        node=Node(id=node_id, cluster=node_cluster),
        dynamic_resources=Bootstrap.DynamicResources(
            ads_config=ads, lds_config=ads_config_source(), cds_config=ads_config_source()
        ),
        static_resources=Bootstrap.StaticResources(clusters=[_xds_cluster(xds_address, xds_tls)]),
        admin=_admin(admin_address, admin_port),
    )


def _static_listener(listener: Listener, route_configs: Mapping[str, RouteConfiguration]) -> Listener:
    """The listener with its RouteConfiguration inlined and its certificates taken from static secrets."""
    static = Listener()
    static.CopyFrom(listener)
    for chain in static.filter_chains:
        for network_filter in chain.filters:
            manager = HttpConnectionManager()
            network_filter.typed_config.Unpack(manager)
            manager.route_config.CopyFrom(route_configs[manager.rds.route_config_name])
            # Without gitxds there is no one to stream access logs to.
            kept = [log for log in manager.access_log if log.name != GRPC_ACCESS_LOG]
            del manager.access_log[:]
            manager.access_log.extend(kept)
            network_filter.typed_config.Pack(manager)
        if chain.HasField("transport_socket"):
            tls = DownstreamTlsContext()
            chain.transport_socket.typed_config.Unpack(tls)
            for secret_config in tls.common_tls_context.tls_certificate_sds_secret_configs:
                secret_config.ClearField("sds_config")
            chain.transport_socket.typed_config.Pack(tls)
    return static


def _static_cluster(cluster: Cluster, assignments: Mapping[str, ClusterLoadAssignment]) -> Cluster:
    """EDS clusters become STATIC with their endpoints inline."""
    if cluster.type != Cluster.EDS:
        return cluster
    static = Cluster()
    static.CopyFrom(cluster)
    static.ClearField("eds_cluster_config")
    static.type = Cluster.STATIC
    static.load_assignment.CopyFrom(assignments[cluster.name])
    return static


def _named(resources: list[Message], key: str = "name") -> dict[str, Message]:
    return {getattr(resource, key): resource for resource in resources}


def static_bootstrap(
    model: ir.Model, gateway: str, secrets: Mapping[str, str] | None = None, admin_port: int = 9901
) -> Bootstrap:
    """The gateway's resources inlined as ``static_resources``, to inspect or ``envoy --mode validate``
    (without the access log streamed to gitxds, which a static Envoy has no cluster for)."""
    return static_bootstrap_of(model.gateway(gateway), translate_gateway(model, gateway, secrets), admin_port)


def static_bootstrap_of(
    gateway: ir.Gateway, resources: Mapping[str, list[Message]], admin_port: int = 9901
) -> Bootstrap:
    """Like :func:`static_bootstrap`, from resources :func:`translate_gateway` already built."""
    route_configs = _named(resources[typeurls.ROUTE])
    assignments = _named(resources[typeurls.ENDPOINT], "cluster_name")
    selector = gateway.proxies
    return Bootstrap(
        node=Node(id=selector.node_id or f"{gateway.name}-static", cluster=selector.cluster or gateway.name),
        static_resources=Bootstrap.StaticResources(
            listeners=[_static_listener(lst, route_configs) for lst in resources[typeurls.LISTENER]],
            clusters=[_static_cluster(c, assignments) for c in resources[typeurls.CLUSTER]],
            secrets=resources[typeurls.SECRET],
        ),
        admin=_admin("127.0.0.1", admin_port),
    )


def bootstrap_json(bootstrap: Bootstrap) -> str:
    """A bootstrap as the JSON file Envoy reads with ``-c``."""
    return str(json_format.MessageToJson(bootstrap, preserving_proto_field_name=True))
