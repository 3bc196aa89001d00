"""IR models built in Python, covering every mapping of the Istio export."""

from __future__ import annotations

from gitxds import ir


def chat_model() -> ir.Model:
    """Two versions of one Kubernetes service, an external provider over DNS, and every rule feature."""
    chat_v1 = ir.Backend(
        name="chat-v1",
        endpoints=ir.KubernetesEndpoints(
            service="chat", namespace="models", port=8000, selector=(("version", "v1"),)
        ),
        labels=(("model", "chat"), ("version", "v1")),
        load_balancer=ir.LoadBalancer.LEAST_REQUEST,
        circuit_breaker=ir.CircuitBreaker(
            max_connections=100, max_pending_requests=50, max_requests=200, max_retries=3
        ),
        outlier_detection=ir.OutlierDetection(
            consecutive_5xx=5, interval_ms=10_000, base_ejection_time_ms=30_000, max_ejection_percent=50
        ),
    )
    chat_v2 = ir.Backend(
        name="chat-v2",
        endpoints=ir.KubernetesEndpoints(
            service="chat", namespace="models", port=8000, selector=(("version", "v2"),)
        ),
        labels=(("model", "chat"), ("version", "v2")),
        load_balancer=ir.LoadBalancer.RING_HASH,
        hash_on_header="x-session-id",
    )
    provider = ir.Backend(
        name="provider-b",
        endpoints=ir.DnsEndpoints(hostname="api.provider.example", port=443),
        protocol=ir.Protocol.HTTP2,
        tls=ir.UpstreamTls(sni="api.provider.example"),
        connect_timeout_ms=1000,
    )
    rule = ir.Rule(
        name="chat/0",
        matches=(
            ir.Match(
                path=ir.PathMatch(ir.PathMatchKind.PREFIX, "/v1/chat/completions"),
                headers=(ir.HeaderMatch("x-model", ir.HeaderMatchKind.EXACT, "chat-large"),),
                methods=("POST",),
            ),
        ),
        backends=(ir.WeightedBackend("chat-v1", 90), ir.WeightedBackend("chat-v2", 10)),
        timeout_ms=120_000,
        retries=ir.Retry(attempts=2, on=("5xx", "reset", "connect-failure"), per_try_timeout_ms=30_000),
        mirror=ir.Mirror(backend="provider-b", percent=5.0),
        fault=ir.Fault(delay=ir.FaultDelay(10.0, 2000), abort=ir.FaultAbort(1.0, 503)),
        request_headers=ir.HeaderOps(set=(("x-route", "chat"),)),
        response_headers=ir.HeaderOps(remove=("server",)),
    )
    route = ir.Route(name="chat", gateways=("edge",), hostnames=("api.example.com",), rules=(rule,))
    gateway = ir.Gateway(
        name="edge",
        proxies=ir.ProxySelector(cluster="edge"),
        listeners=(
            ir.Listener(name="http", port=10000),
            ir.Listener(name="https", port=10443, protocol=ir.ListenerProtocol.HTTPS, tls_secret="edge-cert"),
        ),
    )
    return ir.Model(gateways=(gateway,), backends=(chat_v1, chat_v2, provider), routes=(route,))
