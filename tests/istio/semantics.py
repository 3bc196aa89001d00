"""What an Istio document means, for the fields gitxds supports, so two spellings compare equal.

Istio defaults are written out (LEAST_REQUEST, a 10s connect timeout, tls DISABLE), short host names
are expanded, durations become milliseconds and a subset's policy is merged over its host's.
"""

from __future__ import annotations

from typing import Any

from .crd_validator import go_duration_nanos

ISTIO_DEFAULT_POLICY = {"loadBalancer": {"simple": "LEAST_REQUEST"}, "connectTimeoutMs": 10_000}


def fqdn(host: str, namespace: str) -> str:
    return host if "." in host or host == "*" else f"{host}.{namespace}.svc.cluster.local"


def millis(text: str) -> int:
    nanos = go_duration_nanos(text)
    assert nanos is not None, text
    return round(nanos / 1e6)


def namespace_of(document: dict[str, Any]) -> str:
    return str(document["metadata"].get("namespace", "default"))


def virtual_service_meaning(document: dict[str, Any], ignore_gateways: frozenset[str]) -> dict[str, Any]:
    ns = namespace_of(document)
    spec = document["spec"]
    return {
        "hosts": sorted(spec.get("hosts", [])),
        "gateways": sorted(set(spec.get("gateways", [])) - ignore_gateways - {"mesh"}),
        "http": [_http_meaning(http, ns) for http in _reachable(spec.get("http", []))],
    }


def _reachable(routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Routes some request can reach: one whose matches earlier routes all take is never used."""
    seen: list[Any] = []
    reachable = []
    for http in routes:
        matches = [_match_meaning(m) for m in http.get("match", [{}])]
        if {} in seen or all(m in seen for m in matches):
            continue
        seen += matches
        reachable.append(http)
    return reachable


def _http_meaning(http: dict[str, Any], ns: str) -> dict[str, Any]:
    routes = http["route"]
    meaning: dict[str, Any] = {
        "match": [_match_meaning(m) for m in http.get("match", [{}])],
        "route": [
            (
                fqdn(r["destination"]["host"], ns),
                r["destination"].get("subset"),
                r.get("weight") if len(routes) > 1 else None,
            )
            for r in routes
        ],
        "timeoutMs": millis(http["timeout"]) if "timeout" in http else None,
        "headers": http.get("headers"),
    }
    retries = http.get("retries", {"attempts": 2})  # Istio's default policy when a route states none
    if retries.get("attempts", 0) > 0:
        meaning["retries"] = {
            "attempts": retries["attempts"],
            "perTryTimeoutMs": millis(retries["perTryTimeout"]) if "perTryTimeout" in retries else None,
            "retryOn": sorted(
                retries.get("retryOn", "connect-failure,refused-stream,unavailable,cancelled").split(",")
            ),
        }
    if "fault" in http:
        meaning["fault"] = _fault_meaning(http["fault"])
    if "mirror" in http:
        mirror = http["mirror"]
        meaning["mirror"] = (
            fqdn(mirror["host"], ns),
            mirror.get("subset"),
            http.get("mirrorPercentage", {}).get("value", 100.0),
        )
    return meaning


def _match_meaning(match: dict[str, Any]) -> dict[str, Any]:
    return {key: match[key] for key in ("uri", "headers", "withoutHeaders", "method") if key in match}


def _fault_meaning(fault: dict[str, Any]) -> dict[str, Any]:
    meaning: dict[str, Any] = {}
    if "delay" in fault:
        meaning["delay"] = (
            millis(fault["delay"]["fixedDelay"]),
            float(fault["delay"]["percentage"]["value"]),
        )
    if "abort" in fault:
        meaning["abort"] = (fault["abort"]["httpStatus"], float(fault["abort"]["percentage"]["value"]))
    return meaning


def destination_rule_meaning(document: dict[str, Any]) -> dict[str, Any]:
    """Host -> subset (None for the whole host) -> (labels, effective policy)."""
    spec = document["spec"]
    host_policy = spec.get("trafficPolicy", {})
    subsets: dict[str | None, Any] = {}
    for subset in spec.get("subsets", []):
        merged = {**host_policy, **subset.get("trafficPolicy", {})}
        subsets[subset["name"]] = (subset.get("labels", {}), _policy_meaning(merged))
    if not spec.get("subsets"):
        subsets[None] = ({}, _policy_meaning(host_policy))
    return {fqdn(spec["host"], namespace_of(document)): subsets}


def _policy_meaning(policy: dict[str, Any]) -> dict[str, Any]:
    meaning = dict(ISTIO_DEFAULT_POLICY)
    if "loadBalancer" in policy:
        meaning["loadBalancer"] = policy["loadBalancer"]
    pool = policy.get("connectionPool", {})
    tcp, http = pool.get("tcp", {}), pool.get("http", {})
    if "connectTimeout" in tcp:
        meaning["connectTimeoutMs"] = millis(tcp["connectTimeout"])
    for key in ("maxConnections",):
        if key in tcp:
            meaning[key] = tcp[key]
    for key in ("http1MaxPendingRequests", "http2MaxRequests", "maxRetries", "h2UpgradePolicy"):
        if key in http:
            meaning[key] = http[key]
    outlier = policy.get("outlierDetection")
    if outlier is not None:
        meaning["outlierDetection"] = {
            k: millis(v) if k in ("interval", "baseEjectionTime") else v for k, v in outlier.items()
        }
    tls = policy.get("tls", {})
    if tls.get("mode", "DISABLE") != "DISABLE":
        meaning["tls"] = tls
    return meaning
