"""Route -> VirtualService: matches, weighted destinations, timeouts, retries, faults, mirrors, headers."""

from __future__ import annotations

from collections.abc import Mapping

from gitxds import ir
from gitxds.findings import FindingReason, Findings
from gitxds.translators.istio.hosts import Placement
from gitxds.translators.istio.values import API_NETWORKING, Document, duration, metadata

__all__ = ["http_route_name", "virtual_service"]


def http_route_name(route: ir.Route, rule: ir.Rule) -> str:
    """``<route>-<rule name or index>``: Istio names the Envoy route after it, so EnvoyFilters can
    patch it."""
    return f"{route.name}-{rule_label(rule)}"


def rule_label(rule: ir.Rule) -> str:
    """The rule's own name, or its index when the user gave none (the IR names rules route/label)."""
    return rule.name.split("/", 1)[1]


def virtual_service(
    route: ir.Route,
    model: ir.Model,
    placements: Mapping[str, Placement],
    namespace: str,
    *,
    named_rules: frozenset[str],
    findings: Findings,
) -> Document:
    http = []
    for index, rule in enumerate(route.rules):
        builder = _RuleBuilder(route, index, model, placements, findings)
        entry = builder.build(rule)
        if rule.name in named_rules or rule_label(rule) != str(index):
            entry = {"name": http_route_name(route, rule), **entry}
        http.append(entry)
    spec: Document = {"hosts": list(route.hostnames) or ["*"], "gateways": list(route.gateways), "http": http}
    return {
        "apiVersion": API_NETWORKING,
        "kind": "VirtualService",
        "metadata": metadata(route.name, namespace),
        "spec": spec,
    }


class _RuleBuilder:
    """Builds one HTTPRoute; reports what the rule asks for that Istio cannot express."""

    def __init__(
        self,
        route: ir.Route,
        index: int,
        model: ir.Model,
        placements: Mapping[str, Placement],
        findings: Findings,
    ) -> None:
        self.route = route
        self.path = f"spec.rules[{index}]"
        self.model = model
        self.placements = placements
        self.findings = findings

    def build(self, rule: ir.Rule) -> Document:
        self._report_unmapped(rule)
        entry: Document = {}
        matches = [m for match in rule.matches for m in _http_matches(match)]
        if matches:
            entry["match"] = matches
        entry["route"] = self._destinations(rule)
        if rule.timeout_ms is not None and rule.streaming is None:  # streams get an idle timeout instead
            entry["timeout"] = duration(rule.timeout_ms)
        # Without this, Istio would apply its default retry policy; gitxds does not retry unless told.
        entry["retries"] = _retries(rule.retries) if rule.retries is not None else {"attempts": 0}
        if rule.fault is not None:
            entry["fault"] = _fault(rule.fault)
        if rule.mirror is not None:
            entry["mirror"] = self._destination(rule.mirror.backend)
            entry["mirrorPercentage"] = {"value": float(rule.mirror.percent)}
        headers = self._headers(rule)
        if headers:
            entry["headers"] = headers
        return entry

    def _destinations(self, rule: ir.Rule) -> list[Document]:
        destinations = []
        for weighted in rule.backends:
            entry: Document = {"destination": self._destination(weighted.backend)}
            if len(rule.backends) > 1:
                entry["weight"] = weighted.weight
            backend_headers = self.model.backend(weighted.backend).request_headers
            ops = _header_ops(
                backend_headers, self._secret_reporter("Backend", weighted.backend, "spec.requestHeaders")
            )
            if ops:
                entry["headers"] = {"request": ops}
            destinations.append(entry)
        return destinations

    def _destination(self, backend: str) -> Document:
        placement = self.placements[backend]
        destination: Document = {"host": placement.host}
        if placement.subset is not None:
            destination["subset"] = placement.subset
        destination["port"] = {"number": placement.port}
        return destination

    def _headers(self, rule: ir.Rule) -> Document:
        headers: Document = {}
        for direction, ops in (("request", rule.request_headers), ("response", rule.response_headers)):
            path = f"{self.path}.headers.{direction}"
            converted = _header_ops(ops, self._secret_reporter("Route", self.route.name, path))
            if converted:
                headers[direction] = converted
        return headers

    def _secret_reporter(self, kind: str, name: str, path: str) -> _SecretReporter:
        return _SecretReporter(self.findings, kind, name, path)

    def _report_unmapped(self, rule: ir.Rule) -> None:
        name = self.route.name
        if rule.fallback:
            self.findings.warn(
                "Route",
                name,
                f"{self.path}.fallback",
                FindingReason.NO_ISTIO_EQUIVALENT,
                "Istio has no fallback backends: when every primary backend fails, requests fail instead of "
                f"going to {', '.join(rule.fallback)}",
            )


class _SecretReporter:
    def __init__(self, findings: Findings, kind: str, name: str, path: str) -> None:
        self.findings, self.kind, self.name, self.path = findings, kind, name, path

    def __call__(self, header: str) -> None:
        self.findings.error(
            self.kind,
            self.name,
            f"{self.path}.{header}",
            FindingReason.SECRET_NOT_EXPORTED,
            "the value comes from the gitxds secret store and never appears in rendered files; "
            "inject this header in the mesh another way",
        )


def _header_ops(ops: ir.HeaderOps, report_secret: _SecretReporter) -> Document:
    converted: Document = {}
    for verb, pairs in (("set", ops.set), ("add", ops.add)):
        values = {}
        for header, value in pairs:
            if isinstance(value, ir.SecretRef):
                report_secret(f"{verb}.{header}")
            else:
                values[header] = value
        if values:
            converted[verb] = values
    if ops.remove:
        converted["remove"] = list(ops.remove)
    return converted


def _http_matches(match: ir.Match) -> list[Document]:
    """One Istio match per method: Istio matches a single method, gitxds any of a list."""
    base: Document = {}
    if match.path is not None:
        base["uri"] = {match.path.kind.value: match.path.value}
    headers = {h.name: _string_match(h) for h in match.headers if not h.invert}
    without = {h.name: _string_match(h) for h in match.headers if h.invert}
    if headers:
        base["headers"] = headers
    if without:
        base["withoutHeaders"] = without
    if not match.methods:
        return [base]
    return [{**base, "method": {"exact": method}} for method in match.methods]


def _string_match(header: ir.HeaderMatch) -> Document:
    if header.kind is ir.HeaderMatchKind.PRESENT:
        return {}  # Istio reads an empty StringMatch as "the header is present"
    return {header.kind.value: header.value}


def _retries(retry: ir.Retry) -> Document:
    retries: Document = {"attempts": retry.attempts}
    if retry.per_try_timeout_ms is not None:
        retries["perTryTimeout"] = duration(retry.per_try_timeout_ms)
    if retry.on:
        retries["retryOn"] = ",".join(retry.on)
    return retries


def _fault(fault: ir.Fault) -> Document:
    converted: Document = {}
    if fault.delay is not None:
        converted["delay"] = {
            "fixedDelay": duration(fault.delay.duration_ms),
            "percentage": {"value": float(fault.delay.percent)},
        }
    if fault.abort is not None:
        converted["abort"] = {
            "httpStatus": fault.abort.status,
            "percentage": {"value": float(fault.abort.percent)},
        }
    return converted
