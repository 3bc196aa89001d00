"""Backends become Envoy clusters and endpoint assignments with every setting the config names."""

from __future__ import annotations

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster
from envoy.extensions.clusters.aggregate.v3.cluster_pb2 import ClusterConfig
from envoy.extensions.filters.http.header_mutation.v3.header_mutation_pb2 import HeaderMutation
from envoy.extensions.transport_sockets.tls.v3.tls_pb2 import UpstreamTlsContext
from envoy.extensions.upstreams.http.v3.http_protocol_options_pb2 import HttpProtocolOptions
from envoy.type.v3.http_pb2 import CodecClientType

from gitxds import ir
from gitxds.translators.xds import (
    REDACTED,
    SecretValues,
    UnknownSecretError,
    aggregate_cluster_for,
    cluster_for,
    load_assignment_for,
)
from gitxds.translators.xds.clusters import HTTP_PROTOCOL_OPTIONS

RENDER = SecretValues.of(None)
STATIC = ir.StaticEndpoints((ir.Endpoint("10.0.0.1", 8000),))


def protocol_options(cluster: Cluster) -> HttpProtocolOptions:
    options = HttpProtocolOptions()
    cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].Unpack(options)
    return options


def request_mutations(options: HttpProtocolOptions) -> list[tuple[str, str, str]]:
    """(remove|append, header, value) for each mutation of the upstream header_mutation filter."""
    config = HeaderMutation()
    options.http_filters[0].typed_config.Unpack(config)
    result = []
    for mutation in config.mutations.request_mutations:
        if mutation.remove:
            result.append(("remove", mutation.remove, ""))
        else:
            result.append(("append", mutation.append.header.key, mutation.append.header.value))
    return result


def test_static_and_kubernetes_backends_get_endpoints_over_eds() -> None:
    for source in (STATIC, ir.KubernetesEndpoints("chat", "models", 8000)):
        cluster = cluster_for(ir.Backend("chat", source), RENDER)
        assert cluster.type == Cluster.EDS
        assert cluster.eds_cluster_config.eds_config.HasField("ads")
        assert not cluster.HasField("load_assignment")


def test_dns_backends_are_resolved_by_envoy() -> None:
    strict = cluster_for(ir.Backend("p", ir.DnsEndpoints("api.example.com", 443)), RENDER)
    logical = cluster_for(ir.Backend("p", ir.DnsEndpoints("api.example.com", 443, logical=True)), RENDER)
    assert strict.type == Cluster.STRICT_DNS
    assert logical.type == Cluster.LOGICAL_DNS
    address = strict.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    assert (address.address, address.port_value) == ("api.example.com", 443)


@pytest.mark.parametrize(
    ("balancer", "expected"),
    [
        (ir.LoadBalancer.ROUND_ROBIN, Cluster.ROUND_ROBIN),
        (ir.LoadBalancer.LEAST_REQUEST, Cluster.LEAST_REQUEST),
        (ir.LoadBalancer.RANDOM, Cluster.RANDOM),
        (ir.LoadBalancer.RING_HASH, Cluster.RING_HASH),
    ],
)
def test_load_balancer(balancer: ir.LoadBalancer, expected: int) -> None:
    assert cluster_for(ir.Backend("b", STATIC, load_balancer=balancer), RENDER).lb_policy == expected


def test_resilience_settings() -> None:
    backend = ir.Backend(
        "b",
        STATIC,
        connect_timeout_ms=250,
        circuit_breaker=ir.CircuitBreaker(max_connections=100, max_requests=200),
        outlier_detection=ir.OutlierDetection(consecutive_5xx=5, interval_ms=10_000, max_ejection_percent=50),
        health_check=ir.HealthCheck("/healthz", interval_ms=5000, timeout_ms=1000, unhealthy_threshold=3),
    )
    cluster = cluster_for(backend, RENDER)
    assert cluster.connect_timeout.ToMilliseconds() == 250
    thresholds = cluster.circuit_breakers.thresholds[0]
    assert thresholds.max_connections.value == 100
    assert thresholds.max_requests.value == 200
    assert not thresholds.HasField("max_pending_requests")  # unset limits keep Envoy's defaults
    assert cluster.outlier_detection.consecutive_5xx.value == 5
    assert cluster.outlier_detection.interval.seconds == 10
    assert cluster.outlier_detection.max_ejection_percent.value == 50
    assert not cluster.outlier_detection.HasField("base_ejection_time")
    check = cluster.health_checks[0]
    assert check.http_health_check.path == "/healthz"
    assert (check.interval.seconds, check.timeout.seconds, check.unhealthy_threshold.value) == (5, 1, 3)
    assert check.no_traffic_interval.seconds == 5  # not Envoy's 60 s before the first request
    assert check.http_health_check.codec_client_type == CodecClientType.HTTP1


