"""ServiceEntry and DestinationRule -> what gitxds needs to know about each Istio host."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from gitxds.findings import FindingReason
from gitxds.importers.istio.fields import (
    check_fields,
    dns_label,
    hostname,
    integer,
    join,
    mapping,
    sequence,
    string_map,
    text,
)
from gitxds.importers.istio.findings import ObjectReport
from gitxds.importers.istio.policy import PolicyParts, convert_traffic_policy

__all__ = [
    "HostRules",
    "ServiceEntryHost",
    "Subset",
    "kubernetes_service",
    "normalize_host",
    "read_destination_rule",
    "read_service_entry",
]

_PROTOCOLS = {"HTTP": "HTTP1", "HTTP2": "HTTP2", "GRPC": "GRPC"}
_KUBERNETES_SUFFIX = ".svc.cluster.local"


def kubernetes_service(host: str) -> tuple[str, str] | None:
    """(service, namespace) of a ``<service>.<namespace>.svc.cluster.local`` host, else None."""
    labels = host.removesuffix(_KUBERNETES_SUFFIX).split(".") if host.endswith(_KUBERNETES_SUFFIX) else []
    return (labels[0], labels[1]) if len(labels) == 2 and all(labels) else None


def normalize_host(host: str, namespace: str) -> str:
    """Short names are Kubernetes services in the object's namespace, as Istio reads them."""
    return host if "." in host or host == "*" else f"{host}.{namespace}{_KUBERNETES_SUFFIX}"


@dataclass
class ServiceEntryHost:
    name: str
    host: str
    port: int
    protocol: str
    resolution: str
    endpoints: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)  # (labels, endpoint)


@dataclass(frozen=True)
class Subset:
    labels: dict[str, str]
    parts: PolicyParts


@dataclass
class HostRules:
    """One DestinationRule: the host's policy and its subsets."""

    name: str
    host: str
    parts: PolicyParts
    subsets: dict[str, Subset]


def _spec(document: dict[str, Any], report: ObjectReport) -> dict[str, Any]:
    spec = mapping(document.get("spec", {}), "spec", report)
    if "exportTo" in spec:
        report.warn(
            "spec.exportTo", FindingReason.APPROXIMATED, "gitxds config is visible to every gateway it names"
        )
    return spec


def read_service_entry(
    document: dict[str, Any], namespace: str, report: ObjectReport
) -> ServiceEntryHost | None:
    spec = _spec(document, report)
    check_fields(
        spec,
        {"hosts", "ports", "resolution", "endpoints", "location", "exportTo", "addresses"},
        "spec",
        report,
    )
    hosts = sequence(spec.get("hosts", []), "spec.hosts", report)
    ports = sequence(spec.get("ports", []), "spec.ports", report)
    if len(hosts) != 1 or len(ports) != 1:
        report.error(
            "spec",
            FindingReason.UNSUPPORTED_FIELD,
            "a gitxds Backend has one host and one port; split this entry",
        )
        return None
    port = mapping(ports[0], "spec.ports[0]", report)
    check_fields(port, {"number", "name", "protocol"}, "spec.ports[0]", report)
    protocol = text(port.get("protocol", "HTTP"), "spec.ports[0].protocol", report)
    if protocol not in _PROTOCOLS:
        report.error(
            "spec.ports[0].protocol",
            FindingReason.UNSUPPORTED_FIELD,
            f"{protocol}: gitxds speaks HTTP, HTTP2 or GRPC to backends "
            "(originate TLS with a DestinationRule)",
        )
    entry = ServiceEntryHost(
        name=dns_label(document["metadata"]["name"]),
        host=normalize_host(hostname(hosts[0], "spec.hosts[0]", report), namespace),
        port=integer(port.get("number"), "spec.ports[0].number", report) or 0,
        protocol=_PROTOCOLS.get(protocol, "HTTP1"),
        resolution=text(spec.get("resolution", "NONE"), "spec.resolution", report),
    )
    _read_resolution(entry, spec, text(port.get("name", ""), "spec.ports[0].name", report), report)
    return None if report.refused else entry


def _read_resolution(
    entry: ServiceEntryHost, spec: dict[str, Any], port_name: str, report: ObjectReport
) -> None:
    if entry.resolution in ("DNS", "DNS_ROUND_ROBIN"):
        if "endpoints" in spec:
            report.error(
                "spec.endpoints", FindingReason.UNSUPPORTED_FIELD, "gitxds resolves the host itself with DNS"
            )
        return
    if entry.resolution != "STATIC":
        report.error(
            "spec.resolution",
            FindingReason.UNSUPPORTED_FIELD,
            f"{entry.resolution}: gitxds needs the endpoints (STATIC) or a name to resolve (DNS)",
        )
        return
    for index, raw in enumerate(sequence(spec.get("endpoints", []), "spec.endpoints", report)):
        path = f"spec.endpoints[{index}]"
        endpoint = mapping(raw, path, report)
        check_fields(endpoint, {"address", "ports", "labels", "weight"}, path, report)
        address = text(endpoint.get("address", ""), join(path, "address"), report)
        try:
            ipaddress.ip_address(address)
        except ValueError:
            report.error(
                join(path, "address"),
                FindingReason.UNSUPPORTED_FIELD,
                f"{address!r}: gitxds static endpoints are IP addresses",
            )
            continue
        ports = mapping(endpoint.get("ports", {}), join(path, "ports"), report)
        port = integer(ports.get(port_name, entry.port), join(path, f"ports.{port_name}"), report)
        converted: dict[str, Any] = {"address": address, "port": port}
        if "weight" in endpoint:
            converted["weight"] = integer(endpoint["weight"], join(path, "weight"), report)
        entry.endpoints.append(
            (string_map(endpoint.get("labels", {}), join(path, "labels"), report), converted)
        )


def read_destination_rule(document: dict[str, Any], namespace: str, report: ObjectReport) -> HostRules | None:
    spec = _spec(document, report)
    check_fields(spec, {"host", "trafficPolicy", "subsets", "exportTo"}, "spec", report)
    parts = convert_traffic_policy(spec.get("trafficPolicy", {}), "spec.trafficPolicy", report)
    subsets: dict[str, Subset] = {}
    for index, raw in enumerate(sequence(spec.get("subsets", []), "spec.subsets", report)):
        path = f"spec.subsets[{index}]"
        subset = mapping(raw, path, report)
        check_fields(subset, {"name", "labels", "trafficPolicy"}, path, report)
        subset_parts = convert_traffic_policy(
            subset.get("trafficPolicy", {}), join(path, "trafficPolicy"), report
        )
        name = text(subset.get("name"), join(path, "name"), report)
        subsets[name] = Subset(
            string_map(subset.get("labels", {}), join(path, "labels"), report), subset_parts
        )
    host = normalize_host(hostname(spec.get("host", ""), "spec.host", report), namespace)
    if report.refused:
        return None
    return HostRules(dns_label(document["metadata"]["name"]), host, parts, subsets)
