"""Cluster builders: one Envoy cluster per Backend, plus aggregate clusters for fallbacks."""

from __future__ import annotations

from envoy.config.cluster.v3.circuit_breaker_pb2 import CircuitBreakers
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.config.cluster.v3.outlier_detection_pb2 import OutlierDetection
from envoy.config.common.mutation_rules.v3 import mutation_rules_pb2
from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption, RoutingPriority, TransportSocket
from envoy.config.core.v3.health_check_pb2 import HealthCheck
from envoy.config.core.v3.protocol_pb2 import Http1ProtocolOptions, Http2ProtocolOptions
from envoy.extensions.clusters.aggregate.v3.cluster_pb2 import ClusterConfig
from envoy.extensions.filters.http.header_mutation.v3.header_mutation_pb2 import HeaderMutation, Mutations
from envoy.extensions.filters.http.upstream_codec.v3.upstream_codec_pb2 import UpstreamCodec
from envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2 import (
    HttpFilter,
)
from envoy.extensions.transport_sockets.tls.v3.tls_pb2 import CommonTlsContext, UpstreamTlsContext
from envoy.extensions.upstreams.http.v3.http_protocol_options_pb2 import HttpProtocolOptions
from envoy.type.v3.http_pb2 import CodecClientType

from gitxds import ir
from gitxds.translators.xds._proto import ADS_CONFIG_SOURCE, duration, packed, set_duration, uint32
from gitxds.translators.xds.endpoints import (
    METADATA_NAMESPACE,
    REQUEST_HEADERS_METADATA_KEY,
    load_assignment_for,
)
from gitxds.translators.xds.headers import header_value_options_for
from gitxds.translators.xds.secrets import SecretValues

__all__ = [
    "aggregate_cluster_for",
    "aggregate_cluster_name",
    "circuit_breakers_for",
    "cluster_for",
    "health_check_for",
    "http_protocol_options_for",
    "outlier_detection_for",
    "upstream_tls_for",
]

HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

_LB_POLICIES = {
    ir.LoadBalancer.ROUND_ROBIN: Cluster.ROUND_ROBIN,
    ir.LoadBalancer.LEAST_REQUEST: Cluster.LEAST_REQUEST,
    ir.LoadBalancer.RANDOM: Cluster.RANDOM,
    ir.LoadBalancer.RING_HASH: Cluster.RING_HASH,
}


def fallback_of(primary: str, fallback: tuple[str, ...]) -> tuple[str, ...]:
    """The fallback chain of one primary backend: itself left out, should the rule list it."""
    return tuple(name for name in fallback if name != primary)


def aggregate_cluster_name(primary: str, fallback: tuple[str, ...]) -> str:
    return "+".join((primary, "fallback", *fallback))


def circuit_breakers_for(breaker: ir.CircuitBreaker) -> CircuitBreakers:
    limits = {
        "max_connections": breaker.max_connections,
        "max_pending_requests": breaker.max_pending_requests,
        "max_requests": breaker.max_requests,
        "max_retries": breaker.max_retries,
    }
    thresholds = CircuitBreakers.Thresholds(priority=RoutingPriority.DEFAULT)
    for field, limit in limits.items():
        if limit is not None:
            getattr(thresholds, field).value = limit
    return CircuitBreakers(thresholds=[thresholds])


def outlier_detection_for(detection: ir.OutlierDetection) -> OutlierDetection:
    result = OutlierDetection()
    if detection.consecutive_5xx is not None:
        result.consecutive_5xx.value = detection.consecutive_5xx
    if detection.interval_ms is not None:
        result.interval.CopyFrom(duration(detection.interval_ms))
    if detection.base_ejection_time_ms is not None:
        result.base_ejection_time.CopyFrom(duration(detection.base_ejection_time_ms))
    if detection.max_ejection_percent is not None:
        result.max_ejection_percent.value = detection.max_ejection_percent
    return result


def health_check_for(check: ir.HealthCheck, protocol: ir.Protocol) -> HealthCheck:
    codec = CodecClientType.HTTP1 if protocol is ir.Protocol.HTTP1 else CodecClientType.HTTP2
    return HealthCheck(
        timeout=duration(check.timeout_ms),
        interval=duration(check.interval_ms),
        # Envoy checks a cluster that has had no traffic yet only every 60 s by default; the user's
        # interval holds from the start, so an unhealthy endpoint is seen to recover promptly.
        no_traffic_interval=duration(check.interval_ms),
        healthy_threshold=uint32(check.healthy_threshold),
        unhealthy_threshold=uint32(check.unhealthy_threshold),
        http_health_check=HealthCheck.HttpHealthCheck(path=check.path, codec_client_type=codec),
    )


def upstream_tls_for(tls: ir.UpstreamTls, http2: bool) -> TransportSocket:
    alpn = ["h2"] if http2 else []
    context = UpstreamTlsContext(sni=tls.sni or "", common_tls_context=CommonTlsContext(alpn_protocols=alpn))
    return TransportSocket(name="envoy.transport_sockets.tls", typed_config=packed(context))


