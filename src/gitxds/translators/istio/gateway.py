"""Gateway -> Istio networking Gateway: one server per listener, hosts taken from attached routes."""

from __future__ import annotations

from collections.abc import Mapping

from gitxds import ir
from gitxds.findings import FindingReason, Findings
from gitxds.translators.istio.values import API_NETWORKING, Document, metadata

__all__ = ["DEFAULT_GATEWAY_SELECTOR", "gateway"]

DEFAULT_GATEWAY_SELECTOR: Mapping[str, str] = {"istio": "ingressgateway"}


def gateway(
    gw: ir.Gateway,
    model: ir.Model,
    namespace: str,
    selector: Mapping[str, str] | None,
    findings: Findings,
) -> Document:
    """``selector`` picks the Istio gateway pods; None means the default, reported as a guess."""
    if selector is None:
        findings.warn(
            "Gateway",
            gw.name,
            "spec.proxies",
            FindingReason.APPROXIMATED,
            "Istio picks gateway pods by label, not by Envoy node cluster or id; exported with the selector "
            "istio=ingressgateway (choose another with --gateway-selector)",
        )
    if gw.proxies.identities:
        findings.warn(
            "Gateway",
            gw.name,
            "spec.proxies.identities",
            FindingReason.NEEDS_MESH_CONFIG,
            "Istio authenticates each gateway pod by its workload certificate "
            "(spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT); run the gateway pods under the service "
            f"account these identities name: {', '.join(sorted(gw.proxies.identities))}",
        )
    hosts = _hosts(model.routes_for(gw.name))
    servers = [_server(listener, hosts) for listener in gw.listeners]
    return {
        "apiVersion": API_NETWORKING,
        "kind": "Gateway",
        "metadata": metadata(gw.name, namespace),
        "spec": {"selector": dict(selector or DEFAULT_GATEWAY_SELECTOR), "servers": servers},
    }


def _hosts(routes: tuple[ir.Route, ...]) -> list[str]:
    if not routes or any(not r.hostnames for r in routes):
        return ["*"]
    return sorted({host for r in routes for host in r.hostnames})


def _server(listener: ir.Listener, hosts: list[str]) -> Document:
    server: Document = {
        "port": {"number": listener.port, "name": listener.name, "protocol": listener.protocol.value},
        "hosts": list(hosts),
    }
    if listener.address != "0.0.0.0":
        server["bind"] = listener.address
    if listener.protocol is ir.ListenerProtocol.HTTPS:
        server["tls"] = {"mode": "SIMPLE", "credentialName": listener.tls_secret}
    return server
