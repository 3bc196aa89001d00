"""AuthPolicy (external authorization) -> AuthorizationPolicy with action CUSTOM + a meshConfig provider."""

from __future__ import annotations

from collections.abc import Mapping

from gitxds import ir
from gitxds.findings import FindingReason, Findings
from gitxds.translators.istio.hosts import Placement
from gitxds.translators.istio.values import API_SECURITY, Document, duration, metadata

__all__ = ["RuleUse", "authorization_policy", "extension_provider"]

RuleUse = tuple[ir.Route, int, ir.Rule]


def authorization_policy(
    policy: ir.AuthPolicy,
    uses: list[RuleUse],
    namespace: str,
    selector: Mapping[str, str],
    findings: Findings,
) -> Document:
    """Sends the requests of every rule that uses ``policy`` to the provider named after it."""
    rules = [entry for route, index, rule in uses for entry in _rules(route, index, rule, findings)]
    return {
        "apiVersion": API_SECURITY,
        "kind": "AuthorizationPolicy",
        "metadata": metadata(policy.name, namespace),
        "spec": {
            "selector": {"matchLabels": dict(selector)},
            "action": "CUSTOM",
            "provider": {"name": policy.name},
            "rules": rules or [{}],
        },
    }


def extension_provider(policy: ir.AuthPolicy, authz: Placement, findings: Findings) -> Document:
    """The meshConfig.extensionProviders entry the AuthorizationPolicy's provider name refers to."""
    ext = policy.ext_authz
    findings.warn(
        "AuthPolicy",
        policy.name,
        "spec.extAuthz",
        FindingReason.NEEDS_MESH_CONFIG,
        f'Istio reads external authorization providers from meshConfig; add the provider "{policy.name}" '
        "printed at the top of the export to meshConfig.extensionProviders",
    )
    if ext.include_headers:
        findings.warn(
            "AuthPolicy",
            policy.name,
            "spec.extAuthz.includeHeaders",
            FindingReason.NO_ISTIO_EQUIVALENT,
            "Istio's gRPC authorization provider sends every request header, not only the listed ones",
        )
    return {
        "name": policy.name,
        "envoyExtAuthzGrpc": {
            "service": authz.host,
            "port": authz.port,
            "timeout": duration(ext.timeout_ms),
            "failOpen": ext.fail_open,
        },
    }


def _rules(route: ir.Route, index: int, rule: ir.Rule, findings: Findings) -> list[Document]:
    matches = rule.matches or (ir.Match(),)
    return [_rule(route, index, match, findings) for match in matches]


def _rule(route: ir.Route, index: int, match: ir.Match, findings: Findings) -> Document:
    operation: Document = {}
    if route.hostnames:
        operation["hosts"] = list(route.hostnames)
    if match.path is not None:
        if match.path.kind is ir.PathMatchKind.REGEX:
            _report_widened(route, index, "path", findings)
        else:
            suffix = "*" if match.path.kind is ir.PathMatchKind.PREFIX else ""
            operation["paths"] = [match.path.value + suffix]
    if match.methods:
        operation["methods"] = list(match.methods)
    conditions = [c for header in match.headers for c in _condition(route, index, header, findings)]
    entry: Document = {}
    if operation:
        entry["to"] = [{"operation": operation}]
    if conditions:
        entry["when"] = conditions
    return entry


def _condition(route: ir.Route, index: int, header: ir.HeaderMatch, findings: Findings) -> list[Document]:
    values = {
        ir.HeaderMatchKind.EXACT: header.value,
        ir.HeaderMatchKind.PREFIX: header.value + "*",
        ir.HeaderMatchKind.PRESENT: "*",
    }
    if header.kind not in values:
        _report_widened(route, index, f"header {header.name}", findings)
        return []
    return [
        {
            "key": f"request.headers[{header.name}]",
            ("notValues" if header.invert else "values"): [values[header.kind]],
        }
    ]


def _report_widened(route: ir.Route, index: int, what: str, findings: Findings) -> None:
    findings.warn(
        "Route",
        route.name,
        f"spec.rules[{index}].matches",
        FindingReason.APPROXIMATED,
        f"an AuthorizationPolicy cannot match a {what} regex; authorization is required on more requests "
        "than the rule matches",
    )
