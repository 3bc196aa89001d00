"""What the Istio export could not carry over faithfully, reported per object and field."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from gitxds.errors import Severity

__all__ = ["Finding", "FindingReason", "Findings", "Severity"]


class FindingReason(enum.StrEnum):
    """Stable codes, so scripts can allow or forbid a particular gap."""

    NO_ISTIO_EQUIVALENT = "NoIstioEquivalent"
    APPROXIMATED = "Approximated"
    SECRET_NOT_EXPORTED = "SecretNotExported"
    NEEDS_MESH_CONFIG = "NeedsMeshConfig"


@dataclass(frozen=True, slots=True)
class Finding:
    """``kind``/``name`` name the gitxds object; ``path`` the field inside it (``spec.rules[0].fallback``)."""

    kind: str
    name: str
    path: str
    severity: Severity
    reason: FindingReason
    message: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} {self.path}: {self.severity}: {self.reason}: {self.message}"


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
