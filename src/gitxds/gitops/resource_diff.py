"""Which Envoy resources a config change adds, removes or modifies, per gateway and type."""

from __future__ import annotations

import difflib
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitxds import typeurls
from gitxds.translators.xds import document_for
from gitxds.xds.cache import resource_name
from gitxds.yamltext import yaml_text


class ChangeKind(enum.StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"


@dataclass(frozen=True, slots=True)
class ResourceChange:
    gateway: str
    type_url: str
    name: str
    kind: ChangeKind
    unified_diff: str  # a readable field-level diff of the resource as YAML

    @property
    def type_name(self) -> str:
        return typeurls.SHORT_NAMES.get(self.type_url, self.type_url)


Resources = Mapping[str, Sequence[Any]]  # type URL -> messages, as the translator returns them


def _to_yaml(message: Any) -> str:
    """The resource as ``gitxds render`` shows it, so a diff reads like the rendered config."""
    return yaml_text(document_for(message))


def diff_gateway(gateway: str, base: Resources, head: Resources) -> list[ResourceChange]:
    changes: list[ResourceChange] = []
    for type_url in typeurls.PUSH_ORDER:
        old = {resource_name(type_url, m): m for m in base.get(type_url, ())}
        new = {resource_name(type_url, m): m for m in head.get(type_url, ())}
        for name in sorted(old.keys() | new.keys()):
            before, after = old.get(name), new.get(name)
            if before is not None and after is not None and before == after:
                continue
            kind = (
                ChangeKind.ADDED
                if before is None
                else ChangeKind.REMOVED
                if after is None
                else ChangeKind.MODIFIED
            )
            text = difflib.unified_diff(
                _to_yaml(before).splitlines() if before is not None else [],
                _to_yaml(after).splitlines() if after is not None else [],
                fromfile=f"base/{name}",
                tofile=f"head/{name}",
                lineterm="",
            )
            changes.append(ResourceChange(gateway, type_url, name, kind, "\n".join(text)))
    return changes


def diff_all(base: Mapping[str, Resources], head: Mapping[str, Resources]) -> list[ResourceChange]:
    """Compare per-gateway resources; a gateway only on one side shows all its resources added/removed."""
    changes: list[ResourceChange] = []
    for gateway in sorted(base.keys() | head.keys()):
        changes.extend(diff_gateway(gateway, base.get(gateway, {}), head.get(gateway, {})))
    return changes
