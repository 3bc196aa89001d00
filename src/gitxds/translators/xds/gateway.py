"""The orchestrator: every Envoy resource one gateway's proxies need, composed from the builders."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from functools import partial
from typing import TypeVar

from envoy.config.endpoint.v3.endpoint_pb2 import ClusterLoadAssignment
from google.protobuf.message import Message

from gitxds import ir, typeurls
from gitxds.translators.xds.clusters import aggregate_cluster_for, cluster_for, fallback_of
from gitxds.translators.xds.endpoints import DiscoveredEndpoints, load_assignment_for
from gitxds.translators.xds.filters import filter_plan_for
from gitxds.translators.xds.listeners import listener_for, route_configuration_name
from gitxds.translators.xds.memo import TranslationMemo
from gitxds.translators.xds.routes import route_configuration_for, routes_for, virtual_hosts_for
from gitxds.translators.xds.secrets import SecretValues, secret_for

__all__ = [
    "by_name",
    "discovered_for",
    "gateway_secrets",
    "grpc_service_backends",
    "hash_headers_for",
    "routed_backends",
    "translate_gateway",
]

Resources = dict[str, list[Message]]
M = TypeVar("M")


def hash_headers_for(model: ir.Model, rule: ir.Rule) -> tuple[str, ...]:
    """The ``hashOn`` headers of the rule's RING_HASH backends, for the route's hash policy."""
    names = [b.backend for b in rule.backends] + list(rule.fallback)
    headers = {model.backend(name).hash_on_header for name in names}
    return tuple(sorted(header for header in headers if header is not None))


def routed_backends(rules: Iterable[ir.Rule]) -> set[str]:
    """Backends that rules send traffic to: primaries, fallbacks and mirrors."""
    names: set[str] = set()
    for rule in rules:
        names.update(b.backend for b in rule.backends)
        names.update(rule.fallback)
        if rule.mirror is not None:
            names.add(rule.mirror.backend)
    return names


def grpc_service_backends(model: ir.Model, rules: Iterable[ir.Rule]) -> set[str]:
    """Backends Envoy itself calls over gRPC: ext_authz and rate limit services."""
    names: set[str] = set()
    for rule in rules:
        if rule.auth is not None:
            names.add(model.auth_policy(rule.auth).ext_authz.backend)
        if rule.rate_limit is not None:
            service = model.rate_limit_policy(rule.rate_limit).service
            if service is not None:
                names.add(service.backend)
    return names


def by_name(resources: Iterable[M], name_field: str = "name") -> list[M]:
    unique = {getattr(resource, name_field): resource for resource in resources}
    return [unique[name] for name in sorted(unique)]


def _hash_headers(model: ir.Model) -> Callable[[ir.Rule], tuple[str, ...]]:
    """:func:`hash_headers_for` without a backend lookup per rule when no backend hashes (the usual)."""
    if not any(b.hash_on_header is not None for b in model.backends):
        return lambda rule: ()
    return lambda rule: hash_headers_for(model, rule)


def translate_gateway(
    model: ir.Model,
    gateway: str,
    secrets: Mapping[str, str] | None = None,
    discovered: DiscoveredEndpoints | None = None,
    *,
    memo: TranslationMemo | None = None,
) -> Resources:
    """Listeners, routes, clusters, endpoints and secrets for the proxies of ``gateway``.

    ``secrets`` holds the values of ``SecretRef`` names; ``None`` renders every value as
    ``<redacted>``. ``discovered`` holds the endpoints found for Kubernetes backends. Each list is
    sorted by resource name; every key of ``gitxds.typeurls`` is present. ``memo``: kept between
    calls, rebuilds only resources whose IR inputs changed (see :mod:`.memo`).
    """
    secret_values = SecretValues.of(secrets)
    the_gateway = model.gateway(gateway)
    routes = model.routes_for(gateway)
    rules = [rule for route in routes for rule in route.rules]
    plan = filter_plan_for(model, rules, the_gateway, tracing=the_gateway.tracing is not None)
    build = _Builds(memo, gateway, (secret_values, plan))
    hash_headers = _hash_headers(model)
    routes_by_rule = {
        rule.name: build(
            "routes",
            rule,
            hash_headers(rule),
            partial(routes_for, rule, plan, hash_headers(rule), secret_values),
        )
        for rule in rules
    }
    virtual_hosts = virtual_hosts_for(routes, routes_by_rule, plan)
    grpc_services = grpc_service_backends(model, rules)
    if the_gateway.tracing is not None:
        grpc_services.add(the_gateway.tracing.collector)
    backends = [model.backend(name) for name in sorted(routed_backends(rules) | grpc_services)]
    fallbacks = {(b.backend, fallback_of(b.backend, rule.fallback)) for rule in rules for b in rule.backends}
    fallbacks = {(primary, fallback) for primary, fallback in fallbacks if fallback}
    clusters = [
        build(
            "cluster",
            b,
            b.name in grpc_services,
            partial(cluster_for, b, secret_values, grpc_service=b.name in grpc_services),
        )
        for b in backends
    ]
    clusters += [
        aggregate_cluster_for(model.backend(primary), tuple(model.backend(name) for name in fallback))
        for primary, fallback in fallbacks
    ]
    endpoints: list[ClusterLoadAssignment] = [
        build(
            "endpoints",
            b,
            discovered_for(b, discovered),
            partial(load_assignment_for, b, secret_values, discovered),
        )
        for b in backends
        if not isinstance(b.endpoints, ir.DnsEndpoints)
    ]
    if memo is not None:
        memo.end(gateway, frozenset(g.name for g in model.gateways))
    return {
        typeurls.LISTENER: by_name(listener_for(the_gateway, lst, plan) for lst in the_gateway.listeners),
        typeurls.ROUTE: by_name(
            route_configuration_for(route_configuration_name(gateway, lst), virtual_hosts)
            for lst in the_gateway.listeners
        ),
        typeurls.CLUSTER: by_name(clusters),
        typeurls.ENDPOINT: by_name(endpoints, "cluster_name"),
        typeurls.SECRET: gateway_secrets(the_gateway, secret_values),
    }


def gateway_secrets(gateway: ir.Gateway, secrets: SecretValues) -> list[Message]:
    """The TLS certificates of the gateway's HTTPS listeners, by name."""
    names = {listener.tls_secret for listener in gateway.listeners if listener.tls_secret}
    return by_name(secret_for(name, secrets) for name in names)


def discovered_for(backend: ir.Backend, discovered: DiscoveredEndpoints | None) -> Hashable:
    """What a backend's endpoints depend on besides the backend: those discovered for it."""
    source = backend.endpoints
    if not isinstance(source, ir.KubernetesEndpoints) or discovered is None:
        return None
    return tuple(discovered.get(source, ()))


class _Builds:
    """Calls a builder, or takes its resource from ``memo`` when the memo has it."""

    def __init__(self, memo: TranslationMemo | None, gateway: str, shared: Hashable) -> None:
        self.memo = memo
        self.gateway = gateway
        if memo is not None:
            memo.begin(gateway, shared)

    def __call__(self, builder: str, source: object, extra: Hashable, make: Callable[[], M]) -> M:
        if self.memo is None:
            return make()
        return self.memo.build(self.gateway, builder, source, extra, make)
