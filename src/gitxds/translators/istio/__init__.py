"""ir.Model -> Istio YAML documents (VirtualService, DestinationRule, ServiceEntry, Gateway,
AuthorizationPolicy, EnvoyFilter), with a :class:`Finding` for every gitxds field Istio cannot express."""

from gitxds.findings import Finding, FindingReason
from gitxds.translators.istio.exporter import KIND_ORDER, ExportResult, export
from gitxds.translators.istio.gateway import DEFAULT_GATEWAY_SELECTOR

__all__ = ["DEFAULT_GATEWAY_SELECTOR", "KIND_ORDER", "ExportResult", "Finding", "FindingReason", "export"]
