"""RateLimitPolicy -> EnvoyFilter carrying the same Envoy rate limit filter gitxds serves over xDS.

Each policy's filter is inserted before the router, disabled by default, and switched on by a
per-route config on the routes of the rules that use the policy, so other traffic through the Istio
gateway is not limited. The configs come from the xDS translator, so both outputs limit requests the
same way (a bucket per key and tier, or the rate limit service for global mode). Envoy keeps local
buckets in the per-route config, so in Istio each rule using a local policy counts on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from envoy.extensions.filters.http.ratelimit.v3.rate_limit_pb2 import RateLimitPerRoute
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from gitxds import ir
from gitxds.translators.istio.hosts import Placement
from gitxds.translators.istio.values import API_NETWORKING_ALPHA, Document, metadata
from gitxds.translators.xds.filters import ROUTER_FILTER, rate_limit_filter_name
from gitxds.translators.xds.ratelimit import (
    global_rate_limit_for,
    local_rate_limit_for,
    rate_limit_actions_for,
)

__all__ = ["RouteUse", "envoy_filter_name", "rate_limit_filter"]

_HCM = "envoy.filters.network.http_connection_manager"

RouteUse = tuple[str, ir.RateLimitPolicy]  # (Istio http route name, policy)


def envoy_filter_name(policy: ir.RateLimitPolicy) -> str:
    return f"gitxds-ratelimit-{policy.name}"


def rate_limit_filter(
    policy: ir.RateLimitPolicy,
    route_names: list[str],
    namespace: str,
    selector: Mapping[str, str],
    placements: Mapping[str, Placement],
) -> Document:
    """One EnvoyFilter per policy: the filter on the gateway listeners plus one patch per limited route."""
    filter_name = rate_limit_filter_name(policy.name)
    config = _filter_config(policy, placements)
    patches = [_insert_filter(filter_name, config)]
    per_route = config if policy.mode is ir.RateLimitMode.LOCAL else _global_per_route(policy)
    patches += [_enable_on_route(filter_name, route, per_route) for route in sorted(route_names)]
    return {
        "apiVersion": API_NETWORKING_ALPHA,
        "kind": "EnvoyFilter",
        "metadata": metadata(envoy_filter_name(policy), namespace),
        "spec": {"workloadSelector": {"labels": dict(selector)}, "configPatches": patches},
    }


def _filter_config(policy: ir.RateLimitPolicy, placements: Mapping[str, Placement]) -> Document:
    if policy.mode is ir.RateLimitMode.LOCAL:
        return _typed(local_rate_limit_for(policy))
    assert policy.service is not None
    config = _typed(global_rate_limit_for(policy))
    service = placements[policy.service.backend]
    # Istio names the cluster of a host (and subset) this way; gitxds names it after the Backend.
    cluster = f"outbound|{service.port}|{service.subset or ''}|{service.host}"
    config["rate_limit_service"]["grpc_service"]["envoy_grpc"]["cluster_name"] = cluster
    return config


def _global_per_route(policy: ir.RateLimitPolicy) -> Document:
    assert policy.service is not None
    per_route = RateLimitPerRoute(domain=policy.service.domain, rate_limits=rate_limit_actions_for(policy))
    return _typed(per_route)


def _typed(message: Message) -> dict[str, Any]:
    body: dict[str, Any] = MessageToDict(message, preserving_proto_field_name=True)
    return {"@type": f"type.googleapis.com/{message.DESCRIPTOR.full_name}", **body}


def _insert_filter(filter_name: str, config: Document) -> Document:
    return {
        "applyTo": "HTTP_FILTER",
        "match": {
            "context": "GATEWAY",
            "listener": {"filterChain": {"filter": {"name": _HCM, "subFilter": {"name": ROUTER_FILTER}}}},
        },
        "patch": {
            "operation": "INSERT_BEFORE",
            "value": {"name": filter_name, "disabled": True, "typed_config": config},
        },
    }


def _enable_on_route(filter_name: str, route_name: str, per_route: Document) -> Document:
    return {
        "applyTo": "HTTP_ROUTE",
        "match": {"context": "GATEWAY", "routeConfiguration": {"vhost": {"route": {"name": route_name}}}},
        "patch": {"operation": "MERGE", "value": {"typed_per_filter_config": {filter_name: per_route}}},
    }
