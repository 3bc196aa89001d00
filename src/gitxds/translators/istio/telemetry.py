"""Gateway access logs and tracing -> one Istio Telemetry (telemetry.istio.io/v1) on the gateway pods.

Text logs use Istio's built-in ``envoy`` provider (Envoy's default line to stdout). JSON logs need a
file access log provider in meshConfig with the same fields gitxds logs over xDS. Tracing needs an
``opentelemetry`` provider in meshConfig pointing at the collector Backend's host and port.
"""

from __future__ import annotations

from collections.abc import Mapping

from gitxds import ir
from gitxds.findings import FindingReason, Findings
from gitxds.translators.istio.hosts import Placement
from gitxds.translators.istio.values import Document, metadata
from gitxds.translators.xds.listeners import JSON_ACCESS_LOG_FIELDS
from gitxds.translators.xds.tracing import GATEWAY_ATTRIBUTE

__all__ = [
    "API_TELEMETRY",
    "JSON_LOG_PROVIDER",
    "access_log_provider",
    "telemetry",
    "tracing_provider",
    "tracing_provider_name",
]

API_TELEMETRY = "telemetry.istio.io/v1"
JSON_LOG_PROVIDER = "gitxds-json-access-log"
_TEXT_LOG_PROVIDER = "envoy"  # built into Istio: Envoy's default format to stdout
# gitxds tags its own clusters with the Backend name; Istio's clusters carry no such metadata.
_ISTIO_LESS_FIELDS = ("backend",)


def telemetry(gw: ir.Gateway, namespace: str, selector: Mapping[str, str], findings: Findings) -> Document:
    """The gateway's access logging and tracing (at least one of them is set)."""
    spec: Document = {"selector": {"matchLabels": dict(selector)}}
    if gw.access_log is not None:
        spec["accessLogging"] = [{"providers": [{"name": _access_log_provider_name(gw, findings)}]}]
    if gw.tracing is not None:
        spec["tracing"] = [_tracing(gw, gw.tracing, findings)]
    return {
        "apiVersion": API_TELEMETRY,
        "kind": "Telemetry",
        "metadata": metadata(f"gitxds-telemetry-{gw.name}", namespace),
        "spec": spec,
    }


def _access_log_provider_name(gw: ir.Gateway, findings: Findings) -> str:
    if gw.access_log is not ir.AccessLogFormat.JSON:
        return _TEXT_LOG_PROVIDER
    findings.warn(
        "Gateway",
        gw.name,
        "spec.accessLog",
        FindingReason.NEEDS_MESH_CONFIG,
        f'JSON access logs need the provider "{JSON_LOG_PROVIDER}" printed at the top of the export '
        "in meshConfig.extensionProviders (its lines have no backend field: Istio clusters carry no "
        "gitxds Backend name)",
    )
    return JSON_LOG_PROVIDER


def tracing_provider_name(collector: str) -> str:
    return f"gitxds-tracing-{collector}"


def _tracing(gw: ir.Gateway, tracing: ir.Tracing, findings: Findings) -> Document:
    where = "spec.tracing"
    findings.warn(
        "Gateway",
        gw.name,
        f"{where}.collector",
        FindingReason.NEEDS_MESH_CONFIG,
        f'tracing needs the provider "{tracing_provider_name(tracing.collector)}" printed at the top of '
        "the export in meshConfig.extensionProviders",
    )
    findings.warn(
        "Gateway",
        gw.name,
        f"{where}.serviceName",
        FindingReason.APPROXIMATED,
        "Istio names the spans' service after the gateway workload (its service.istio.io/canonical-name "
        f'label), not after tracing.serviceName "{tracing.service_name}": set that label on the pods',
    )
    findings.warn(
        "Gateway",
        gw.name,
        where,
        FindingReason.NO_ISTIO_EQUIVALENT,
        "Istio's custom tags apply to a whole workload and cannot read the answering endpoint: spans carry "
        "no route rule, answering backend, attempt count, fallback chain, key tier or requested model",
    )
    findings.warn(
        "Gateway",
        gw.name,
        f"{where}.samplingPercent",
        FindingReason.APPROXIMATED,
        "Istio sets only Envoy's random sampling: a request that arrives with a sampled traceparent is "
        "sampled again at randomSamplingPercentage instead of always kept",
    )
    return {
        "providers": [{"name": tracing_provider_name(tracing.collector)}],
        "randomSamplingPercentage": tracing.sampling_percent,
        "customTags": {GATEWAY_ATTRIBUTE: {"literal": {"value": gw.name}}},
    }


def tracing_provider(collector: str, placement: Placement) -> Document:
    """The meshConfig.extensionProviders entry for the tracing collector (OTLP over gRPC)."""
    return {
        "name": tracing_provider_name(collector),
        "opentelemetry": {"service": placement.host, "port": placement.port},
    }


def access_log_provider() -> Document:
    """The meshConfig.extensionProviders entry for JSON access logs."""
    labels = {key: value for key, value in JSON_ACCESS_LOG_FIELDS.items() if key not in _ISTIO_LESS_FIELDS}
    return {
        "name": JSON_LOG_PROVIDER,
        "envoyFileAccessLog": {"path": "/dev/stdout", "logFormat": {"labels": labels}},
    }
