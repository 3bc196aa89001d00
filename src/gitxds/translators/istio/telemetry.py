"""Gateway access logs -> Istio Telemetry (telemetry.istio.io/v1) on the gateway pods.

Text logs use Istio's built-in ``envoy`` provider (Envoy's default line to stdout). JSON logs need a
file access log provider in meshConfig with the same fields gitxds logs over xDS.
"""

from __future__ import annotations

from collections.abc import Mapping

from gitxds import ir
from gitxds.translators.istio.findings import FindingReason, Findings
from gitxds.translators.istio.values import Document, metadata
from gitxds.translators.xds.listeners import JSON_ACCESS_LOG_FIELDS

__all__ = ["API_TELEMETRY", "JSON_LOG_PROVIDER", "access_log_provider", "telemetry"]

API_TELEMETRY = "telemetry.istio.io/v1"
JSON_LOG_PROVIDER = "gitxds-json-access-log"
_TEXT_LOG_PROVIDER = "envoy"  # built into Istio: Envoy's default format to stdout
# gitxds tags its own clusters with the Backend name; Istio's clusters carry no such metadata.
_ISTIO_LESS_FIELDS = ("backend",)


def telemetry(gw: ir.Gateway, namespace: str, selector: Mapping[str, str], findings: Findings) -> Document:
    assert gw.access_log is not None
    provider = _TEXT_LOG_PROVIDER
    if gw.access_log is ir.AccessLogFormat.JSON:
        provider = JSON_LOG_PROVIDER
        findings.warn(
            "Gateway",
            gw.name,
            "spec.accessLog",
            FindingReason.NEEDS_MESH_CONFIG,
            f'JSON access logs need the provider "{JSON_LOG_PROVIDER}" printed at the top of the export '
            "in meshConfig.extensionProviders (its lines have no backend field: Istio clusters carry no "
            "gitxds Backend name)",
        )
    return {
        "apiVersion": API_TELEMETRY,
        "kind": "Telemetry",
        "metadata": metadata(f"gitxds-access-log-{gw.name}", namespace),
        "spec": {
            "selector": {"matchLabels": dict(selector)},
            "accessLogging": [{"providers": [{"name": provider}]}],
        },
    }


def access_log_provider() -> Document:
    """The meshConfig.extensionProviders entry for JSON access logs."""
    labels = {key: value for key, value in JSON_ACCESS_LOG_FIELDS.items() if key not in _ISTIO_LESS_FIELDS}
    return {
        "name": JSON_LOG_PROVIDER,
        "envoyFileAccessLog": {"path": "/dev/stdout", "logFormat": {"labels": labels}},
    }
