"""EnvoyFilters for the gitxds settings that Istio's API lacks but its Envoy routes and clusters take:
stream idle timeouts on routes and active health checks on a host's clusters.

The values come from the xDS translator's builders, so the gateway's Envoy gets what gitxds itself
would send.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.json_format import MessageToDict

from gitxds import ir
from gitxds.translators.istio.hosts import BackendGroup
from gitxds.translators.istio.values import API_NETWORKING_ALPHA, Document, metadata
from gitxds.translators.xds.clusters import health_check_for

__all__ = ["HEALTH_CHECK_FILTER", "STREAMING_FILTER", "health_check_filter", "streaming_filter"]

STREAMING_FILTER = "gitxds-streaming"
HEALTH_CHECK_FILTER = "gitxds-health-checks"


def _envoy_filter(
    name: str, namespace: str, selector: Mapping[str, str], patches: list[Document]
) -> Document:
    return {
        "apiVersion": API_NETWORKING_ALPHA,
        "kind": "EnvoyFilter",
        "metadata": metadata(name, namespace),
        "spec": {"workloadSelector": {"labels": dict(selector)}, "configPatches": patches},
    }


def streaming_filter(
    uses: list[tuple[str, ir.Streaming]], namespace: str, selector: Mapping[str, str]
) -> Document:
    """Per streaming rule (by Istio http route name): no total timeout, the rule's idle timeout."""
    patches = [
        {
            "applyTo": "HTTP_ROUTE",
            "match": {"context": "GATEWAY", "routeConfiguration": {"vhost": {"route": {"name": name}}}},
            "patch": {
                "operation": "MERGE",
                "value": {"route": {"timeout": "0s", "idle_timeout": _seconds(streaming.idle_timeout_ms)}},
            },
        }
        for name, streaming in sorted(uses, key=lambda use: use[0])
    ]
    return _envoy_filter(STREAMING_FILTER, namespace, selector, patches)


def health_check_filter(groups: list[BackendGroup], namespace: str, selector: Mapping[str, str]) -> Document:
    """Per backend with a health check: the check on the gateway's cluster of its host and subset."""
    patches = []
    for group in groups:
        for backend in group.backends:
            if backend.health_check is None:
                continue
            placement = group.placement(backend)
            cluster: dict[str, Any] = {"service": placement.host, "portNumber": placement.port}
            if placement.subset is not None:
                cluster["subset"] = placement.subset
            check = MessageToDict(
                health_check_for(backend.health_check, backend.protocol), preserving_proto_field_name=True
            )
            patches.append(
                {
                    "applyTo": "CLUSTER",
                    "match": {"context": "GATEWAY", "cluster": cluster},
                    "patch": {"operation": "MERGE", "value": {"health_checks": [check]}},
                }
            )
    return _envoy_filter(HEALTH_CHECK_FILTER, namespace, selector, patches)


def _seconds(millis: int) -> str:
    """Envoy's JSON spelling of a protobuf Duration: seconds, with milliseconds as a fraction."""
    seconds, rest = divmod(millis, 1000)
    return f"{seconds}.{rest:03d}s" if rest else f"{seconds}s"
