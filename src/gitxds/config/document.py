"""What loading produces: validated documents, problems found, and documents that were rejected."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gitxds.config.schema import ConfigObject
from gitxds.config.yamlread import FieldPath, format_path
from gitxds.errors import Diagnostic, Reason, Severity

__all__ = ["Document", "FileResult", "Issue", "LoadedConfig", "Rejected", "did_you_mean", "line_of"]


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem inside one document, before it is tied to a file and line."""

    path: FieldPath
    reason: Reason
    message: str


@dataclass(frozen=True)
class Document:
    """One valid object: its kind and name, where it came from, the validated model, field lines."""

    kind: str
    name: str
    file: str
    line: int
    obj: ConfigObject
    lines: Mapping[FieldPath, int] = field(default_factory=dict, compare=False, repr=False)

    def line_of(self, path: FieldPath) -> int:
        return line_of(self.lines, path, self.line)

    def diagnostic(
        self, path: FieldPath, reason: Reason, message: str, severity: Severity = Severity.ERROR
    ) -> Diagnostic:
        return Diagnostic(self.file, self.line_of(path), format_path(path), reason, message, severity)


def line_of(lines: Mapping[FieldPath, int], path: FieldPath, default: int) -> int:
    """Line of ``path``, or of its closest written ancestor, or ``default`` (the document's line)."""
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return default


@dataclass(frozen=True, slots=True)
class Rejected:
    """A document that failed validation; ``name`` is empty when it could not be read."""

    kind: str
    name: str
    file: str
    line: int
    reason: Reason


@dataclass(frozen=True)
class FileResult:
    """Everything one file contributes; a pure function of (relative path, text)."""

    file: str
    documents: tuple[Document, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    rejected: tuple[Rejected, ...] = ()


@dataclass(frozen=True)
class LoadedConfig:
    documents: tuple[Document, ...]
    diagnostics: tuple[Diagnostic, ...]
    rejected: tuple[Rejected, ...] = ()
    files: tuple[str, ...] = ()


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean "x"?)`` for a close match, else ``""``."""
    choices = list(known)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.7)
    if not close:
        lowered = {choice.lower(): choice for choice in choices}
        close = [lowered[word.lower()]] if word.lower() in lowered else []
    return f' (did you mean "{close[0]}"?)' if close else ""
