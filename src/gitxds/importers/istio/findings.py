"""What an Istio import could not carry over, reported per source object and field."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from gitxds.errors import Severity

__all__ = ["ImportFinding", "ImportReason", "ObjectReport", "Severity"]


class ImportReason(enum.StrEnum):
    UNSUPPORTED_FIELD = "UnsupportedField"
    UNKNOWN_FIELD = "UnknownField"
    INVALID_VALUE = "InvalidValue"
    UNSUPPORTED_KIND = "UnsupportedKind"
    UNRESOLVED_HOST = "UnresolvedHost"
    UNKNOWN_SUBSET = "UnknownSubset"
    APPROXIMATED = "Approximated"
    REFUSED = "Refused"


@dataclass(frozen=True, slots=True)
class ImportFinding:
    """``file`` and ``kind``/``name`` name the Istio object; ``path`` the field inside it."""

    file: str
    kind: str
    name: str
    path: str
    severity: Severity
    reason: ImportReason
    message: str

    def __str__(self) -> str:
        where = f" {self.path}:" if self.path else ":"
        return f"{self.file}: {self.kind}/{self.name}{where} {self.severity}: {self.reason}: {self.message}"


@dataclass
class ObjectReport:
    """Findings about one Istio object; an object with an error is refused, never half-imported."""

    file: str
    kind: str
    name: str
    items: list[ImportFinding] = field(default_factory=list)

    def error(self, path: str, reason: ImportReason, message: str) -> None:
        self.items.append(
            ImportFinding(self.file, self.kind, self.name, path, Severity.ERROR, reason, message)
        )

    def warn(self, path: str, reason: ImportReason, message: str) -> None:
        self.items.append(
            ImportFinding(self.file, self.kind, self.name, path, Severity.WARNING, reason, message)
        )

    @property
    def refused(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.items)

    def finish(self) -> list[ImportFinding]:
        """The findings, plus a closing line when the object was refused."""
        if self.refused:
            self.error("", ImportReason.REFUSED, "not imported: fix or remove the fields reported above")
        return self.items
