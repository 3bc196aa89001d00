"""Rules that span several fields of one document, each violation reported on its own field."""

from __future__ import annotations

from collections.abc import Iterator

from gitxds.config.checks_headers import check_header_ops
from gitxds.config.checks_rollout import check_rollout_policy
from gitxds.config.checks_route import check_route
from gitxds.config.document import Issue
from gitxds.config.schema import (
    AuthPolicyObject,
    BackendObject,
    ConfigObject,
    GatewayObject,
    RateLimitPolicyObject,
    RateLimitPolicySpec,
    RolloutPolicyObject,
    RouteObject,
    StaticEndpoint,
)
from gitxds.config.schema_route import NO_POLICY
from gitxds.config.types import UINT32_MAX
from gitxds.config.units import RateValue
from gitxds.config.yamlread import FieldPath
from gitxds.errors import Reason

__all__ = ["check_document"]


def check_document(obj: ConfigObject) -> list[Issue]:
    if isinstance(obj, GatewayObject):
        return list(_check_gateway(obj))
    if isinstance(obj, BackendObject):
        return list(_check_backend(obj))
    if isinstance(obj, RouteObject):
        return list(check_route(obj))
    if isinstance(obj, RateLimitPolicyObject):
        return list(_check_rate_limit_policy(obj))
    if isinstance(obj, RolloutPolicyObject):
        return list(check_rollout_policy(obj))
    return list(_check_reserved_name(obj))


def _check_gateway(obj: GatewayObject) -> Iterator[Issue]:
    spec = obj.spec
    if spec.proxies.cluster is not None and spec.proxies.node_id is not None:
        yield Issue(
            ("spec", "proxies", "nodeId"),
            Reason.CONFLICTING_FIELDS,
            "set either proxies.cluster or proxies.nodeId, not both",
        )
    elif spec.proxies.cluster is None and spec.proxies.node_id is None:
        yield Issue(
            ("spec", "proxies"),
            Reason.MISSING_FIELD,
            "set proxies.cluster or proxies.nodeId to pick the Envoys",
        )
    if not spec.listeners:
        yield Issue(("spec", "listeners"), Reason.MISSING_FIELD, "a Gateway needs at least one listener")
    names: dict[str, int] = {}
    ports: dict[int, int] = {}
    for index, listener in enumerate(spec.listeners):
        here: FieldPath = ("spec", "listeners", index)
        if listener.name in names:
            yield Issue(
                (*here, "name"),
                Reason.DUPLICATE_NAME,
                f'listener "{listener.name}" is already defined at spec.listeners[{names[listener.name]}]',
            )
        names.setdefault(listener.name, index)
        if listener.port in ports:
            other = spec.listeners[ports[listener.port]].name
            yield Issue(
                (*here, "port"),
                Reason.DUPLICATE_LISTENER_PORT,
                f'port {listener.port} is already used by listener "{other}" of this gateway',
            )
        ports.setdefault(listener.port, index)
        if listener.protocol == "HTTPS" and listener.tls is None:
            yield Issue(
                (*here, "protocol"),
                Reason.CONFLICTING_FIELDS,
                "an HTTPS listener needs tls: {secretRef: NAME} with its certificate",
            )
        if listener.protocol == "HTTP" and listener.tls is not None:
            yield Issue(
                (*here, "tls"), Reason.CONFLICTING_FIELDS, "tls needs protocol: HTTPS on this listener"
            )


