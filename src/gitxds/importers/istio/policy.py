"""DestinationRule trafficPolicy -> the matching gitxds Backend spec fields.

Istio merges a subset's trafficPolicy over the host's per top-level field (a subset's connectionPool
replaces the host's), so conversion keeps the parts apart until a backend's policy is assembled.
"""

from __future__ import annotations

from typing import Any

from gitxds.findings import FindingReason
from gitxds.importers.istio.fields import check_fields, duration_text, integer, join, mapping, text
from gitxds.importers.istio.findings import ObjectReport

__all__ = ["ISTIO_DEFAULTS", "PolicyParts", "backend_policy", "convert_traffic_policy"]

PolicyParts = dict[str, dict[str, Any]]  # Istio trafficPolicy field -> gitxds Backend spec fields

# What Istio does when a DestinationRule leaves these out, written out so gitxds does the same.
ISTIO_DEFAULTS: dict[str, Any] = {"connectTimeout": "10s", "loadBalancer": "LEAST_REQUEST"}

_SIMPLE = {
    "ROUND_ROBIN": "ROUND_ROBIN",
    "LEAST_REQUEST": "LEAST_REQUEST",
    "LEAST_CONN": "LEAST_REQUEST",
    "RANDOM": "RANDOM",
    "UNSPECIFIED": "LEAST_REQUEST",
}


def convert_traffic_policy(policy: Any, path: str, report: ObjectReport) -> PolicyParts:
    policy = mapping(policy, path, report)
    check_fields(policy, {"loadBalancer", "connectionPool", "outlierDetection", "tls"}, path, report)
    parts: PolicyParts = {}
    if "loadBalancer" in policy:
        parts["loadBalancer"] = _load_balancer(policy["loadBalancer"], join(path, "loadBalancer"), report)
    if "connectionPool" in policy:
        parts["connectionPool"] = _connection_pool(
            policy["connectionPool"], join(path, "connectionPool"), report
        )
    if "outlierDetection" in policy:
        parts["outlierDetection"] = _outlier(
            policy["outlierDetection"], join(path, "outlierDetection"), report
        )
    if "tls" in policy:
        parts["tls"] = _tls(policy["tls"], join(path, "tls"), report)
    return parts


def backend_policy(host_parts: PolicyParts, subset_parts: PolicyParts) -> dict[str, Any]:
    """The Backend spec fields of a subset: its parts over the host's, then Istio's defaults."""
    fields: dict[str, Any] = dict(ISTIO_DEFAULTS)
    for part in {**host_parts, **subset_parts}.values():
        fields.update(part)
    return fields


def _load_balancer(value: Any, path: str, report: ObjectReport) -> dict[str, Any]:
    lb = mapping(value, path, report)
    check_fields(lb, {"simple", "consistentHash"}, path, report)
    if "consistentHash" in lb:
        hashing = mapping(lb["consistentHash"], join(path, "consistentHash"), report)
        check_fields(hashing, {"httpHeaderName"}, join(path, "consistentHash"), report)
        if "httpHeaderName" not in hashing:
            return {}
        header = text(hashing["httpHeaderName"], join(path, "consistentHash.httpHeaderName"), report)
        return {"loadBalancer": "RING_HASH", "hashOn": {"header": header.lower()}}
    simple = text(lb.get("simple", "UNSPECIFIED"), join(path, "simple"), report)
    if simple not in _SIMPLE:
        report.error(
            join(path, "simple"),
            FindingReason.UNSUPPORTED_FIELD,
            f"{simple!r}: gitxds balances with ROUND_ROBIN, LEAST_REQUEST, RANDOM or RING_HASH",
        )
        return {}
    return {"loadBalancer": _SIMPLE[simple]}


def _connection_pool(value: Any, path: str, report: ObjectReport) -> dict[str, Any]:
    pool = mapping(value, path, report)
    check_fields(pool, {"tcp", "http"}, path, report)
    tcp = mapping(pool.get("tcp", {}), join(path, "tcp"), report)
    http = mapping(pool.get("http", {}), join(path, "http"), report)
    check_fields(tcp, {"maxConnections", "connectTimeout"}, join(path, "tcp"), report)
    check_fields(
        http,
        {"http1MaxPendingRequests", "http2MaxRequests", "maxRetries", "h2UpgradePolicy"},
        join(path, "http"),
        report,
    )
    fields: dict[str, Any] = {}
    if "connectTimeout" in tcp:
        fields["connectTimeout"] = duration_text(
            tcp["connectTimeout"], join(path, "tcp.connectTimeout"), report
        )
    sources = {
        "maxConnections": (tcp, "tcp.maxConnections"),
        "maxPendingRequests": (http, "http.http1MaxPendingRequests"),
        "maxRequests": (http, "http.http2MaxRequests"),
        "maxRetries": (http, "http.maxRetries"),
    }
    breaker = {
        name: integer(section[field.split(".")[1]], join(path, field), report)
        for name, (section, field) in sources.items()
        if field.split(".")[1] in section
    }
    if breaker:
        fields["circuitBreaker"] = breaker
    if http.get("h2UpgradePolicy") == "UPGRADE":
        fields["protocol"] = "HTTP2"
    return fields


def _outlier(value: Any, path: str, report: ObjectReport) -> dict[str, Any]:
    outlier = mapping(value, path, report)
    check_fields(
        outlier, {"consecutive5xxErrors", "interval", "baseEjectionTime", "maxEjectionPercent"}, path, report
    )
    converted: dict[str, Any] = {}
    consecutive = outlier.get("consecutive5xxErrors")
    if consecutive is not None:
        consecutive = integer(consecutive, join(path, "consecutive5xxErrors"), report)
    if consecutive == 0:
        report.error(
            join(path, "consecutive5xxErrors"),
            FindingReason.UNSUPPORTED_FIELD,
            "0 turns 5xx ejection off; gitxds always ejects after consecutive5xx errors (1 or more)",
        )
    elif consecutive is not None:
        converted["consecutive5xx"] = consecutive
    for key in ("interval", "baseEjectionTime"):
        if key in outlier:
            converted[key] = duration_text(outlier[key], join(path, key), report)
    if "maxEjectionPercent" in outlier:
        converted["maxEjectionPercent"] = integer(
            outlier["maxEjectionPercent"], join(path, "maxEjectionPercent"), report
        )
    return {"outlierDetection": converted}


def _tls(value: Any, path: str, report: ObjectReport) -> dict[str, Any]:
    tls = mapping(value, path, report)
    check_fields(tls, {"mode", "sni"}, path, report)
    mode = text(tls.get("mode", "DISABLE"), join(path, "mode"), report)
    if mode == "DISABLE":
        return {}
    if mode != "SIMPLE":
        report.error(
            join(path, "mode"),
            FindingReason.UNSUPPORTED_FIELD,
            f"{mode}: gitxds originates plain TLS only (mode SIMPLE); client certificates and Istio mutual "
            "TLS have no gitxds equivalent",
        )
        return {}
    return {"tls": {"sni": text(tls["sni"], join(path, "sni"), report)} if "sni" in tls else {}}
