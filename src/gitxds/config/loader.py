"""Files -> validated documents and diagnostics. ``parse_file`` is pure so callers can cache it per file.

:class:`DirectoryLoader` is the one way a config directory is read, by every command and by
``gitxds serve``: the files :func:`~gitxds.config.files.list_config_files` lists, read by
:func:`~gitxds.config.files.read_config_file`, each parsed again only when it changed.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gitxds.config.checks import check_document
from gitxds.config.document import Document, FileResult, Issue, LoadedConfig, Rejected, did_you_mean, line_of
from gitxds.config.files import DEFAULT_LIMITS, ConfigFile, Limits, list_config_files, read_config_file
from gitxds.config.merge import Key, Merge
from gitxds.config.pydantic_errors import bounded_message, describe_type, describe_value, issue_from_error
from gitxds.config.schema import API_VERSION, KINDS, ConfigObject
from gitxds.config.yamlread import (
    FieldPath,
    RawDocument,
    format_path,
    has_child,
    node_at,
    read_section,
    sections,
)
from gitxds.errors import Diagnostic, Reason
from gitxds.gcpause import collector_paused

__all__ = ["DirectoryLoader", "LoadedDirectory", "load_directory", "merge_files", "parse_file"]


def parse_file(relpath: str, text: str) -> FileResult:
    """One file's text -> its valid documents, its diagnostics and the documents it rejected."""
    return parse_sections(relpath, text, {})[0]


Section = tuple[int, str]  # (0-based first line, text) of one ``---`` section of a file


@dataclass(frozen=True, slots=True)
class SectionResult:
    """What one section of a file gives: a pure function of the file's path and the section."""

    problem: Diagnostic | None  # the section is not YAML that reads
    document: Document | None  # valid
    diagnostics: tuple[Diagnostic, ...] = ()  # why its document is not valid
    rejected: Rejected | None = None


def parse_sections(
    relpath: str, text: str, known: Mapping[Section, SectionResult]
) -> tuple[FileResult, dict[Section, SectionResult]]:
    """:func:`parse_file`, taking what a section gave from ``known`` (the same file's last parse) when
    the section's text and first line are the same, so its document stays the very same object."""
    results: dict[Section, SectionResult] = {}
    for section in sections(text):
        found = known.get(section)
        results[section] = found if found is not None else _parse_section(relpath, *section)
    parts = results.values()
    diagnostics = [p.problem for p in parts if p.problem is not None]
    diagnostics += [d for p in parts for d in p.diagnostics]
    documents = tuple(p.document for p in parts if p.document is not None)
    rejected = tuple(p.rejected for p in parts if p.rejected is not None)
    return FileResult(relpath, documents, tuple(diagnostics), rejected), results


def _parse_section(relpath: str, start: int, chunk: str) -> SectionResult:
    raw, problem = read_section(start, chunk)
    if problem is not None:
        return SectionResult(Diagnostic(relpath, problem.line, "", problem.reason, problem.message), None)
    if raw is None:
        return SectionResult(None, None)
    document, issues = _parse_document(relpath, raw)
    if document is not None and not issues:
        return SectionResult(None, document)
    diagnostics = tuple(
        Diagnostic(
            relpath,
            line_of(raw.lines, i.path, raw.line),
            format_path(i.path),
            i.reason,
            bounded_message(i.message),
        )
        for i in issues
    )
    return SectionResult(None, None, diagnostics, _rejected(relpath, raw, issues[0].reason))


def load_directory(root: Path, limits: Limits = DEFAULT_LIMITS) -> LoadedConfig:
    """Parse every config file under ``root``, then check names across files."""
    return DirectoryLoader(root, limits).load().config


