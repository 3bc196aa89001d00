"""Backend groups -> DestinationRule (traffic policy, subsets) and ServiceEntry (non-Kubernetes hosts)."""

from __future__ import annotations

from gitxds import ir
from gitxds.findings import FindingReason, Findings
from gitxds.translators.istio.hosts import BackendGroup, backend_port, pod_selector
from gitxds.translators.istio.values import API_NETWORKING, Document, duration, metadata

__all__ = ["destination_rule", "service_entry", "traffic_policy"]

_SIMPLE_LB = {
    ir.LoadBalancer.ROUND_ROBIN: "ROUND_ROBIN",
    ir.LoadBalancer.LEAST_REQUEST: "LEAST_REQUEST",
    ir.LoadBalancer.RANDOM: "RANDOM",
}
_PORT_PROTOCOL = {ir.Protocol.HTTP1: "HTTP", ir.Protocol.HTTP2: "HTTP2", ir.Protocol.GRPC: "GRPC"}


def destination_rule(group: BackendGroup, namespace: str, findings: Findings) -> Document:
    kubernetes = isinstance(group.backends[0].endpoints, ir.KubernetesEndpoints)
    policies = [traffic_policy(b, kubernetes, findings) for b in group.backends]
    spec: Document = {"host": group.host}
    shared = all(p == policies[0] for p in policies)
    if shared:
        spec["trafficPolicy"] = policies[0]
    subsets = []
    for backend, subset, policy in zip(group.backends, group.subsets, policies, strict=True):
        if subset is None:
            continue
        entry: Document = {"name": subset}
        if pod_labels := pod_selector(backend):
            entry["labels"] = pod_labels
        if not shared:
            entry["trafficPolicy"] = policy
        subsets.append(entry)
    if subsets:
        spec["subsets"] = subsets
    if not shared and None in group.subsets:
        spec["trafficPolicy"] = policies[group.subsets.index(None)]
    return {
        "apiVersion": API_NETWORKING,
        "kind": "DestinationRule",
        "metadata": metadata(group.name, namespace),
        "spec": spec,
    }


def traffic_policy(backend: ir.Backend, kubernetes: bool, findings: Findings) -> Document:
    """The DestinationRule trafficPolicy equivalent to one Backend's cluster settings."""
    _report_unmapped(backend, findings)
    policy: Document = {
        "connectionPool": _connection_pool(backend, kubernetes),
        "loadBalancer": _load_balancer(backend, findings),
    }
    if backend.outlier_detection is not None:
        policy["outlierDetection"] = _outlier_detection(backend.outlier_detection)
    if backend.tls is not None:
        policy["tls"] = {"mode": "SIMPLE", **({"sni": backend.tls.sni} if backend.tls.sni else {})}
    return policy


def _connection_pool(backend: ir.Backend, kubernetes: bool) -> Document:
    tcp: Document = {"connectTimeout": duration(backend.connect_timeout_ms)}
    http: Document = {}
    breaker = backend.circuit_breaker or ir.CircuitBreaker()
    if breaker.max_connections is not None:
        tcp["maxConnections"] = breaker.max_connections
    if breaker.max_pending_requests is not None:
        http["http1MaxPendingRequests"] = breaker.max_pending_requests
    if breaker.max_requests is not None:
        http["http2MaxRequests"] = breaker.max_requests
    if breaker.max_retries is not None:
        http["maxRetries"] = breaker.max_retries
    if kubernetes and backend.protocol is not ir.Protocol.HTTP1:
        # ServiceEntry ports carry the protocol; for Kubernetes services the Service port name does,
        # which gitxds does not control, so ask the sidecar to speak HTTP/2 upstream.
        http["h2UpgradePolicy"] = "UPGRADE"
    pool: Document = {"tcp": tcp}
    if http:
        pool["http"] = http
    return pool


def _load_balancer(backend: ir.Backend, findings: Findings) -> Document:
    if backend.load_balancer is not ir.LoadBalancer.RING_HASH:
        return {"simple": _SIMPLE_LB[backend.load_balancer]}
    if backend.hash_on_header is None:
        findings.warn(
            "Backend",
            backend.name,
            "spec.loadBalancer",
            FindingReason.APPROXIMATED,
            "RING_HASH without hashOn has no hash key, so Envoy spreads requests at random; "
            "exported as RANDOM",
        )
        return {"simple": "RANDOM"}
    return {"consistentHash": {"httpHeaderName": backend.hash_on_header}}


def _outlier_detection(outlier: ir.OutlierDetection) -> Document:
    fields = {
        "consecutive5xxErrors": outlier.consecutive_5xx,
        "interval": None if outlier.interval_ms is None else duration(outlier.interval_ms),
        "baseEjectionTime": None
        if outlier.base_ejection_time_ms is None
        else duration(outlier.base_ejection_time_ms),
        "maxEjectionPercent": outlier.max_ejection_percent,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _report_unmapped(backend: ir.Backend, findings: Findings) -> None:
    source = backend.endpoints
    if isinstance(source, ir.StaticEndpoints) and any(e.priority for e in source.endpoints):
        findings.warn(
            "Backend",
            backend.name,
            "spec.endpoints[].priority",
            FindingReason.NO_ISTIO_EQUIVALENT,
            "ServiceEntry endpoints have no priority; Istio fails over by locality, so every endpoint "
            "takes traffic at once",
        )


def service_entry(group: BackendGroup, namespace: str) -> Document:
    """The registry entry for a backend with static or DNS endpoints (an external provider)."""
    backend = group.backends[0]
    source = backend.endpoints
    port_name = _PORT_PROTOCOL[backend.protocol].lower()
    spec: Document = {
        "hosts": [group.host],
        "location": "MESH_EXTERNAL",
        "ports": [
            {"number": backend_port(backend), "name": port_name, "protocol": _PORT_PROTOCOL[backend.protocol]}
        ],
    }
    if isinstance(source, ir.DnsEndpoints):
        spec["resolution"] = "DNS_ROUND_ROBIN" if source.logical else "DNS"
    else:
        assert isinstance(source, ir.StaticEndpoints)
        spec["resolution"] = "STATIC"
        spec["endpoints"] = [_workload_entry(e, port_name, backend_port(backend)) for e in source.endpoints]
    return {
        "apiVersion": API_NETWORKING,
        "kind": "ServiceEntry",
        "metadata": metadata(group.name, namespace),
        "spec": spec,
    }


def _workload_entry(endpoint: ir.Endpoint, port_name: str, service_port: int) -> Document:
    entry: Document = {"address": endpoint.address}
    if endpoint.port != service_port:
        entry["ports"] = {port_name: endpoint.port}
    if endpoint.weight != 1:
        entry["weight"] = endpoint.weight
    return entry
