"""Name resolution between documents, with messages that list the names that do exist."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from gitxds.config import Document
from gitxds.config.yamlread import FieldPath
from gitxds.errors import Diagnostic, Reason

__all__ = ["References"]

_UNKNOWN_REASONS = {
    "Backend": Reason.UNKNOWN_BACKEND,
    "Gateway": Reason.UNKNOWN_GATEWAY,
    "RateLimitPolicy": Reason.UNKNOWN_RATE_LIMIT_POLICY,
    "AuthPolicy": Reason.UNKNOWN_AUTH_POLICY,
    "Route": Reason.UNKNOWN_ROUTE,
}
_MAX_LISTED = 10


@dataclass
class References:
    """Names that compiled per kind, and names that exist but were dropped (one compile run)."""

    available: dict[str, set[str]] = field(default_factory=dict)
    dropped: dict[str, set[str]] = field(default_factory=dict)
    # (kind, name) of every lookup since ``looked_up`` was last reset: what a compile depended on
    looked_up: list[tuple[str, str]] = field(default_factory=list)

    def add(self, kind: str, name: str) -> None:
        self.available.setdefault(kind, set()).add(name)

    def drop(self, kind: str, name: str) -> None:
        self.available.get(kind, set()).discard(name)
        self.dropped.setdefault(kind, set()).add(name)

    def forget(self, kind: str, name: str) -> None:
        self.available.get(kind, set()).discard(name)
        self.dropped.get(kind, set()).discard(name)

    def check(self, document: Document, path: FieldPath, kind: str, name: str) -> Diagnostic | None:
        """``None`` when ``name`` resolves, else the diagnostic to report at ``path``."""
        self.looked_up.append((kind, name))
        known = self.available.get(kind, set())
        if name in known:
            return None
        if name in self.dropped.get(kind, set()):
            message = f'{kind} "{name}" was left out because of its own problems (reported there)'
            return document.diagnostic(path, Reason.DEPENDENCY_DROPPED, message)
        message = f'no {kind} named "{name}" (known: {_listing(known)})'
        return document.diagnostic(path, _UNKNOWN_REASONS[kind], message)

    def resolves(self, kind: str, name: str) -> bool:
        return name in self.available.get(kind, ())

    def check_all(self, document: Document, refs: Iterable[tuple[FieldPath, str, str]]) -> list[Diagnostic]:
        found = (self.check(document, path, kind, name) for path, kind, name in refs)
        return [diagnostic for diagnostic in found if diagnostic is not None]


def _listing(names: set[str]) -> str:
    if not names:
        return "none"
    ordered = sorted(names)
    more = f", and {len(ordered) - _MAX_LISTED} more" if len(ordered) > _MAX_LISTED else ""
    return ", ".join(ordered[:_MAX_LISTED]) + more
