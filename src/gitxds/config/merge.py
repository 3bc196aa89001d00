"""The checks that span files, kept up to date file by file.

Every document and every rejected document with a name claims its ``(kind, name)``; the first claim
by (file, line) wins and every later one is a DuplicateName. :class:`Merge` keeps the claims of each
name, so when one file changes only the names that file held before or holds now are settled again:
an edit of one file costs what that file holds, not what the directory holds. ``update`` returns those
names, which is what an incremental compile starts from. The full :class:`LoadedConfig` (every
winning document in file order) is built only when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gitxds.config.document import Document, FileResult, LoadedConfig, Rejected
from gitxds.errors import Diagnostic, Reason

__all__ = ["Key", "Merge"]

Key = tuple[str, str]  # (kind, name)


@dataclass(frozen=True, slots=True)
class _Claim:
    file: str
    line: int
    document: Document | None  # None: a rejected document's claim


@dataclass(frozen=True, slots=True)
class _Duplicates:
    """The claims of one name after the first: one diagnostic each, and the valid ones rejected."""

    diagnostics: tuple[Diagnostic, ...]
    rejected: tuple[tuple[tuple[str, int], Rejected], ...]  # by (file, line)


class Merge:
    """The merge of a directory's parsed files. Not thread-safe: one update at a time."""

    def __init__(self) -> None:
        self._files: dict[str, FileResult] = {}
        self._claims: dict[Key, list[_Claim]] = {}
        self._duplicates: dict[Key, _Duplicates] = {}
        self._config: LoadedConfig | None = None
        self._diagnostics: tuple[Diagnostic, ...] | None = None
        self._rejected: tuple[Rejected, ...] | None = None

    def update(self, results: Iterable[FileResult]) -> set[Key]:
        """Make ``results`` (one per file: the whole directory) the merged files; the names whose
        claims changed. A file whose result is the same object as before costs nothing."""
        fresh = {result.file: result for result in results}
        changed: set[Key] = set()
        empty = FileResult("")
        for file in self._files.keys() | fresh.keys():
            old, new = self._files.get(file, empty), fresh.get(file, empty)
            if old is not new:
                self._reclaim(file, old, new, changed)
                self._forget_caches(old)
                self._forget_caches(new)
        self._files = fresh
        for key in changed:
            self._settle(key)
        return changed

    def winner(self, key: Key) -> Document | None:
        """The document that defines ``key``; ``None`` when no valid document does."""
        claims = self._claims.get(key)
        return claims[0].document if claims else None

    def claimed(self, key: Key) -> bool:
        """Some document, valid or not, claims ``key``."""
        return key in self._claims

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        """Every file's diagnostics and every DuplicateName, sorted."""
        if self._diagnostics is None:
            found = [d for file in sorted(self._files) for d in self._files[file].diagnostics]
            duplicates = [d for dup in self._duplicates.values() for d in dup.diagnostics]
            found += sorted(duplicates, key=lambda d: (d.file, d.line))
            self._diagnostics = tuple(sorted(found, key=Diagnostic.sort_key))
        return self._diagnostics

    @property
    def rejected(self) -> tuple[Rejected, ...]:
        """Documents rejected in their files (in file order), then valid ones rejected as duplicates."""
        if self._rejected is None:
            found = [x for file in sorted(self._files) for x in self._files[file].rejected]
            duplicates = [pair for dup in self._duplicates.values() for pair in dup.rejected]
            found += [rejected for _, rejected in sorted(duplicates, key=lambda pair: pair[0])]
            self._rejected = tuple(found)
        return self._rejected

    @property
    def config(self) -> LoadedConfig:
        """Everything merged; the documents are the winners in file order."""
        if self._config is None:
            files = sorted(self._files)
            documents = tuple(
                d
                for file in files
                for d in self._files[file].documents
                if self._claims[(d.kind, d.name)][0].document is d
            )
            self._config = LoadedConfig(documents, self.diagnostics, self.rejected, tuple(files))
        return self._config

    def _forget_caches(self, result: FileResult) -> None:
        self._config = None
        if result.diagnostics:
            self._diagnostics = None
        if result.rejected:
            self._rejected = None

    def _reclaim(self, file: str, old: FileResult, new: FileResult, changed: set[Key]) -> None:
        """Replace ``file``'s claims; a name whose claims from it are the same objects is unchanged."""
        before, after = _claims_of(old), _claims_of(new)
        for key in before.keys() | after.keys():
            mine = after.get(key, [])
            if _same(before.get(key, []), mine):
                continue
            changed.add(key)
            kept = [claim for claim in self._claims.get(key, ()) if claim.file != file] + mine
            if kept:
                self._claims[key] = kept
            else:
                del self._claims[key]

    def _settle(self, key: Key) -> None:
        """Order the claims of ``key`` and say what its duplicates are."""
        claims = self._claims.get(key)
        had = self._duplicates.pop(key, None)
        if claims is None:
            if had is not None:
                self._diagnostics = self._rejected = None
            return
        claims.sort(key=lambda claim: (claim.file, claim.line, claim.document is not None))
        if len(claims) == 1 and had is None:
            return
        self._diagnostics = self._rejected = None
        if len(claims) > 1:
            self._duplicates[key] = _duplicates(key, claims)


def _claims_of(result: FileResult) -> dict[Key, list[_Claim]]:
    claims: dict[Key, list[_Claim]] = {}
    for rejected in result.rejected:
        if rejected.name:
            claims.setdefault((rejected.kind, rejected.name), []).append(
                _Claim(rejected.file, rejected.line, None)
            )
    for document in result.documents:
        claims.setdefault((document.kind, document.name), []).append(
            _Claim(document.file, document.line, document)
        )
    return claims


def _same(claims: list[_Claim], others: list[_Claim]) -> bool:
    """The same claims, documents compared by identity (an equal document elsewhere is a new one)."""
    return len(claims) == len(others) and all(
        a.file == b.file and a.line == b.line and a.document is b.document
        for a, b in zip(claims, others, strict=True)
    )


def _duplicates(key: Key, claims: list[_Claim]) -> _Duplicates:
    kind, name = key
    first = claims[0]
    message = f'{kind} "{name}" is already defined at {first.file}:{first.line}'
    diagnostics = []
    rejected = []
    for claim in claims[1:]:
        document = claim.document
        if document is None:  # already rejected for its own problems; say this one too
            diagnostics.append(
                Diagnostic(claim.file, claim.line, "metadata.name", Reason.DUPLICATE_NAME, message)
            )
            continue
        diagnostics.append(document.diagnostic(("metadata", "name"), Reason.DUPLICATE_NAME, message))
        where = (claim.file, claim.line)
        rejected.append((where, Rejected(kind, name, claim.file, claim.line, Reason.DUPLICATE_NAME)))
    return _Duplicates(tuple(diagnostics), tuple(rejected))
