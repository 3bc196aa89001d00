"""Istio VirtualService / DestinationRule / ServiceEntry documents -> gitxds config documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitxds.findings import Finding, FindingReason
from gitxds.importers.istio.backends import BackendPlan
from gitxds.importers.istio.findings import ObjectReport
from gitxds.importers.istio.gateways import read_gateway
from gitxds.importers.istio.registry import (
    HostRules,
    ServiceEntryHost,
    kubernetes_service,
    normalize_host,
    read_destination_rule,
    read_service_entry,
)
from gitxds.importers.istio.routes import read_virtual_service

__all__ = ["ImportResult", "SourceDocument", "import_istio"]

_API_VERSIONS = {"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"}
_KINDS = ("Gateway", "ServiceEntry", "DestinationRule", "VirtualService")
_ENVELOPE = {"apiVersion", "kind", "metadata", "spec", "status"}


@dataclass(frozen=True)
class SourceDocument:
    file: str
    document: Any


@dataclass(frozen=True)
class ImportResult:
    documents: list[dict[str, Any]]  # gitxds config: Gateways, Backends, Routes, each sorted by name
    findings: list[Finding]


@dataclass
class _Accepted:
    source: SourceDocument
    report: ObjectReport
    namespace: str


@dataclass
class _Run:
    namespace: str
    findings: list[Finding] = field(default_factory=list)
    by_kind: dict[str, list[_Accepted]] = field(default_factory=lambda: {kind: [] for kind in _KINDS})


def import_istio(
    sources: list[SourceDocument], namespace: str = "default", gateway: str | None = None
) -> ImportResult:
    """``namespace`` applies to objects without one; ``gateway`` is given to routes bound only to the mesh."""
    run = _Run(namespace)
    for source in sources:
        _admit(source, run)
    entries, rules, refused_hosts, origins = _registry(run)
    plan = BackendPlan(entries, rules, refused_hosts, origins)
    plan.add_declared()
    routes: dict[str, dict[str, Any]] = {}
    for accepted in run.by_kind["VirtualService"]:
        route = read_virtual_service(
            accepted.source.document, accepted.namespace, plan, gateway, accepted.report
        )
        if route is not None and route["metadata"]["name"] in routes:
            accepted.report.error(
                "metadata.name", FindingReason.INVALID_VALUE, "another VirtualService has this name"
            )
        elif route is not None:
            routes[route["metadata"]["name"]] = route
        run.findings += accepted.report.finish()
    backends, backend_findings = plan.documents()
    gateways = _gateways(run)
    documents = gateways + backends + [routes[name] for name in sorted(routes)]
    return ImportResult(documents, run.findings + backend_findings)


def _gateways(run: _Run) -> list[dict[str, Any]]:
    gateways: dict[str, dict[str, Any]] = {}
    for accepted in run.by_kind["Gateway"]:
        gateway = read_gateway(accepted.source.document, accepted.report)
        if gateway is not None and gateway["metadata"]["name"] in gateways:
            accepted.report.error(
                "metadata.name", FindingReason.INVALID_VALUE, "another Gateway has this name"
            )
        elif gateway is not None:
            gateways[gateway["metadata"]["name"]] = gateway
        run.findings += accepted.report.finish()
    return [gateways[name] for name in sorted(gateways)]


def _admit(source: SourceDocument, run: _Run) -> None:
    document = source.document
    kind = str(document.get("kind", "")) if isinstance(document, dict) else ""
    metadata = document.get("metadata") if isinstance(document, dict) else None
    raw_name = metadata.get("name") if isinstance(metadata, dict) else None
    name = raw_name if isinstance(raw_name, str) else ""
    report = ObjectReport(source.file, kind or "?", name or "?")
    if not isinstance(document, dict) or not name:
        report.error("metadata.name", FindingReason.INVALID_VALUE, "not a Kubernetes object with a name")
    elif kind not in _KINDS:
        report.error(
            "kind",
            FindingReason.UNSUPPORTED_KIND,
            f"gitxds imports {', '.join(_KINDS)}; {kind or 'no kind'} is not converted",
        )
    elif not isinstance(document.get("apiVersion"), str) or document["apiVersion"] not in _API_VERSIONS:
        report.error(
            "apiVersion",
            FindingReason.INVALID_VALUE,
            f"{document.get('apiVersion')!r} is not a networking.istio.io version",
        )
    if report.refused:
        run.findings += report.finish()
        return
    for key in sorted(set(document) - _ENVELOPE):
        report.error(key, FindingReason.UNKNOWN_FIELD, "not a field of an Istio object (misspelled?)")
    namespace = metadata.get("namespace", run.namespace) if isinstance(metadata, dict) else run.namespace
    if not isinstance(namespace, str):
        report.error(
            "metadata.namespace", FindingReason.INVALID_VALUE, f"expected a string, got {namespace!r}"
        )
        run.findings += report.finish()
        return
    run.by_kind[kind].append(_Accepted(source, report, namespace))


def _registry(
    run: _Run,
) -> tuple[dict[str, ServiceEntryHost], dict[str, HostRules], set[str], dict[str, ObjectReport]]:
    entries: dict[str, ServiceEntryHost] = {}
    origins: dict[str, ObjectReport] = {}
    for accepted in run.by_kind["ServiceEntry"]:
        entry = read_service_entry(accepted.source.document, accepted.namespace, accepted.report)
        if entry is not None and entry.host in entries:
            accepted.report.error(
                "spec.hosts", FindingReason.INVALID_VALUE, f"another ServiceEntry declares {entry.host}"
            )
        elif entry is not None:
            entries[entry.host], origins[entry.host] = entry, accepted.report
        run.findings += accepted.report.finish()
    rules: dict[str, HostRules] = {}
    refused: set[str] = set()
    for accepted in run.by_kind["DestinationRule"]:
        host_rules = read_destination_rule(accepted.source.document, accepted.namespace, accepted.report)
        if host_rules is not None:
            _check_host(host_rules, entries, rules, accepted.report)
        if host_rules is not None and not accepted.report.refused:
            rules[host_rules.host], origins[host_rules.host] = host_rules, accepted.report
        else:
            refused.add(_raw_host(accepted))
        run.findings += accepted.report.finish()
    return entries, rules, refused, origins


def _check_host(
    host_rules: HostRules,
    entries: dict[str, ServiceEntryHost],
    rules: dict[str, HostRules],
    report: ObjectReport,
) -> None:
    host = host_rules.host
    if host in rules:
        report.error("spec.host", FindingReason.INVALID_VALUE, f"another DestinationRule configures {host}")
    elif host not in entries and kubernetes_service(host) is None:
        report.error(
            "spec.host",
            FindingReason.UNRESOLVED_HOST,
            f"{host} is neither a Kubernetes service nor declared by a ServiceEntry in the imported files",
        )


def _raw_host(accepted: _Accepted) -> str:
    spec = accepted.source.document.get("spec")
    host = spec.get("host", "") if isinstance(spec, dict) else ""
    return normalize_host(str(host), accepted.namespace)
