"""VirtualService -> gitxds Route: hosts, gateways and HTTP rules."""

from __future__ import annotations

from typing import Any

from gitxds.config import API_VERSION
from gitxds.findings import FindingReason
from gitxds.importers.istio.backends import BackendPlan
from gitxds.importers.istio.fields import (
    check_fields,
    dns_label,
    hostname,
    join,
    mapping,
    sequence,
    string_map,
    text,
)
from gitxds.importers.istio.findings import ObjectReport
from gitxds.importers.istio.rules import RuleReader

__all__ = ["read_virtual_service"]

_MESH = "mesh"


def read_virtual_service(
    document: dict[str, Any], namespace: str, plan: BackendPlan, gateway: str | None, report: ObjectReport
) -> dict[str, Any] | None:
    """The Route document, or None when the VirtualService is refused (``report`` says why)."""
    spec = mapping(document.get("spec", {}), "spec", report)
    check_fields(spec, {"hosts", "gateways", "http", "exportTo"}, "spec", report)
    if "exportTo" in spec:
        report.warn(
            "spec.exportTo", FindingReason.APPROXIMATED, "gitxds config is visible to every gateway it names"
        )
    hosts = [
        hostname(h, f"spec.hosts[{i}]", report)
        for i, h in enumerate(sequence(spec.get("hosts", []), "spec.hosts", report))
    ]
    route_spec: dict[str, Any] = {"gateways": _gateways(spec, gateway, report)}
    if "*" not in hosts:
        route_spec["hostnames"] = hosts
    reader = RuleReader(dns_label(document["metadata"]["name"]), namespace, plan, report)
    rules = [
        reader.read(raw, index)
        for index, raw in enumerate(sequence(spec.get("http", []), "spec.http", report))
    ]
    route_spec["rules"] = _reachable(rules, report)
    if not route_spec["rules"] and not report.refused:
        report.error("spec.http", FindingReason.UNSUPPORTED_FIELD, "no HTTP routes: gitxds routes HTTP only")
    metadata: dict[str, Any] = {"name": dns_label(document["metadata"]["name"])}
    if document["metadata"].get("labels"):
        metadata["labels"] = string_map(document["metadata"]["labels"], "metadata.labels", report)
    if report.refused:
        return None
    return {"apiVersion": API_VERSION, "kind": "Route", "metadata": metadata, "spec": route_spec}


def _gateways(spec: dict[str, Any], default: str | None, report: ObjectReport) -> list[str]:
    names = []
    for index, raw in enumerate(sequence(spec.get("gateways", [_MESH]), "spec.gateways", report)):
        namespace, _, name = text(raw, join("spec.gateways", index), report).rpartition("/")
        if name == _MESH:
            continue
        if namespace:
            report.warn(
                join("spec.gateways", index),
                FindingReason.APPROXIMATED,
                f"gitxds gateway names have no namespace; {raw} becomes {dns_label(name)}",
            )
        names.append(dns_label(name))
    if not names and default is not None:
        return [default]
    if not names:
        report.warn(
            "spec.gateways",
            FindingReason.APPROXIMATED,
            "this VirtualService configures sidecars (mesh); a gitxds Route must name a gitxds Gateway: "
            "add one to spec.gateways (or import with --gateway NAME)",
        )
    return names


def _reachable(rules: list[dict[str, Any]], report: ObjectReport) -> list[dict[str, Any]]:
    """Drops rules whose every match an earlier rule already takes: Istio never uses them either, and
    gitxds rejects them as duplicates."""
    seen: list[dict[str, Any]] = []
    kept = []
    for index, rule in enumerate(rules):
        matches = rule.get("matches") or [{}]
        if all(m in seen for m in matches) or {} in seen:
            report.warn(
                f"spec.http[{index}]",
                FindingReason.APPROXIMATED,
                "an earlier route takes every request this route matches, so it is never used; not imported",
            )
            continue
        seen += matches
        kept.append(rule)
    return kept
