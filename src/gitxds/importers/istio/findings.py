"""The findings about one Istio object while it is imported (the vocabulary is :mod:`gitxds.findings`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gitxds.findings import Finding, FindingReason, Severity

__all__ = ["ObjectReport"]


@dataclass
class ObjectReport:
    """Findings about one Istio object; an object with an error is refused, never half-imported."""

    file: str
    kind: str
    name: str
    items: list[Finding] = field(default_factory=list)

    def error(self, path: str, reason: FindingReason, message: str) -> None:
        self.items.append(self.finding(path, Severity.ERROR, reason, message))

    def warn(self, path: str, reason: FindingReason, message: str) -> None:
        self.items.append(self.finding(path, Severity.WARNING, reason, message))

    def finding(self, path: str, severity: Severity, reason: FindingReason, message: str) -> Finding:
        return Finding(self.kind, self.name, path, severity, reason, message, file=self.file)

    @property
    def refused(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.items)

    def finish(self) -> list[Finding]:
        """The findings, plus a closing line when the object was refused."""
        if self.refused:
            self.error("", FindingReason.REFUSED, "not imported: fix or remove the fields reported above")
        return self.items
