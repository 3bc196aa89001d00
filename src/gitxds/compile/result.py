"""What compiling produces: the model of everything that compiled, diagnostics and dropped objects."""

from __future__ import annotations

from dataclasses import dataclass

from gitxds import ir
from gitxds.errors import Diagnostic, Reason

__all__ = ["CompileResult", "Dropped"]


@dataclass(frozen=True, slots=True)
class Dropped:
    """An object left out of the model, and the reason of its first problem."""

    kind: str
    name: str
    file: str
    reason: Reason


@dataclass(frozen=True)
class CompileResult:
    model: ir.Model
    diagnostics: tuple[Diagnostic, ...]
    dropped: tuple[Dropped, ...]

    @property
    def ok(self) -> bool:
        return not self.diagnostics
