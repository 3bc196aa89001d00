"""Round trips: an imported Istio sample exports back to the same meaning, and export is a fixed point
of import-then-export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitxds.compile import compile_directory
from gitxds.errors import Severity
from gitxds.importers.istio import SourceDocument, import_istio, render_files
from gitxds.translators.istio import ExportResult, export

from .crd_validator import SAMPLES_DIR, load_documents
from .golden_cases import GOLDEN_DIR, case_names
from .semantics import destination_rule_meaning, virtual_service_meaning

GATEWAY = "edge"
GATEWAY_DOC = f"""apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {{name: {GATEWAY}}}
spec:
  proxies: {{cluster: {GATEWAY}}}
  listeners: [{{name: http, port: 10000}}]
"""

# Sample sets that import without errors: the bookinfo routes come with the bookinfo DestinationRules.
IMPORTABLE = [
    ["destination-rule-all.yaml", "virtual-service-reviews-90-10.yaml"],
    ["destination-rule-all.yaml", "virtual-service-reviews-jason-v2-v3.yaml"],
    ["destination-rule-all.yaml", "virtual-service-ratings-test-delay.yaml"],
    ["destination-rule-all.yaml", "virtual-service-ratings-test-abort.yaml"],
    ["fault-injection-details-v1.yaml"],
    ["destination-rule-reviews.yaml"],
    ["api-proto-vs-timeout.yaml"],
]


def _import_and_compile(
    sources: list[SourceDocument], directory: Path, namespace: str = "default"
) -> ExportResult:
    result = import_istio(sources, namespace=namespace, gateway=GATEWAY)
    assert [f for f in result.findings if f.severity is Severity.ERROR] == []
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in render_files(result.documents, ["test"]).items():
        (directory / name).write_text(text)
    (directory / "gateway.yaml").write_text(GATEWAY_DOC)
    compiled = compile_directory(directory)
    assert [str(d) for d in compiled.diagnostics] == []
    return export(compiled.model, namespace=namespace)


def _by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind]


@pytest.mark.parametrize("files", IMPORTABLE, ids=lambda files: files[-1])
def test_imported_sample_exports_to_the_same_meaning(files: list[str], tmp_path: Path) -> None:
    samples = [doc for name in files for doc in load_documents(SAMPLES_DIR / name)]
    exported = _import_and_compile([SourceDocument("sample", d) for d in samples], tmp_path).documents

    ignore = frozenset({GATEWAY})
    expected_routes = {
        d["metadata"]["name"]: virtual_service_meaning(d, ignore) for d in _by_kind(samples, "VirtualService")
    }
    actual_routes = {
        d["metadata"]["name"]: virtual_service_meaning(d, ignore)
        for d in _by_kind(exported, "VirtualService")
    }
    assert actual_routes == expected_routes

    actual_rules: dict[str, Any] = {}
    for document in _by_kind(exported, "DestinationRule"):
        actual_rules.update(destination_rule_meaning(document))
    for document in _by_kind(samples, "DestinationRule"):
        for host, subsets in destination_rule_meaning(document).items():
            assert actual_rules[host] == subsets, host


@pytest.mark.parametrize("case", case_names())
def test_export_is_stable_under_import_and_export(case: str, tmp_path: Path) -> None:
    compiled = compile_directory(GOLDEN_DIR / case / "in")
    first = export(compiled.model, namespace="gitxds").documents
    importable = _importable(first)
    second = _reexport([SourceDocument("export", d) for d in importable], tmp_path)
    assert _without_route_names(_importable(second)) == _without_route_names(importable)


def _reexport(sources: list[SourceDocument], directory: Path) -> list[dict[str, Any]]:
    result = import_istio(sources, namespace="gitxds")
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in render_files(result.documents, ["export"]).items():
        (directory / name).write_text(text)
    compiled = compile_directory(directory)
    assert [str(d) for d in compiled.diagnostics] == []
    return export(compiled.model, namespace="gitxds").documents


def _importable(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        d for d in documents if d["kind"] in ("Gateway", "ServiceEntry", "DestinationRule", "VirtualService")
    ]


def _without_route_names(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without the ``<route>-<index>`` names given to unnamed rules only to hook rate-limit
    EnvoyFilters, which import does not read; names of named rules stay and must survive."""
    stripped = []
    for document in documents:
        if document["kind"] != "VirtualService":
            stripped.append(document)
            continue
        route = document["metadata"]["name"]
        http = [
            {k: v for k, v in h.items() if not (k == "name" and v == f"{route}-{index}")}
            for index, h in enumerate(document["spec"]["http"])
        ]
        stripped.append({**document, "spec": {**document["spec"], "http": http}})
    return stripped
