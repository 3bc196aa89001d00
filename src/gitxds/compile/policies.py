"""RateLimitPolicy, AuthPolicy and Gateway documents -> IR, with their references checked."""

from __future__ import annotations

from gitxds import ir
from gitxds.compile.references import References
from gitxds.config import Document
from gitxds.config.schema import AuthPolicyObject, GatewayObject, RateLimitPolicyObject
from gitxds.config.units import RateValue
from gitxds.config.yamlread import FieldPath
from gitxds.errors import Diagnostic

__all__ = ["compile_auth_policy", "compile_gateway", "compile_rate_limit_policy"]


def compile_rate_limit_policy(
    document: Document, refs: References
) -> tuple[ir.RateLimitPolicy | None, list[Diagnostic]]:
    obj = document.obj
    assert isinstance(obj, RateLimitPolicyObject)
    spec = obj.spec
    service = None
    if spec.service is not None:
        service = ir.RateLimitService(backend=spec.service.backend, domain=spec.service.domain)
        problems = refs.check_all(document, [(("spec", "service", "backend"), "Backend", service.backend)])
        if problems:
            return None, problems
    tier = spec.tier
    policy = ir.RateLimitPolicy(
        name=obj.metadata.name,
        mode=ir.RateLimitMode(spec.mode),
        key_header=spec.key.header,
        tier_header=tier.header if tier is not None else None,
        default_tier=tier.default if tier is not None else "default",
        limits=_rates(spec.limits),
        service=service,
        token_limits=_rates(spec.tokens),
    )
    return policy, []


def _rates(rates: dict[str, RateValue]) -> tuple[tuple[str, ir.Rate], ...]:
    return tuple(
        (name, ir.Rate(requests=rate.requests, per_seconds=rate.per_seconds))
        for name, rate in sorted(rates.items())
    )


def compile_auth_policy(
    document: Document, refs: References
) -> tuple[ir.AuthPolicy | None, list[Diagnostic]]:
    obj = document.obj
    assert isinstance(obj, AuthPolicyObject)
    ext = obj.spec.ext_authz
    problems = refs.check_all(document, [(("spec", "extAuthz", "backend"), "Backend", ext.backend)])
    if problems:
        return None, problems
    ext_authz = ir.ExtAuthz(
        backend=ext.backend,
        timeout_ms=ext.timeout,
        fail_open=ext.fail_open,
        include_headers=tuple(ext.include_headers),
    )
    return ir.AuthPolicy(name=obj.metadata.name, ext_authz=ext_authz), []


def compile_gateway(document: Document, refs: References) -> tuple[ir.Gateway | None, list[Diagnostic]]:
    obj = document.obj
    assert isinstance(obj, GatewayObject)
    spec = obj.spec
    wanted: list[tuple[FieldPath, str, str]] = []
    if spec.auth is not None:
        wanted.append((("spec", "auth"), "AuthPolicy", spec.auth))
    if spec.rate_limit is not None:
        wanted.append((("spec", "rateLimit"), "RateLimitPolicy", spec.rate_limit))
    if spec.tracing is not None:
        wanted.append((("spec", "tracing", "collector"), "Backend", spec.tracing.collector))
    problems = refs.check_all(document, wanted)
    if problems:
        return None, problems
    gateway = ir.Gateway(
        name=obj.metadata.name,
        proxies=ir.ProxySelector(
            cluster=spec.proxies.cluster,
            node_id=spec.proxies.node_id,
            identities=tuple(sorted(set(spec.proxies.identities))),
        ),
        listeners=tuple(
            ir.Listener(
                name=listener.name,
                port=listener.port,
                address=listener.address,
                protocol=ir.ListenerProtocol(listener.protocol),
                tls_secret=listener.tls.secret_ref if listener.tls is not None else None,
            )
            for listener in spec.listeners
        ),
        access_log=ir.AccessLogFormat(spec.access_log.format) if spec.access_log is not None else None,
        auth=spec.auth,
        rate_limit=spec.rate_limit,
        tracing=_tracing(obj),
        model_body_limit=(
            spec.model_routing.max_body_bytes
            if spec.model_routing is not None
            else ir.DEFAULT_MODEL_BODY_LIMIT
        ),
    )
    return gateway, []


def _tracing(obj: GatewayObject) -> ir.Tracing | None:
    tracing = obj.spec.tracing
    if tracing is None:
        return None
    return ir.Tracing(
        collector=tracing.collector,
        sampling_percent=tracing.sampling_percent,
        service_name=tracing.service_name or obj.metadata.name,
    )
