"""Reading Istio fields: unknown-key checks with per-field reasons, durations and names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gitxds.config import format_duration
from gitxds.findings import FindingReason
from gitxds.importers.istio.findings import ObjectReport

__all__ = [
    "FIELD_REASONS",
    "check_fields",
    "dns_label",
    "duration_ms",
    "duration_text",
    "hostname",
    "integer",
    "join",
    "mapping",
    "number",
    "sequence",
    "string_map",
    "text",
]

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+")
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_NOT_LABEL = re.compile(r"[^a-z0-9-]+")
_HOSTNAME = re.compile(r"(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

# Why gitxds has no equivalent, for the Istio fields users most often meet; others get a generic reason.
FIELD_REASONS: Mapping[str, str] = {
    "rewrite": "gitxds does not rewrite URIs or authorities",
    "redirect": "gitxds routes do not answer with redirects",
    "directResponse": "gitxds routes always forward to a backend",
    "corsPolicy": "gitxds has no CORS policy",
    "delegate": "gitxds routes cannot delegate to another route",
    "mirrors": "gitxds mirrors to one backend; use mirror",
    "tcp": "gitxds routes HTTP only; TCP routes have no gitxds equivalent",
    "tls": "gitxds routes HTTP only; TLS passthrough routes have no gitxds equivalent",
    "sourceLabels": "gitxds gateways do not know the calling workload's labels",
    "sourceNamespace": "gitxds gateways do not know the calling workload's namespace",
    "gateways": "gitxds matches do not depend on the gateway; split the route per gateway",
    "queryParams": "gitxds does not match query parameters",
    "ignoreUriCase": "gitxds path matches are case-sensitive",
    "authority": "match the host with spec.hostnames of the gitxds Route",
    "scheme": "gitxds does not match the URI scheme",
    "port": "gitxds matches do not depend on the listener port; bind the route to a gateway instead",
    "workloadSelector": "gitxds policies apply per Backend, not per workload",
    "portLevelSettings": "a gitxds Backend has one port; put the settings in trafficPolicy",
    "warmup": "gitxds has no slow-start warmup",
    "warmupDurationSecs": "gitxds has no slow-start warmup",
    "localityLbSetting": "gitxds fails over by endpoint priority, not locality",
    "proxyProtocol": "gitxds does not send the PROXY protocol upstream",
    "tunnel": "gitxds does not tunnel upstream connections",
}


def check_fields(value: Mapping[str, Any], supported: set[str], path: str, report: ObjectReport) -> None:
    """Reports every key of ``value`` outside ``supported`` as an error, with the reason when known."""
    for key in value:
        if key in supported:
            continue
        field_path = f"{path}.{key}" if path else key
        reason = FIELD_REASONS.get(key, "gitxds has no equivalent of this Istio field")
        report.error(field_path, FindingReason.UNSUPPORTED_FIELD, reason)


def mapping(value: Any, path: str, report: ObjectReport) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    report.error(path, FindingReason.INVALID_VALUE, f"expected a mapping, got {type(value).__name__}")
    return {}


def sequence(value: Any, path: str, report: ObjectReport) -> list[Any]:
    if isinstance(value, list):
        return value
    report.error(path, FindingReason.INVALID_VALUE, f"expected a list, got {type(value).__name__}")
    return []


def integer(value: Any, path: str, report: ObjectReport) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    report.error(path, FindingReason.INVALID_VALUE, f"expected an integer, got {value!r}")
    return None


def number(value: Any, path: str, report: ObjectReport) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    report.error(path, FindingReason.INVALID_VALUE, f"expected a number, got {value!r}")
    return None


def text(value: Any, path: str, report: ObjectReport) -> str:
    if isinstance(value, str):
        return value
    report.error(path, FindingReason.INVALID_VALUE, f"expected a string, got {value!r}")
    return ""


def hostname(value: Any, path: str, report: ObjectReport) -> str:
    """A DNS host name as Istio writes it (``*.`` wildcards allowed), lower-cased."""
    host = text(value, path, report).lower()
    if host != "*" and not _HOSTNAME.fullmatch(host):
        report.error(path, FindingReason.INVALID_VALUE, f"{host!r} is not a host name")
    return host


def string_map(value: Any, path: str, report: ObjectReport) -> dict[str, str]:
    """A map of strings to strings (labels, header values)."""
    converted = {}
    for key, item in mapping(value, path, report).items():
        converted[str(key)] = text(item, join(path, str(key)), report)
    return converted


def duration_ms(value: Any, path: str, report: ObjectReport) -> int | None:
    """An Istio (Go) duration in milliseconds; None and an error when it is not one gitxds can write."""
    if not isinstance(value, str) or not _GO_DURATION.fullmatch(value):
        report.error(path, FindingReason.INVALID_VALUE, f"{value!r} is not a duration such as 30s or 250ms")
        return None
    total = sum(float(n) * _UNIT_MS[u] for n, u in _GO_DURATION_PART.findall(value))
    millis = round(total)
    if abs(total - millis) > 1e-6:
        report.error(
            path, FindingReason.INVALID_VALUE, f"{value!r} is finer than the millisecond gitxds uses"
        )
        return None
    return millis


def duration_text(value: Any, path: str, report: ObjectReport) -> str | None:
    millis = duration_ms(value, path, report)
    return None if millis is None else format_duration(millis)


def dns_label(text: str) -> str:
    """``text`` as a gitxds name: lower-case letters, digits and '-', at most 63 characters."""
    return _NOT_LABEL.sub("-", text.lower()).strip("-")[:63].strip("-") or "unnamed"


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key
