"""Istio networking Gateway -> gitxds Gateway: one listener per server."""

from __future__ import annotations

import ipaddress
from typing import Any

from gitxds.config import API_VERSION
from gitxds.findings import FindingReason
from gitxds.importers.istio.fields import check_fields, dns_label, integer, join, mapping, sequence, text
from gitxds.importers.istio.findings import ObjectReport

__all__ = ["read_gateway"]


def read_gateway(document: dict[str, Any], report: ObjectReport) -> dict[str, Any] | None:
    """The Gateway document, or None when the Istio Gateway is refused (``report`` says why)."""
    spec = mapping(document.get("spec", {}), "spec", report)
    check_fields(spec, {"selector", "servers"}, "spec", report)
    name = dns_label(document["metadata"]["name"])
    report.warn(
        "spec.selector",
        FindingReason.APPROXIMATED,
        f"gitxds picks Envoy proxies by node cluster, not pod labels: imported as proxies.cluster {name}",
    )
    listeners = [
        _listener(raw, f"spec.servers[{index}]", report)
        for index, raw in enumerate(sequence(spec.get("servers", []), "spec.servers", report))
    ]
    if not listeners:
        report.error(
            "spec.servers", FindingReason.INVALID_VALUE, "a gitxds Gateway needs at least one listener"
        )
    ports = [listener.get("port") for listener in listeners]
    if len(set(ports)) != len(ports):
        report.error(
            "spec.servers", FindingReason.UNSUPPORTED_FIELD, "a gitxds Gateway has one listener per port"
        )
    if report.refused:
        return None
    return {
        "apiVersion": API_VERSION,
        "kind": "Gateway",
        "metadata": {"name": name},
        "spec": {"proxies": {"cluster": name}, "listeners": listeners},
    }


def _listener(raw: Any, path: str, report: ObjectReport) -> dict[str, Any]:
    server = mapping(raw, path, report)
    check_fields(server, {"port", "hosts", "tls", "bind", "name"}, path, report)
    port = mapping(server.get("port", {}), join(path, "port"), report)
    check_fields(port, {"number", "name", "protocol"}, join(path, "port"), report)
    protocol = text(port.get("protocol", ""), join(path, "port.protocol"), report).upper()
    number = integer(port.get("number"), join(path, "port.number"), report)
    name = port.get("name") or server.get("name") or f"port-{number}"
    listener: dict[str, Any] = {
        "name": dns_label(text(name, join(path, "port.name"), report)),
        "port": number,
    }
    if "bind" in server:
        listener["address"] = _bind(server["bind"], join(path, "bind"), report)
    if [h for h in server.get("hosts", []) if h != "*"]:
        report.warn(
            join(path, "hosts"),
            FindingReason.APPROXIMATED,
            "a gitxds Gateway serves the hostnames of its routes; these hosts are not enforced on their own",
        )
    if protocol == "HTTPS":
        listener["protocol"] = "HTTPS"
        listener["tls"] = {"secretRef": _credential(server.get("tls", {}), join(path, "tls"), report)}
    elif protocol != "HTTP":
        report.error(
            join(path, "port.protocol"),
            FindingReason.UNSUPPORTED_FIELD,
            f"{protocol}: gitxds listeners speak HTTP or HTTPS",
        )
    if "tls" in server and protocol == "HTTP":
        report.error(
            join(path, "tls"), FindingReason.UNSUPPORTED_FIELD, "gitxds does not redirect HTTP to HTTPS"
        )
    return listener


def _bind(value: Any, path: str, report: ObjectReport) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        report.error(path, FindingReason.UNSUPPORTED_FIELD, f"{value!r}: gitxds listeners bind IP addresses")
        return ""


def _credential(value: Any, path: str, report: ObjectReport) -> str:
    tls = mapping(value, path, report)
    check_fields(tls, {"mode", "credentialName"}, path, report)
    if tls.get("mode", "SIMPLE") != "SIMPLE" or "credentialName" not in tls:
        report.error(
            path,
            FindingReason.UNSUPPORTED_FIELD,
            "gitxds terminates TLS with one certificate (mode SIMPLE with credentialName)",
        )
        return ""
    return text(tls["credentialName"], join(path, "credentialName"), report)
