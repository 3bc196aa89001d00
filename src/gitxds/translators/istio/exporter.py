"""ir.Model -> Istio documents, in a stable order, with a finding for everything not carried over."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gitxds import ir
from gitxds.findings import Finding, FindingReason, Findings
from gitxds.translators.istio.ai import report_ai_fields
from gitxds.translators.istio.authz import RuleUse, authorization_policy, extension_provider
from gitxds.translators.istio.destinationrule import destination_rule, service_entry
from gitxds.translators.istio.gateway import DEFAULT_GATEWAY_SELECTOR, gateway
from gitxds.translators.istio.hosts import BackendGroup, Placement, group_backends
from gitxds.translators.istio.ratelimit import RouteUse, rate_limit_filter
from gitxds.translators.istio.routepatches import health_check_filter, streaming_filter
from gitxds.translators.istio.telemetry import access_log_provider, telemetry, tracing_provider
from gitxds.translators.istio.values import Document
from gitxds.translators.istio.virtualservice import http_route_name, virtual_service

__all__ = ["KIND_ORDER", "ExportResult", "export"]

KIND_ORDER = (
    "Gateway",
    "ServiceEntry",
    "DestinationRule",
    "VirtualService",
    "AuthorizationPolicy",
    "EnvoyFilter",
    "Telemetry",
)


@dataclass(frozen=True)
class ExportResult:
    """``mesh_config`` is the meshConfig fragment the documents rely on (empty when none is needed)."""

    documents: list[Document]
    findings: list[Finding]
    mesh_config: Document = field(default_factory=dict)


def export(
    model: ir.Model, namespace: str = "default", gateway_selector: Mapping[str, str] | None = None
) -> ExportResult:
    """Istio equivalents of ``model``; ``gateway_selector`` labels the Istio gateway pods to configure."""
    findings = Findings()
    all_groups = group_backends(model.backends)
    placements = {b.name: g.placement(b) for g in all_groups for b in g.backends}
    groups = _one_group_per_host(all_groups, findings)
    selector = gateway_selector or DEFAULT_GATEWAY_SELECTOR
    rate_uses, auth_uses = _policy_uses(model)
    report_ai_fields(model, findings)
    documents = [gateway(gw, model, namespace, gateway_selector, findings) for gw in model.gateways]
    documents += [
        service_entry(g, namespace)
        for g in groups
        if not isinstance(g.backends[0].endpoints, ir.KubernetesEndpoints)
    ]
    documents += [destination_rule(g, namespace, findings) for g in groups]
    named_rules = frozenset(
        rule.name for _, _, rule in _rules(model) if rule.rate_limit is not None or rule.streaming is not None
    )
    documents += [
        virtual_service(r, model, placements, namespace, named_rules=named_rules, findings=findings)
        for r in model.routes
    ]
    documents += [
        authorization_policy(model.auth_policy(name), uses, namespace, selector, findings)
        for name, uses in auth_uses.items()
    ]
    documents += _rate_limit_filters(
        model, rate_uses, namespace=namespace, selector=selector, placements=placements, findings=findings
    )
    documents += _route_and_cluster_patches(model, groups, namespace, selector)
    observed = [gw for gw in model.gateways if gw.access_log is not None or gw.tracing is not None]
    documents += [telemetry(gw, namespace, selector, findings) for gw in observed]
    providers = _extension_providers(model, auth_uses, placements, findings)
    _rollout_findings(model, findings)
    if any(gw.access_log is ir.AccessLogFormat.JSON for gw in observed):
        providers.append(access_log_provider())
    collectors = sorted({gw.tracing.collector for gw in observed if gw.tracing is not None})
    providers += [tracing_provider(name, placements[name]) for name in collectors]
    return ExportResult(
        documents=sorted(documents, key=_document_order),
        findings=findings.sorted(),
        mesh_config={"extensionProviders": providers} if providers else {},
    )


def _rollout_findings(model: ir.Model, findings: Findings) -> None:
    for policy in model.rollout_policies:
        findings.warn(
            "RolloutPolicy",
            policy.name,
            "spec",
            FindingReason.NO_ISTIO_EQUIVALENT,
            "Istio serves the weights Git declares at once; the steps, analysis and "
            f"onFailure: {policy.on_failure} are run by gitxds serve only",
        )


def _route_and_cluster_patches(
    model: ir.Model, groups: list[BackendGroup], namespace: str, selector: Mapping[str, str]
) -> list[Document]:
    streams = [
        (http_route_name(route, rule), rule.streaming)
        for route, _, rule in _rules(model)
        if rule.streaming is not None
    ]
    documents = [streaming_filter(streams, namespace, selector)] if streams else []
    if any(b.health_check is not None for g in groups for b in g.backends):
        documents.append(health_check_filter(groups, namespace, selector))
    return documents


def _one_group_per_host(groups: tuple[BackendGroup, ...], findings: Findings) -> list[BackendGroup]:
    """Istio keeps one ServiceEntry and DestinationRule per host: later backends on a taken host are
    exported as destinations of the first one, and reported."""
    owners: dict[str, BackendGroup] = {}
    for group in groups:
        owner = owners.setdefault(group.host, group)
        if owner is group:
            continue
        for backend in group.backends:
            findings.error(
                "Backend",
                backend.name,
                "spec",
                FindingReason.NO_ISTIO_EQUIVALENT,
                f"Backend {owner.backends[0].name} already uses host {group.host}; Istio has one "
                "ServiceEntry and DestinationRule per host, so this backend's settings are not exported",
            )
    return list(owners.values())


def _document_order(document: Document) -> tuple[int, str]:
    return KIND_ORDER.index(document["kind"]), document["metadata"]["name"]


def _rules(model: ir.Model) -> list[RuleUse]:
    return [(route, index, rule) for route in model.routes for index, rule in enumerate(route.rules)]


def _policy_uses(model: ir.Model) -> tuple[list[RouteUse], dict[str, list[RuleUse]]]:
    rate_uses: list[RouteUse] = []
    auth_uses: dict[str, list[RuleUse]] = {}
    for route, index, rule in _rules(model):
        if rule.rate_limit is not None:
            rate_uses.append((http_route_name(route, rule), model.rate_limit_policy(rule.rate_limit)))
        if rule.auth is not None:
            auth_uses.setdefault(rule.auth, []).append((route, index, rule))
    return rate_uses, dict(sorted(auth_uses.items()))


def _rate_limit_filters(
    model: ir.Model,
    rate_uses: list[RouteUse],
    *,
    namespace: str,
    selector: Mapping[str, str],
    placements: Mapping[str, Placement],
    findings: Findings,
) -> list[Document]:
    filters = []
    for policy in model.rate_limit_policies:
        routes = [name for name, used in rate_uses if used == policy]
        if not routes:
            continue
        if policy.mode is ir.RateLimitMode.LOCAL and len(routes) > 1:
            findings.warn(
                "RateLimitPolicy",
                policy.name,
                "spec.limits",
                FindingReason.APPROXIMATED,
                f"in Istio, Envoy keeps local buckets per route: each of the {len(routes)} rules using this "
                "policy allows the full rate on its own (gitxds shares one bucket per key across them)",
            )
        filters.append(rate_limit_filter(policy, routes, namespace, selector, placements))
    return filters


def _extension_providers(
    model: ir.Model,
    auth_uses: Mapping[str, list[RuleUse]],
    placements: Mapping[str, Placement],
    findings: Findings,
) -> list[Document]:
    return [
        extension_provider(policy, placements[policy.ext_authz.backend], findings)
        for policy in model.auth_policies
        if policy.name in auth_uses
    ]
