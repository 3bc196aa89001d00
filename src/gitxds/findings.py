"""What a conversion between gitxds and Istio could not carry over faithfully: one vocabulary for both
directions (``gitxds export istio`` and ``gitxds import istio``), printed the same way by both."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from gitxds.errors import Severity

__all__ = ["Finding", "FindingReason", "Findings", "Severity"]


class FindingReason(enum.StrEnum):
    """Stable codes, so scripts can allow or forbid a particular gap. Never rename one."""

    # Either direction
    APPROXIMATED = "Approximated"
    INVALID_VALUE = "InvalidValue"
    # gitxds -> Istio
    NO_ISTIO_EQUIVALENT = "NoIstioEquivalent"
    SECRET_NOT_EXPORTED = "SecretNotExported"
    NEEDS_MESH_CONFIG = "NeedsMeshConfig"
    # Istio -> gitxds
    UNSUPPORTED_FIELD = "UnsupportedField"
    UNKNOWN_FIELD = "UnknownField"
    UNSUPPORTED_KIND = "UnsupportedKind"
    UNRESOLVED_HOST = "UnresolvedHost"
    UNKNOWN_SUBSET = "UnknownSubset"
    REFUSED = "Refused"


@dataclass(frozen=True, slots=True)
class Finding:
    """``kind``/``name`` name the object the finding is about (a gitxds object on export, an Istio object
    on import), ``path`` the field inside it, ``file`` the file it was read from (import only)."""

    kind: str
    name: str
    path: str
    severity: Severity
    reason: FindingReason
    message: str
    file: str = ""

    def __str__(self) -> str:
        source = f"{self.file}: " if self.file else ""
        where = f" {self.path}:" if self.path else ":"
        return f"{source}{self.kind}/{self.name}{where} {self.severity}: {self.reason}: {self.message}"


@dataclass
class Findings:
    """Collects findings while one export runs; owned by that run."""

    items: list[Finding] = field(default_factory=list)

    def warn(self, kind: str, name: str, path: str, reason: FindingReason, message: str) -> None:
        self.items.append(Finding(kind, name, path, Severity.WARNING, reason, message))

    def error(self, kind: str, name: str, path: str, reason: FindingReason, message: str) -> None:
        self.items.append(Finding(kind, name, path, Severity.ERROR, reason, message))

    def sorted(self) -> list[Finding]:
        return sorted(set(self.items), key=lambda f: (f.kind, f.name, f.path, f.reason.value, f.message))
