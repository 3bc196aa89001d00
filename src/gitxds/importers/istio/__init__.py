"""Istio networking YAML (Gateway, VirtualService, DestinationRule, ServiceEntry) -> gitxds config.

An object with a field gitxds cannot express is refused as a whole, with a finding per field;
nothing is dropped silently.
"""

from gitxds.findings import Finding, FindingReason
from gitxds.importers.istio.importer import ImportResult, SourceDocument, import_istio
from gitxds.importers.istio.writer import render_files

__all__ = ["Finding", "FindingReason", "ImportResult", "SourceDocument", "import_istio", "render_files"]
