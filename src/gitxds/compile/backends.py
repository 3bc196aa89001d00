"""Backend documents -> ir.Backend (no references to resolve)."""

from __future__ import annotations

from gitxds import ir
from gitxds.config.base import HeaderOps, SecretRef
from gitxds.config.schema import BackendObject, BackendSpec

__all__ = ["compile_backend", "header_ops", "labels"]


# Looked up rather than called: an enum call costs a microsecond, once per backend.
_PROTOCOLS = {protocol.value: protocol for protocol in ir.Protocol}
_LOAD_BALANCERS = {balancer.value: balancer for balancer in ir.LoadBalancer}


def compile_backend(obj: BackendObject) -> ir.Backend:
    spec = obj.spec
    return ir.Backend(
        name=obj.metadata.name,
        endpoints=_endpoint_source(spec),
        labels=labels(obj.metadata.labels),
        protocol=_PROTOCOLS[spec.protocol],
        tls=ir.UpstreamTls(sni=spec.tls.sni) if spec.tls is not None else None,
        connect_timeout_ms=spec.connect_timeout,
        load_balancer=_LOAD_BALANCERS[spec.load_balancer],
        hash_on_header=spec.hash_on.header if spec.hash_on is not None else None,
        circuit_breaker=_circuit_breaker(spec),
        outlier_detection=_outlier_detection(spec),
        health_check=_health_check(spec),
        request_headers=header_ops(spec.request_headers),
        api=ir.BackendApi(spec.api) if spec.api is not None else None,
        pricing=(
            ir.Pricing(spec.pricing.input_per_million, spec.pricing.output_per_million)
            if spec.pricing is not None
            else None
        ),
    )


def labels(values: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items())) if values else ()


def header_ops(ops: HeaderOps | None) -> ir.HeaderOps:
    if ops is None:
        return ir.HeaderOps()
    return ir.HeaderOps(
        set=tuple((name, _header_value(value)) for name, value in ops.set.items()),
        add=tuple((name, _header_value(value)) for name, value in ops.add.items()),
        remove=tuple(ops.remove),
    )


def _header_value(value: str | SecretRef) -> ir.HeaderValue:
    return ir.SecretRef(value.secret_ref) if isinstance(value, SecretRef) else value


def _endpoint_source(spec: BackendSpec) -> ir.EndpointSource:
    if spec.dns is not None:
        return ir.DnsEndpoints(hostname=spec.dns.hostname, port=spec.dns.port, logical=spec.dns.logical)
    if spec.kubernetes is not None:
        source = spec.kubernetes
        return ir.KubernetesEndpoints(
            service=source.service,
            namespace=source.namespace,
            port=source.port,
            selector=labels(source.selector or {}),
        )
    endpoints = spec.endpoints or []
    return ir.StaticEndpoints(
        tuple([ir.Endpoint(e.address, e.port, priority=e.priority, weight=e.weight) for e in endpoints])
    )


def _circuit_breaker(spec: BackendSpec) -> ir.CircuitBreaker | None:
    breaker = spec.circuit_breaker
    if breaker is None:
        return None
    return ir.CircuitBreaker(
        max_connections=breaker.max_connections,
        max_pending_requests=breaker.max_pending_requests,
        max_requests=breaker.max_requests,
        max_retries=breaker.max_retries,
    )


def _outlier_detection(spec: BackendSpec) -> ir.OutlierDetection | None:
    detection = spec.outlier_detection
    if detection is None:
        return None
    return ir.OutlierDetection(
        consecutive_5xx=detection.consecutive_5xx,
        interval_ms=detection.interval,
        base_ejection_time_ms=detection.base_ejection_time,
        max_ejection_percent=detection.max_ejection_percent,
    )


def _health_check(spec: BackendSpec) -> ir.HealthCheck | None:
    check = spec.health_check
    if check is None:
        return None
    return ir.HealthCheck(
        path=check.path,
        interval_ms=check.interval,
        timeout_ms=check.timeout,
        healthy_threshold=check.healthy_threshold,
        unhealthy_threshold=check.unhealthy_threshold,
    )