def _check_backend(obj: BackendObject) -> Iterator[Issue]:
    spec = obj.spec
    sources = [name for name in ("endpoints", "dns", "kubernetes") if getattr(spec, name) is not None]
    if not sources:
        yield Issue(("spec",), Reason.MISSING_FIELD, "set one of endpoints, dns or kubernetes")
    for extra in sources[1:]:
        yield Issue(
            ("spec", extra),
            Reason.CONFLICTING_FIELDS,
            f"{sources[0]} and {extra} are both set; a Backend has exactly one endpoint source",
        )
    if spec.endpoints is not None:
        yield from _check_endpoints(spec.endpoints)
    if spec.hash_on is not None and spec.load_balancer != "RING_HASH":
        yield Issue(("spec", "hashOn"), Reason.CONFLICTING_FIELDS, "hashOn needs loadBalancer: RING_HASH")
    if spec.hash_on is None and spec.load_balancer == "RING_HASH":
        yield Issue(
            ("spec", "loadBalancer"),
            Reason.MISSING_FIELD,
            "RING_HASH needs hashOn: {header: NAME} to choose what keeps requests on one endpoint",
        )
    if spec.request_headers is not None:
        yield from check_header_ops(spec.request_headers, ("spec", "requestHeaders"), secrets_allowed=True)
    if spec.pricing is not None and spec.api is None:
        yield Issue(
            ("spec", "pricing"),
            Reason.CONFLICTING_FIELDS,
            "pricing needs api: openai, so gitxds can read each response's token usage",
        )


def _check_endpoints(endpoints: list[StaticEndpoint]) -> Iterator[Issue]:
    if not endpoints:
        yield Issue(("spec", "endpoints"), Reason.MISSING_FIELD, "endpoints needs at least one address")
    totals: dict[int, int] = {}
    for endpoint in endpoints:
        totals[endpoint.priority] = totals.get(endpoint.priority, 0) + endpoint.weight
    for priority, total in sorted(totals.items()):
        if total > UINT32_MAX:
            message = f"the weights of priority {priority} add up to more than {UINT32_MAX}"
            yield Issue(("spec", "endpoints"), Reason.INVALID_VALUE, message)
    seen: set[tuple[str, int]] = set()
    for index, endpoint in enumerate(endpoints):
        key = (endpoint.address, endpoint.port)
        if key in seen:
            yield Issue(
                ("spec", "endpoints", index),
                Reason.INVALID_VALUE,
                f"endpoint {key[0]}:{key[1]} is listed twice",
            )
        seen.add(key)


def _check_rate_limit_policy(obj: RateLimitPolicyObject) -> Iterator[Issue]:
    spec = obj.spec
    yield from _check_reserved_name(obj)
    if spec.mode == "global" and spec.service is None:
        yield Issue(
            ("spec", "mode"),
            Reason.CONFLICTING_FIELDS,
            "mode: global needs service: {backend: NAME} pointing at a rate limit service",
        )
    if spec.mode == "local" and spec.service is not None:
        yield Issue(("spec", "service"), Reason.CONFLICTING_FIELDS, "service is only used with mode: global")
    if not spec.limits and not spec.tokens:
        yield Issue(
            ("spec", "limits"), Reason.MISSING_FIELD, "limits (or tokens) needs at least one tier: rate"
        )
        return
    if spec.tokens and spec.mode == "local":
        yield Issue(
            ("spec", "tokens"),
            Reason.CONFLICTING_FIELDS,
            "token budgets need mode: global: a local limit cannot charge a response's tokens after it",
        )
    for field, rates in (("limits", spec.limits), ("tokens", spec.tokens)):
        if rates:
            yield from _check_tiers(spec, field, rates)


def _check_tiers(spec: RateLimitPolicySpec, field: str, rates: dict[str, RateValue]) -> Iterator[Issue]:
    default = spec.tier.default if spec.tier else "default"
    if default not in rates:
        where: FieldPath = ("spec", "tier", "default") if spec.tier else ("spec", field)
        yield Issue(
            where,
            Reason.INVALID_VALUE,
            f'default tier "{default}" has no entry in {field} (known: {", ".join(sorted(rates))})',
        )
    if len(rates) > 1 and (spec.tier is None or spec.tier.header is None):
        yield Issue(
            ("spec", field),
            Reason.CONFLICTING_FIELDS,
            "several tiers need tier: {header: NAME} to tell which tier a request belongs to",
        )


def _check_reserved_name(obj: RateLimitPolicyObject | AuthPolicyObject) -> Iterator[Issue]:
    if obj.metadata.name == NO_POLICY:
        yield Issue(
            ("metadata", "name"),
            Reason.INVALID_NAME,
            f'"{NO_POLICY}" is reserved: a rule uses it to switch a gateway default policy off',
        )