def test_http2_and_grpc_backends_speak_http2_and_health_check_over_it() -> None:
    check = ir.HealthCheck("/ready", 5000, 1000)
    for protocol in (ir.Protocol.HTTP2, ir.Protocol.GRPC):
        cluster = cluster_for(ir.Backend("b", STATIC, protocol=protocol, health_check=check), RENDER)
        assert protocol_options(cluster).explicit_http_config.HasField("http2_protocol_options")
        assert cluster.health_checks[0].http_health_check.codec_client_type == CodecClientType.HTTP2
    http1 = cluster_for(ir.Backend("b", STATIC), RENDER)
    assert HTTP_PROTOCOL_OPTIONS not in http1.typed_extension_protocol_options


def test_services_envoy_calls_over_grpc_use_http2_whatever_the_protocol_says() -> None:
    cluster = cluster_for(ir.Backend("authz", STATIC), RENDER, grpc_service=True)
    assert protocol_options(cluster).explicit_http_config.HasField("http2_protocol_options")


def test_upstream_tls_with_sni_and_h2_alpn() -> None:
    backend = ir.Backend("b", STATIC, protocol=ir.Protocol.HTTP2, tls=ir.UpstreamTls(sni="api.example.com"))
    context = UpstreamTlsContext()
    cluster_for(backend, RENDER).transport_socket.typed_config.Unpack(context)
    assert context.sni == "api.example.com"
    assert list(context.common_tls_context.alpn_protocols) == ["h2"]


def test_backend_request_headers_resolve_secrets_or_redact_them() -> None:
    ops = ir.HeaderOps(
        set=(("authorization", ir.SecretRef("key")),), add=(("x-via", "gitxds"),), remove=("cookie",)
    )
    backend = ir.Backend("provider", STATIC, request_headers=ops)
    resolved = request_mutations(protocol_options(cluster_for(backend, SecretValues.of({"key": "Bearer s"}))))
    assert resolved == [
        ("append", "authorization", "Bearer s"),
        ("append", "x-via", "gitxds"),
        ("remove", "cookie", ""),
    ]
    redacted = request_mutations(protocol_options(cluster_for(backend, RENDER)))
    assert ("append", "authorization", REDACTED) in redacted
    with pytest.raises(UnknownSecretError, match='"key"'):
        cluster_for(backend, SecretValues.of({}))


def test_load_assignment_groups_priorities_and_names_the_backend() -> None:
    source = ir.StaticEndpoints(
        (
            ir.Endpoint("10.0.0.3", 80, priority=1),
            ir.Endpoint("10.0.0.1", 80, weight=3),
            ir.Endpoint("10.0.0.2", 80),
        )
    )
    assignment = load_assignment_for(ir.Backend("chat", source), RENDER)
    assert assignment.cluster_name == "chat"
    assert [group.priority for group in assignment.endpoints] == [0, 1]
    first = assignment.endpoints[0].lb_endpoints
    assert [e.endpoint.address.socket_address.address for e in first] == ["10.0.0.1", "10.0.0.2"]
    assert [e.load_balancing_weight.value for e in first] == [3, 1]
    assert first[0].metadata.filter_metadata["gitxds"]["backend"] == "chat"


def test_kubernetes_backends_start_with_no_endpoints() -> None:
    backend = ir.Backend("chat", ir.KubernetesEndpoints("chat", "models", 8000))
    assignment = load_assignment_for(backend, RENDER)
    assert assignment.cluster_name == "chat"
    assert len(assignment.endpoints) == 0


def test_aggregate_cluster_lists_primary_then_fallbacks_in_order() -> None:
    primary = ir.Backend("chat-v1", STATIC)
    fallback = (ir.Backend("provider-a", STATIC), ir.Backend("provider-b", STATIC))
    cluster = aggregate_cluster_for(primary, fallback)
    assert cluster.name == "chat-v1+fallback+provider-a+provider-b"
    assert cluster.lb_policy == Cluster.CLUSTER_PROVIDED
    config = ClusterConfig()
    cluster.cluster_type.typed_config.Unpack(config)
    assert list(config.clusters) == ["chat-v1", "provider-a", "provider-b"]
    assert HTTP_PROTOCOL_OPTIONS not in cluster.typed_extension_protocol_options


def test_aggregate_cluster_takes_member_headers_from_the_chosen_endpoint() -> None:
    provider = ir.Backend(
        "provider", STATIC, request_headers=ir.HeaderOps(set=(("authorization", ir.SecretRef("k")),))
    )
    cluster = aggregate_cluster_for(ir.Backend("chat", STATIC), (provider,))
    assert request_mutations(protocol_options(cluster)) == [
        ("remove", "authorization", ""),
        ("append", "authorization", "%UPSTREAM_METADATA(gitxds:request_headers:authorization)%"),
    ]
    assignment = load_assignment_for(provider, SecretValues.of({"k": "Bearer s"}))
    metadata = assignment.endpoints[0].lb_endpoints[0].metadata.filter_metadata["gitxds"]
    assert metadata["request_headers"]["authorization"] == "Bearer s"