@dataclass(frozen=True)
class LoadedDirectory:
    merge: Merge  # the loader's merge, as of this load: read it before the next load
    changed: set[Key]  # (kind, name) of every name whose documents changed since the previous load
    # (relative path, content) by path: every file read, and every file refused with its diagnostic's
    # text, so a version that adds an unreadable file still differs from the one before
    contents: tuple[tuple[str, bytes], ...]
    reparsed: int  # how many files were parsed in this load (the others were unchanged)

    @cached_property
    def config(self) -> LoadedConfig:
        """Every winning document in file order, every diagnostic sorted (built on first use)."""
        return self.merge.config


@dataclass(frozen=True, slots=True)
class _Parsed:
    signature: tuple[int, int, int, int]
    content: bytes
    result: FileResult
    sections: Mapping[Section, SectionResult]


class DirectoryLoader:
    """Loads a config directory; a file is read again only when its stat signature changed, and
    parsed again only when its content did."""

    def __init__(self, root: Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.root = root
        self.limits = limits
        self._parsed: dict[str, _Parsed] = {}
        self._refused: dict[Diagnostic, FileResult] = {}  # the same object while a file stays refused
        self._merge = Merge()
        self._read: list[ConfigFile] = []  # the files the last load opened (the others were unchanged)

    def load(self) -> LoadedDirectory:
        with collector_paused():  # parsing only, not compile or translate: see gitxds.gcpause
            return self._load()

    def _load(self) -> LoadedDirectory:
        listing = list_config_files(self.root, self.limits)
        self._read = []
        fresh: dict[str, _Parsed] = {}
        results = [self._refused_file(d) for d in listing.refused]
        reparsed = 0
        for entry in listing.files:
            parsed = self._parse(entry)
            if isinstance(parsed, Diagnostic):  # not read: its diagnostic stands for it
                results.append(self._refused_file(parsed))
                continue
            if parsed is not None:
                previous = self._parsed.get(entry.relpath)
                if previous is None or parsed.result is not previous.result:
                    reparsed += 1
                fresh[entry.relpath] = parsed
                results.append(parsed.result)
        self._parsed = fresh
        self._refused = {r.diagnostics[0]: r for r in results if r.file not in fresh}
        contents = [(relpath, parsed.content) for relpath, parsed in fresh.items()]
        contents += [(r.file, str(d).encode()) for r in results if r.file not in fresh for d in r.diagnostics]
        changed = self._merge.update(results)
        return LoadedDirectory(self._merge, changed, tuple(sorted(contents)), reparsed)

    def _refused_file(self, diagnostic: Diagnostic) -> FileResult:
        known = self._refused.get(diagnostic)
        return known if known is not None else FileResult(diagnostic.file, diagnostics=(diagnostic,))

    def _parse(self, entry: ConfigFile) -> _Parsed | Diagnostic | None:
        cached = self._parsed.get(entry.relpath)
        if cached is not None and cached.signature == entry.signature:
            return cached
        self._read.append(entry)
        content = read_config_file(entry, self.limits)
        if content is None:
            return None  # removed since it was listed; the next change reloads
        if isinstance(content, Diagnostic):
            return content
        if cached is not None and cached.content == content:
            return _Parsed(entry.signature, content, cached.result, cached.sections)
        known = cached.sections if cached is not None else {}
        return _Parsed(entry.signature, content, *_parse_bytes(entry.relpath, content, known))

    def changed_since_read(self) -> tuple[str, ...]:
        """The files the last load opened whose stat signature moved since they were listed: a writer
        was at work while they were read, so what was read may be half of a write (a torn read)."""
        return tuple(entry.relpath for entry in self._read if _signature_now(entry.path) != entry.signature)


def _signature_now(path: str) -> tuple[int, int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None  # gone (or unreadable) since: changed all the same
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def _parse_bytes(
    relpath: str, content: bytes, known: Mapping[Section, SectionResult]
) -> tuple[FileResult, Mapping[Section, SectionResult]]:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        return FileResult(relpath, diagnostics=(Diagnostic(relpath, 0, "", Reason.YAML_SYNTAX, message),)), {}
    return parse_sections(relpath, text, known)


def merge_files(results: Iterable[FileResult]) -> LoadedConfig:
    """Combine per-file results; a kind and name seen earlier (by file and line) is a DuplicateName."""
    merge = Merge()
    merge.update(results)
    return merge.config


def _parse_document(relpath: str, raw: RawDocument) -> tuple[Document | None, list[Issue]]:
    data = raw.data
    if not isinstance(data, dict):
        # described by its type only: a linked or misplaced file may hold a secret
        message = (
            "a document must be a mapping with apiVersion, kind, metadata and spec, "
            f"got {describe_type(data)}"
        )
        return None, [Issue((), Reason.NOT_AN_OBJECT, message)]
    issues = _check_envelope(data)
    if issues:
        return None, issues
    model = KINDS[data["kind"]]
    try:
        obj = model.model_validate(data)
    except ValidationError as exc:
        issues = [issue_from_error(error, data, model) for error in exc.errors()]
        return None, issues + _checks_without_bad_fields(model, data, issues)
    document = Document(data["kind"], obj.metadata.name, relpath, raw.line, obj, raw.lines)
    return document, check_document(obj)


def _checks_without_bad_fields(
    model: type[ConfigObject], data: dict[str, Any], issues: list[Issue]
) -> list[Issue]:
    """Cross-field checks on the document minus its bad optional fields, so one run reports both kinds."""
    pruned = copy.deepcopy(data)
    removed = object()
    bad: list[FieldPath] = []
    for issue in issues:
        parent = node_at(pruned, issue.path[:-1])
        last = issue.path[-1] if issue.path else None
        if issue.reason is Reason.MISSING_FIELD or last is None or not has_child(parent, last):
            return []
        parent[last] = removed
        # Removing a list item shifts its siblings, so nothing under that list can be trusted.
        bad.append(issue.path[:-1] if isinstance(last, int) else issue.path)
    try:
        obj = model.model_validate(_without(pruned, removed))
    except ValidationError:
        return []
    return [extra for extra in check_document(obj) if not any(_related(extra.path, b) for b in bad)]


def _without(node: Any, removed: object) -> Any:
    if isinstance(node, dict):
        return {key: _without(value, removed) for key, value in node.items() if value is not removed}
    if isinstance(node, list):
        return [_without(value, removed) for value in node if value is not removed]
    return node


def _related(path: FieldPath, other: FieldPath) -> bool:
    """One path contains the other: a check there may only be an echo of the removed field."""
    shorter = min(len(path), len(other))
    return path[:shorter] == other[:shorter]


def _check_envelope(data: dict[str, Any]) -> list[Issue]:
    issues = []
    api_version = data.get("apiVersion")
    if api_version is None:
        issues.append(Issue(("apiVersion",), Reason.MISSING_FIELD, f"apiVersion is required: {API_VERSION}"))
    elif api_version != API_VERSION:
        message = f'unknown apiVersion {describe_value(api_version)}: use "{API_VERSION}"'
        issues.append(Issue(("apiVersion",), Reason.UNKNOWN_API_VERSION, message))
    kind = data.get("kind")
    if kind is None:
        issues.append(Issue(("kind",), Reason.MISSING_FIELD, f"kind is required: one of {', '.join(KINDS)}"))
    elif not isinstance(kind, str) or kind not in KINDS:  # a list or mapping is no kind (and unhashable)
        hint = did_you_mean(str(kind), KINDS)
        message = f"unknown kind {describe_value(kind)}{hint} (known: {', '.join(KINDS)})"
        issues.append(Issue(("kind",), Reason.UNKNOWN_KIND, message))
    return issues


def _rejected(relpath: str, raw: RawDocument, reason: Reason) -> Rejected:
    data = raw.data if isinstance(raw.data, dict) else {}
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    kind = data.get("kind")
    return Rejected(
        kind if isinstance(kind, str) else "",
        name if isinstance(name, str) else "",
        relpath,
        raw.line,
        reason,
    )
