"""ServiceEntry and DestinationRule -> what gitxds needs to know about each Istio host."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from gitxds.importers.istio.fields import check_fields, dns_label, join, mapping, sequence
from gitxds.importers.istio.findings import ImportReason, ObjectReport
from gitxds.importers.istio.policy import PolicyParts, convert_traffic_policy

__all__ = [
    "HostRules",
    "ServiceEntryHost",
    "Subset",
    "normalize_host",
    "read_destination_rule",
    "read_service_entry",
]

_PROTOCOLS = {"HTTP": "HTTP1", "HTTP2": "HTTP2", "GRPC": "GRPC"}
_KUBERNETES_SUFFIX = ".svc.cluster.local"


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
            "spec.exportTo", ImportReason.APPROXIMATED, "gitxds config is visible to every gateway it names"
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
            ImportReason.UNSUPPORTED_FIELD,
            "a gitxds Backend has one host and one port; split this entry",
        )
        return None
    port = mapping(ports[0], "spec.ports[0]", report)
    check_fields(port, {"number", "name", "protocol"}, "spec.ports[0]", report)
    protocol = port.get("protocol", "HTTP")
    if protocol not in _PROTOCOLS:
        report.error(
            "spec.ports[0].protocol",
            ImportReason.UNSUPPORTED_FIELD,
            f"{protocol}: gitxds speaks HTTP, HTTP2 or GRPC to backends "
            "(originate TLS with a DestinationRule)",
        )
    entry = ServiceEntryHost(
        name=dns_label(document["metadata"]["name"]),
        host=normalize_host(str(hosts[0]), namespace),
        port=int(port.get("number", 0)),
        protocol=_PROTOCOLS.get(protocol, "HTTP1"),
        resolution=str(spec.get("resolution", "NONE")),
    )
    _read_resolution(entry, spec, str(port.get("name", "")), report)
    return None if report.refused else entry


def _read_resolution(
    entry: ServiceEntryHost, spec: dict[str, Any], port_name: str, report: ObjectReport
) -> None:
    if entry.resolution in ("DNS", "DNS_ROUND_ROBIN"):
        if "endpoints" in spec:
            report.error(
                "spec.endpoints", ImportReason.UNSUPPORTED_FIELD, "gitxds resolves the host itself with DNS"
            )
        return
    if entry.resolution != "STATIC":
        report.error(
            "spec.resolution",
            ImportReason.UNSUPPORTED_FIELD,
            f"{entry.resolution}: gitxds needs the endpoints (STATIC) or a name to resolve (DNS)",
        )
        return
    for index, raw in enumerate(sequence(spec.get("endpoints", []), "spec.endpoints", report)):
        path = f"spec.endpoints[{index}]"
        endpoint = mapping(raw, path, report)
        check_fields(endpoint, {"address", "ports", "labels", "weight"}, path, report)
        address = str(endpoint.get("address", ""))
        try:
            ipaddress.ip_address(address)
        except ValueError:
            report.error(
                join(path, "address"),
                ImportReason.UNSUPPORTED_FIELD,
                f"{address!r}: gitxds static endpoints are IP addresses",
            )
            continue
        converted: dict[str, Any] = {
            "address": address,
            "port": int(endpoint.get("ports", {}).get(port_name, entry.port)),
        }
        if "weight" in endpoint:
            converted["weight"] = int(endpoint["weight"])
        entry.endpoints.append((dict(endpoint.get("labels", {})), converted))


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
        subsets[str(subset.get("name"))] = Subset(dict(subset.get("labels", {})), subset_parts)
    if report.refused:
        return None
    host = normalize_host(str(spec.get("host", "")), namespace)
    return HostRules(dns_label(document["metadata"]["name"]), host, parts, subsets)