def _header_mutation_filters(mutations: list[mutation_rules_pb2.HeaderMutation]) -> list[HttpFilter]:
    config = HeaderMutation(mutations=Mutations(request_mutations=mutations))
    return [
        HttpFilter(name="envoy.filters.http.header_mutation", typed_config=packed(config)),
        HttpFilter(name="envoy.filters.http.upstream_codec", typed_config=packed(UpstreamCodec())),
    ]


def upstream_header_filters_for(backend: ir.Backend, secrets: SecretValues) -> list[HttpFilter]:
    """Backend ``requestHeaders`` as an upstream filter, so they apply whichever route sent the
    request to this cluster."""
    ops = backend.request_headers
    mutation = mutation_rules_pb2.HeaderMutation
    mutations = [mutation(append=option) for option in header_value_options_for(ops, secrets)]
    mutations += [mutation(remove=name) for name in ops.remove]
    return _header_mutation_filters(mutations)


def fallback_header_filters_for(members: tuple[ir.Backend, ...]) -> list[HttpFilter]:
    """``requestHeaders`` for an aggregate cluster, which runs its own upstream filters, not its
    members'. Each attempt first removes every header any member rewrites (so one provider's
    credentials never reach another on a retry), then sets the values the chosen endpoint carries
    in its metadata; a member that does not set such a header sends the request without it."""
    names = sorted({name for b in members for name, _ in (*b.request_headers.set, *b.request_headers.add)})
    removed = sorted({name for b in members for name in b.request_headers.remove} | set(names))
    mutation = mutation_rules_pb2.HeaderMutation
    mutations = [mutation(remove=name) for name in removed]
    for name in names:
        value = f"%UPSTREAM_METADATA({METADATA_NAMESPACE}:{REQUEST_HEADERS_METADATA_KEY}:{name})%"
        option = HeaderValueOption(
            header=HeaderValue(key=name, value=value),
            append_action=HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
        )
        mutations.append(mutation(append=option))
    return _header_mutation_filters(mutations)


def http_protocol_options_for(backend: ir.Backend, secrets: SecretValues, http2: bool) -> HttpProtocolOptions:
    explicit = HttpProtocolOptions.ExplicitHttpConfig()
    if http2:
        explicit.http2_protocol_options.CopyFrom(Http2ProtocolOptions())
    else:
        explicit.http_protocol_options.SetInParent()
    options = HttpProtocolOptions(explicit_http_config=explicit)
    if backend.request_headers:
        options.http_filters.extend(upstream_header_filters_for(backend, secrets))
    return options


def cluster_for(backend: ir.Backend, secrets: SecretValues, *, grpc_service: bool = False) -> Cluster:
    """The Envoy cluster of one Backend. ``grpc_service``: the backend is called over gRPC by Envoy
    itself (ext_authz, rate limit service), so it speaks HTTP/2 whatever its ``protocol`` says."""
    http2 = grpc_service or backend.protocol is not ir.Protocol.HTTP1
    cluster = Cluster(name=backend.name, lb_policy=_LB_POLICIES[backend.load_balancer])
    set_duration(cluster.connect_timeout, backend.connect_timeout_ms)
    source = backend.endpoints
    if isinstance(source, ir.DnsEndpoints):
        cluster.type = Cluster.LOGICAL_DNS if source.logical else Cluster.STRICT_DNS
        cluster.dns_lookup_family = Cluster.V4_PREFERRED
        cluster.load_assignment.CopyFrom(load_assignment_for(backend, secrets))
    else:
        cluster.type = Cluster.EDS
        cluster.eds_cluster_config.eds_config.MergeFromString(ADS_CONFIG_SOURCE)
    if backend.circuit_breaker is not None:
        cluster.circuit_breakers.CopyFrom(circuit_breakers_for(backend.circuit_breaker))
    if backend.outlier_detection is not None:
        cluster.outlier_detection.CopyFrom(outlier_detection_for(backend.outlier_detection))
    if backend.health_check is not None:
        cluster.health_checks.append(health_check_for(backend.health_check, backend.protocol))
    if backend.tls is not None:
        cluster.transport_socket.CopyFrom(upstream_tls_for(backend.tls, http2))
    if http2 or backend.request_headers:
        options = http_protocol_options_for(backend, secrets, http2)
        cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(packed(options))
    return cluster


def aggregate_cluster_for(primary: ir.Backend, fallback: tuple[ir.Backend, ...]) -> Cluster:
    """Sends to ``primary``, and to each fallback in turn when every endpoint before it is unhealthy
    or when a retry moves on to the next priority (see ``routes.retry_policy_for``)."""
    members = (primary, *fallback)
    config = ClusterConfig(clusters=[member.name for member in members])
    cluster = Cluster(
        name=aggregate_cluster_name(primary.name, tuple(b.name for b in fallback)),
        connect_timeout=duration(5000),
        lb_policy=Cluster.CLUSTER_PROVIDED,
        cluster_type=Cluster.CustomClusterType(name="envoy.clusters.aggregate", typed_config=packed(config)),
    )
    if any(member.request_headers for member in members):
        # The protocol still comes from the member cluster that serves the request.
        options = HttpProtocolOptions(
            explicit_http_config=HttpProtocolOptions.ExplicitHttpConfig(
                http_protocol_options=Http1ProtocolOptions()
            ),
            http_filters=fallback_header_filters_for(members),
        )
        cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(packed(options))
    return cluster
