"""Incremental compile: a document compiles again only when it, or something it refers to, changed.

The choice is a memo keyed by the immutable input values rather than a dependency graph kept up to
date across edits. The loader hands back the very same ``Document`` object for every document of a
file that did not change, so "same input" is an identity check. Everything else one document's
compile reads is recorded while it runs: the names it looked up (``References.looked_up``) and its
context (for a route, the Gateway values it is bound to). An entry is reused only when the document
is the same object, every name it looked up still resolves and its context is equal, so a changed
Backend recompiles only the routes naming it, and a removed one turns them into UnknownBackend.

Only successful compiles are kept: a failure's message lists the names that do exist, which depends
on every document of that kind, so failures (few, and never served) always compile again. A miss only
costs a compile, never a different result: the memo cannot make the model differ from a cold build.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from gitxds.compile.references import References
from gitxds.config import Document

__all__ = ["CompileMemo", "NoMemo"]

S = TypeVar("S")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Entry:
    document: Document  # kept alive, so its id() cannot be reused by another object
    looked_up: tuple[tuple[str, str], ...]
    context: Hashable
    value: Any


class CompileMemo:
    """What each document compiled to in the previous run. Not thread-safe: one compile at a time."""

    def __init__(self) -> None:
        self._entries: dict[int, _Entry] = {}
        self._next: dict[int, _Entry] = {}
        self._derived: dict[tuple[Callable[[Any], Any], int], tuple[object, Any]] = {}
        self._next_derived: dict[tuple[Callable[[Any], Any], int], tuple[object, Any]] = {}
        self.reused = 0  # documents not compiled again, in the last run

    def start(self) -> None:
        """A new compile run begins; entries not used in it are forgotten when it ends."""
        self._next = {}
        self._next_derived = {}
        self.reused = 0

    def finish(self) -> None:
        self._entries, self._next = self._next, {}
        self._derived, self._next_derived = self._next_derived, {}

    def derived(self, compute: Callable[[S], V], source: S) -> V:
        """``compute(source)`` for an immutable ``source``, computed once while it stays in the config."""
        key = (compute, id(source))
        entry = self._derived.get(key)
        if entry is None or entry[0] is not source:
            entry = (source, compute(source))
        self._next_derived[key] = entry
        value: V = entry[1]
        return value

    def reuse(self, document: Document, context: Hashable, refs: References) -> Any | None:
        entry = self._entries.get(id(document))
        if (
            entry is None
            or entry.document is not document
            or entry.context != context
            or not all(refs.resolves(kind, name) for kind, name in entry.looked_up)
        ):
            return None
        self._next[id(document)] = entry
        self.reused += 1
        return entry.value

    def store(
        self, document: Document, looked_up: list[tuple[str, str]], context: Hashable, value: Any
    ) -> None:
        self._next[id(document)] = _Entry(document, tuple(looked_up), context, value)


class NoMemo(CompileMemo):
    """For a compile that nothing compiles again after (a command's one build): keeps nothing."""

    def derived(self, compute: Callable[[S], V], source: S) -> V:
        return compute(source)

    def reuse(self, document: Document, context: Hashable, refs: References) -> Any | None:
        return None

    def store(
        self, document: Document, looked_up: list[tuple[str, str]], context: Hashable, value: Any
    ) -> None:
        pass
