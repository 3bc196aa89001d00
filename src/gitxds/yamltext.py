"""The one YAML emitter of gitxds: ``render``, ``diff``, the Istio export and import and the rate limit
export all print YAML through it, so the same data always reads the same way.

Block style, keys in the order given, two-space indents with list items at their key's level, no
anchors or aliases, and no line wrapping (a long regex or header value stays on one line, which
keeps ``gitxds diff`` output comparable with ``gitxds render``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from ruamel.yaml import YAML

__all__ = ["yaml_documents", "yaml_text"]

_NO_WRAP = 1 << 16


def _emitter() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.width = _NO_WRAP
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.representer.ignore_aliases = lambda _data: True
    return yaml


def yaml_text(data: Any) -> str:
    """One YAML document."""
    out = io.StringIO()
    _emitter().dump(data, out)
    return out.getvalue()


def yaml_documents(documents: Iterable[Any]) -> str:
    """Several documents separated by ``---`` lines (none before the first)."""
    out = io.StringIO()
    _emitter().dump_all(list(documents), out)
    return out.getvalue()
