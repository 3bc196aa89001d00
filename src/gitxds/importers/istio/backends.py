"""Every (host, subset) that Istio objects mention -> one gitxds Backend document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitxds.config import API_VERSION
from gitxds.errors import Severity
from gitxds.findings import Finding, FindingReason
from gitxds.importers.istio.fields import dns_label
from gitxds.importers.istio.findings import ObjectReport
from gitxds.importers.istio.policy import ISTIO_DEFAULTS, backend_policy
from gitxds.importers.istio.registry import HostRules, ServiceEntryHost, kubernetes_service

__all__ = ["BackendPlan"]

_ASSUMED_PORT = 80


@dataclass(frozen=True, slots=True)
class _Key:
    host: str
    subset: str | None


@dataclass
class _Planned:
    name: str
    origin: ObjectReport  # the Istio object that first asked for this backend
    request_headers: dict[str, Any] | None = None


@dataclass
class BackendPlan:
    """Collects the backends that routes and DestinationRules need, then writes them."""

    entries: dict[str, ServiceEntryHost]
    rules: dict[str, HostRules]
    refused_hosts: set[str]
    origins: dict[str, ObjectReport]  # host -> the ServiceEntry or DestinationRule that declared it
    planned: dict[_Key, _Planned] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    _service_names: dict[tuple[str, str], str] = field(default_factory=dict)
    _warned_port: set[str] = field(default_factory=set)

    def add_declared(self) -> None:
        """Backends for every ServiceEntry host and DestinationRule subset, used by a route or not."""
        for host, rules in self.rules.items():
            subsets: list[str | None] = list(rules.subsets) or [None]
            for subset in subsets:
                self._plan(_Key(host, subset), self.origins[host])
        for host in self.entries:
            if host not in self.rules:
                self._plan(_Key(host, None), self.origins[host])

    def resolve(
        self, host: str, subset: str | None, port: int | None, path: str, report: ObjectReport
    ) -> str | None:
        """The backend name of a route destination, or None after reporting why there is none."""
        if host in self.refused_hosts:
            report.error(
                path, FindingReason.UNRESOLVED_HOST, f"the DestinationRule of {host} was not imported"
            )
            return None
        if subset is not None and subset not in getattr(self.rules.get(host), "subsets", {}):
            report.error(
                path, FindingReason.UNKNOWN_SUBSET, f"no DestinationRule defines subset {subset!r} of {host}"
            )
            return None
        if host not in self.entries and kubernetes_service(host) is None:
            report.error(
                path,
                FindingReason.UNRESOLVED_HOST,
                f"{host} is neither a Kubernetes service nor declared by an imported ServiceEntry",
            )
            return None
        if port is not None and host not in self.entries:
            self.ports.setdefault(host, port)
        return self._plan(_Key(host, subset), report).name

    def set_request_headers(
        self, name: str, headers: dict[str, Any], path: str, report: ObjectReport
    ) -> None:
        planned = next(p for p in self.planned.values() if p.name == name)
        if planned.request_headers not in (None, headers):
            report.error(
                path,
                FindingReason.UNSUPPORTED_FIELD,
                f"gitxds sets request headers per Backend; {name} gets different ones elsewhere",
            )
            return
        planned.request_headers = headers

    def documents(self) -> tuple[list[dict[str, Any]], list[Finding]]:
        findings: list[Finding] = []
        documents = [self._document(key, planned, findings) for key, planned in self.planned.items()]
        return sorted(documents, key=lambda d: str(d["metadata"]["name"])), findings

    def _plan(self, key: _Key, origin: ObjectReport) -> _Planned:
        if key not in self.planned:
            base = self._base_name(key.host)
            name = base if key.subset is None else dns_label(f"{base}-{key.subset}")
            self.planned[key] = _Planned(name, origin)
        return self.planned[key]

    def _base_name(self, host: str) -> str:
        if host in self.entries:
            return self.entries[host].name
        service = kubernetes_service(host)
        assert service is not None
        taken = set(self._service_names.values())
        if service not in self._service_names:
            self._service_names[service] = (
                service[0] if service[0] not in taken else f"{service[0]}-{service[1]}"
            )
        return self._service_names[service]

    def _document(self, key: _Key, planned: _Planned, findings: list[Finding]) -> dict[str, Any]:
        rules = self.rules.get(key.host)
        subset = rules.subsets[key.subset] if rules and key.subset else None
        spec: dict[str, Any] = (
            backend_policy(rules.parts, subset.parts if subset else {}) if rules else dict(ISTIO_DEFAULTS)
        )
        spec = {**self._source(key, subset.labels if subset else {}, planned, findings), **spec}
        if planned.request_headers:
            spec["requestHeaders"] = planned.request_headers
        metadata: dict[str, Any] = {"name": planned.name}
        if subset and subset.labels:
            metadata["labels"] = dict(subset.labels)
        return {"apiVersion": API_VERSION, "kind": "Backend", "metadata": metadata, "spec": spec}

    def _source(
        self, key: _Key, labels: dict[str, str], planned: _Planned, findings: list[Finding]
    ) -> dict[str, Any]:
        entry = self.entries.get(key.host)
        if entry is None:
            return self._kubernetes_source(key, labels, planned, findings)
        source: dict[str, Any] = {}
        if entry.resolution == "STATIC":
            chosen = [endpoint for own, endpoint in entry.endpoints if labels.items() <= own.items()]
            source["endpoints"] = chosen
        else:
            dns: dict[str, Any] = {"hostname": entry.host, "port": entry.port}
            if entry.resolution == "DNS_ROUND_ROBIN":
                dns["logical"] = True
            source["dns"] = dns
        if entry.protocol != "HTTP1":
            source["protocol"] = entry.protocol
        return source

    def _kubernetes_source(
        self, key: _Key, labels: dict[str, str], planned: _Planned, findings: list[Finding]
    ) -> dict[str, Any]:
        service, namespace = kubernetes_service(key.host) or ("", "")
        origin = planned.origin
        if key.host not in self.ports and key.host not in self._warned_port:
            self._warned_port.add(key.host)
            findings.append(
                _warning(
                    origin,
                    f"Istio takes the port of {key.host} from the Service; gitxds needs "
                    f"it: the Backends of this host assume port {_ASSUMED_PORT} (spec.kubernetes.port)",
                )
            )
        port = self.ports.get(key.host, _ASSUMED_PORT)
        source: dict[str, Any] = {"service": service, "namespace": namespace, "port": port}
        if labels:
            source["selector"] = dict(labels)  # the subset's pods, exactly as Istio selects them
        return {"kubernetes": source}


def _warning(origin: ObjectReport, message: str) -> Finding:
    return origin.finding("spec", Severity.WARNING, FindingReason.APPROXIMATED, message)
