"""HTTP filters of a gateway's listeners and the per-route settings that steer them.

Filters run in this order: the AI filters (:mod:`gitxds.translators.xds.ai`), fault, one ext_authz
per AuthPolicy, one rate limit filter per RateLimitPolicy, router. A policy filter runs only on the
routes whose rule uses that policy: every other route disables it through ``typed_per_filter_config``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from envoy.config.core.v3.config_source_pb2 import ApiVersion
from envoy.config.core.v3.grpc_service_pb2 import GrpcService
from envoy.config.route.v3.route_components_pb2 import FilterConfig
from envoy.extensions.filters.common.fault.v3.fault_pb2 import FaultDelay
from envoy.extensions.filters.http.ext_authz.v3.ext_authz_pb2 import ExtAuthz, ExtAuthzPerRoute
from envoy.extensions.filters.http.fault.v3.fault_pb2 import FaultAbort, HTTPFault
from envoy.extensions.filters.http.router.v3.router_pb2 import Router
from envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2 import (
    HttpFilter,
)
from envoy.type.matcher.v3.string_pb2 import ListStringMatcher, StringMatcher
from google.protobuf.any_pb2 import Any

from gitxds import ir
from gitxds.translators.xds._proto import duration, fractional_percent, packed
from gitxds.translators.xds.ai import ai_http_filters, body_filters_off, usage_filters_off
from gitxds.translators.xds.ratelimit import global_rate_limit_for, local_rate_limit_for

__all__ = [
    "FAULT_FILTER",
    "ROUTER_FILTER",
    "FilterPlan",
    "auth_filter_name",
    "ext_authz_for",
    "filter_plan_for",
    "http_fault_for",
    "http_filters_for",
    "per_route_filter_configs_for",
    "rate_limit_filter_name",
    "reads_model",
]

FAULT_FILTER = "envoy.filters.http.fault"
ROUTER_FILTER = "envoy.filters.http.router"


def auth_filter_name(policy: str) -> str:
    return f"gitxds.auth.{policy}"


def rate_limit_filter_name(policy: str) -> str:
    return f"gitxds.ratelimit.{policy}"


@dataclass(frozen=True, slots=True)
class FilterPlan:
    """Which optional filters a gateway's listeners carry (hashable: routes are memoizable on it)."""

    fault: bool = False
    auth_policies: tuple[ir.AuthPolicy, ...] = ()
    rate_limit_policies: tuple[ir.RateLimitPolicy, ...] = ()
    tracing: bool = False  # routes carry span attributes
    model_body_limit: int | None = None  # bytes buffered to read a model; None: no rule matches on model
    openai_backends: frozenset[str] = frozenset()  # routed backends whose answers carry token usage

    def rate_limit_policy(self, name: str | None) -> ir.RateLimitPolicy | None:
        return next((policy for policy in self.rate_limit_policies if policy.name == name), None)


def reads_model(rule: ir.Rule) -> bool:
    return any(match.model is not None for match in rule.matches)


def _targets(rule: ir.Rule) -> set[str]:
    return {b.backend for b in rule.backends} | set(rule.fallback)


def filter_plan_for(
    model: ir.Model, rules: Iterable[ir.Rule], gateway: ir.Gateway | None = None, *, tracing: bool = False
) -> FilterPlan:
    rules = tuple(rules)
    auth = sorted({rule.auth for rule in rules if rule.auth is not None})
    rate_limits = sorted({rule.rate_limit for rule in rules if rule.rate_limit is not None})
    routed = {b.backend for rule in rules for b in rule.backends}
    routed.update(name for rule in rules for name in rule.fallback)
    body_limit = gateway.model_body_limit if gateway is not None else ir.DEFAULT_MODEL_BODY_LIMIT
    return FilterPlan(
        fault=any(rule.fault is not None for rule in rules),
        auth_policies=tuple(model.auth_policy(name) for name in auth),
        rate_limit_policies=tuple(model.rate_limit_policy(name) for name in rate_limits),
        tracing=tracing,
        model_body_limit=body_limit if any(reads_model(rule) for rule in rules) else None,
        openai_backends=frozenset(name for name in routed if model.backend(name).api is ir.BackendApi.OPENAI),
    )


def ext_authz_for(policy: ir.AuthPolicy) -> ExtAuthz:
    settings = policy.ext_authz
    grpc = GrpcService(
        envoy_grpc=GrpcService.EnvoyGrpc(cluster_name=settings.backend), timeout=duration(settings.timeout_ms)
    )
    config = ExtAuthz(
        grpc_service=grpc,
        transport_api_version=ApiVersion.V3,
        failure_mode_allow=settings.fail_open,
        stat_prefix=f"gitxds_{policy.name}",
    )
    if settings.include_headers:
        patterns = [StringMatcher(exact=name, ignore_case=True) for name in settings.include_headers]
        config.allowed_headers.CopyFrom(ListStringMatcher(patterns=patterns))
    return config


def _policy_filter_for(policy: ir.RateLimitPolicy) -> HttpFilter:
    config = (
        local_rate_limit_for(policy)
        if policy.mode is ir.RateLimitMode.LOCAL
        else global_rate_limit_for(policy)
    )
    return HttpFilter(name=rate_limit_filter_name(policy.name), typed_config=packed(config))


def http_filters_for(plan: FilterPlan) -> list[HttpFilter]:
    filters = ai_http_filters(plan.model_body_limit, bool(plan.openai_backends))
    if plan.fault:
        filters.append(HttpFilter(name=FAULT_FILTER, typed_config=packed(HTTPFault())))
    filters += [
        HttpFilter(name=auth_filter_name(policy.name), typed_config=packed(ext_authz_for(policy)))
        for policy in plan.auth_policies
    ]
    filters += [_policy_filter_for(policy) for policy in plan.rate_limit_policies]
    filters.append(HttpFilter(name=ROUTER_FILTER, typed_config=packed(Router())))
    return filters


def http_fault_for(fault: ir.Fault) -> HTTPFault:
    config = HTTPFault()
    if fault.delay is not None:
        config.delay.CopyFrom(
            FaultDelay(
                fixed_delay=duration(fault.delay.duration_ms),
                percentage=fractional_percent(fault.delay.percent),
            )
        )
    if fault.abort is not None:
        config.abort.CopyFrom(
            FaultAbort(http_status=fault.abort.status, percentage=fractional_percent(fault.abort.percent))
        )
    return config


def per_route_filter_configs_for(rule: ir.Rule, plan: FilterPlan) -> dict[str, Any]:
    """Fault settings for this rule, and every policy filter this rule does not use switched off."""
    configs: dict[str, Any] = {}
    if plan.model_body_limit is not None:
        configs.update(body_filters_off())
    if plan.openai_backends and not _targets(rule) & plan.openai_backends:
        configs.update(usage_filters_off())
    if rule.fault is not None:
        configs[FAULT_FILTER] = packed(http_fault_for(rule.fault))
    for auth in plan.auth_policies:
        if auth.name != rule.auth:
            configs[auth_filter_name(auth.name)] = packed(ExtAuthzPerRoute(disabled=True))
    for limit in plan.rate_limit_policies:
        if limit.name != rule.rate_limit:
            configs[rate_limit_filter_name(limit.name)] = packed(FilterConfig(disabled=True))
    return configs
