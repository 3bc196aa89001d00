"""gitxds config documents -> YAML files, one per kind (gateways.yaml, backends.yaml, routes.yaml)."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML

__all__ = ["render_files"]

_FILES = {"Gateway": "gateways.yaml", "Backend": "backends.yaml", "Route": "routes.yaml"}


def _no_aliases(*_: Any) -> bool:
    return True


def render_files(documents: list[dict[str, Any]], sources: list[str]) -> dict[str, str]:
    """File name -> text; a file per kind that has documents."""
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.representer.ignore_aliases = _no_aliases
    header = "# Imported from Istio by gitxds import istio: " + ", ".join(sources) + "\n"
    files = {}
    for kind, filename in _FILES.items():
        of_kind = [d for d in documents if d["kind"] == kind]
        if of_kind:
            out = io.StringIO()
            yaml.dump_all(of_kind, out)
            files[filename] = header + out.getvalue()
    return files
