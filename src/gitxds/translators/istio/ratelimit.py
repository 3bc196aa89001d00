"""Local RateLimitPolicy -> EnvoyFilter inserting Envoy's local_ratelimit filter on gateway routes."""

from __future__ import annotations

from collections.abc import Mapping

from gitxds import ir
from gitxds.translators.istio.findings import FindingReason, Findings
from gitxds.translators.istio.values import API_NETWORKING_ALPHA, Document, metadata

__all__ = ["ENVOY_FILTER_NAME", "RouteUse", "local_rate_limit_filter", "report_global"]

ENVOY_FILTER_NAME = "gitxds-local-ratelimit"
_FILTER = "envoy.filters.http.local_ratelimit"
_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
_TIER_DESCRIPTOR = "tier"

RouteUse = tuple[str, ir.RateLimitPolicy]  # (Istio http route name, policy)


def report_global(policy: ir.RateLimitPolicy, findings: Findings) -> None:
    findings.error(
        "RateLimitPolicy",
        policy.name,
        "spec.mode",
        FindingReason.NO_ISTIO_EQUIVALENT,
        "global rate limits need Envoy's rate limit service wired into every gateway; Istio has no API for "
        "it, so these requests are not limited in the export",
    )


def local_rate_limit_filter(
    uses: list[RouteUse], namespace: str, selector: Mapping[str, str], findings: Findings
) -> Document:
    """One EnvoyFilter: the filter on every gateway listener plus a token bucket per limited route."""
    for policy in sorted({p for _, p in uses}, key=lambda p: p.name):
        findings.warn(
            "RateLimitPolicy",
            policy.name,
            "spec.key",
            FindingReason.APPROXIMATED,
            f"Envoy's local rate limit filter in Istio keeps one bucket per tier on each proxy; "
            f"requests are not limited per {policy.key_header} value",
        )
    patches = [_insert_filter()] + [
        _route_patch(route, policy) for route, policy in sorted(uses, key=_by_route)
    ]
    return {
        "apiVersion": API_NETWORKING_ALPHA,
        "kind": "EnvoyFilter",
        "metadata": metadata(ENVOY_FILTER_NAME, namespace),
        "spec": {"workloadSelector": {"labels": dict(selector)}, "configPatches": patches},
    }


def _by_route(use: RouteUse) -> str:
    return use[0]


def _insert_filter() -> Document:
    return {
        "applyTo": "HTTP_FILTER",
        "match": {
            "context": "GATEWAY",
            "listener": {
                "filterChain": {
                    "filter": {
                        "name": "envoy.filters.network.http_connection_manager",
                        "subFilter": {"name": "envoy.filters.http.router"},
                    }
                }
            },
        },
        "patch": {
            "operation": "INSERT_BEFORE",
            "value": {
                "name": _FILTER,
                "typed_config": {"@type": _TYPE_URL, "stat_prefix": "http_local_rate_limiter"},
            },
        },
    }


def _route_patch(route_name: str, policy: ir.RateLimitPolicy) -> Document:
    value: Document = {"typed_per_filter_config": {_FILTER: _per_route_config(policy)}}
    if policy.tier_header is not None:
        action = {"request_headers": {"header_name": policy.tier_header, "descriptor_key": _TIER_DESCRIPTOR}}
        value["route"] = {"rate_limits": [{"actions": [action]}]}
    return {
        "applyTo": "HTTP_ROUTE",
        "match": {"context": "GATEWAY", "routeConfiguration": {"vhost": {"route": {"name": route_name}}}},
        "patch": {"operation": "MERGE", "value": value},
    }


def _per_route_config(policy: ir.RateLimitPolicy) -> Document:
    limits = dict(policy.limits)
    default = limits.get(policy.default_tier) or next(iter(limits.values()))
    always = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
    config: Document = {
        "@type": _TYPE_URL,
        "stat_prefix": f"gitxds_{policy.name.replace('-', '_')}",
        "token_bucket": _token_bucket(default),
        "filter_enabled": {**always, "runtime_key": "local_rate_limit_enabled"},
        "filter_enforced": {**always, "runtime_key": "local_rate_limit_enforced"},
    }
    if policy.tier_header is not None:
        config["descriptors"] = [
            {"entries": [{"key": _TIER_DESCRIPTOR, "value": tier}], "token_bucket": _token_bucket(rate)}
            for tier, rate in policy.limits
        ]
    return config


def _token_bucket(rate: ir.Rate) -> Document:
    return {
        "max_tokens": rate.requests,
        "tokens_per_fill": rate.requests,
        "fill_interval": f"{rate.per_seconds}s",
    }
