"""gitxds config documents -> YAML files, one per kind (gateways.yaml, backends.yaml, routes.yaml)."""

from __future__ import annotations

from typing import Any

from gitxds.yamltext import yaml_documents

__all__ = ["render_files"]

_FILES = {"Gateway": "gateways.yaml", "Backend": "backends.yaml", "Route": "routes.yaml"}


def render_files(documents: list[dict[str, Any]], sources: list[str]) -> dict[str, str]:
    """File name -> text; a file per kind that has documents."""
    header = "# Imported from Istio by gitxds import istio: " + ", ".join(sources) + "\n"
    files = {}
    for kind, filename in _FILES.items():
        of_kind = [d for d in documents if d["kind"] == kind]
        if of_kind:
            files[filename] = header + yaml_documents(of_kind)
    return files
