"""Files -> validated documents and diagnostics. ``parse_file`` is pure so callers can cache it per file.

:class:`DirectoryLoader` is the one way a config directory is read, by every command and by
``gitxds serve``: the files :func:`~gitxds.config.files.list_config_files` lists, read by
:func:`~gitxds.config.files.read_config_file`, each parsed again only when it changed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gitxds.config.checks import check_document
from gitxds.config.document import Document, FileResult, Issue, LoadedConfig, Rejected, did_you_mean, line_of
from gitxds.config.files import DEFAULT_LIMITS, ConfigFile, Limits, list_config_files, read_config_file
from gitxds.config.pydantic_errors import bounded_message, describe_type, describe_value, issue_from_error
from gitxds.config.schema import API_VERSION, KINDS, ConfigObject
from gitxds.config.yamlread import FieldPath, RawDocument, format_path, has_child, node_at, read_documents
from gitxds.errors import Diagnostic, Reason
from gitxds.gcpause import collector_paused

__all__ = ["DirectoryLoader", "LoadedDirectory", "load_directory", "merge_files", "parse_file"]


def parse_file(relpath: str, text: str) -> FileResult:
    """One file's text -> its valid documents, its diagnostics and the documents it rejected."""
    raw_documents, problems = read_documents(text)
    diagnostics = [Diagnostic(relpath, p.line, "", p.reason, p.message) for p in problems]
    documents: list[Document] = []
    rejected: list[Rejected] = []
    for raw in raw_documents:
        document, issues = _parse_document(relpath, raw)
        if document is not None and not issues:
            documents.append(document)
            continue
        diagnostics.extend(
            Diagnostic(
                relpath,
                line_of(raw.lines, i.path, raw.line),
                format_path(i.path),
                i.reason,
                bounded_message(i.message),
            )
            for i in issues
        )
        rejected.append(_rejected(relpath, raw, issues[0].reason))
    return FileResult(relpath, tuple(documents), tuple(diagnostics), tuple(rejected))


def load_directory(root: Path, limits: Limits = DEFAULT_LIMITS) -> LoadedConfig:
    """Parse every config file under ``root``, then check names across files."""
    return DirectoryLoader(root, limits).load().config


@dataclass(frozen=True)
class LoadedDirectory:
    config: LoadedConfig
    # (relative path, content) by path: every file read, and every file refused with its diagnostic's
    # text, so a version that adds an unreadable file still differs from the one before
    contents: tuple[tuple[str, bytes], ...]
    reparsed: int  # how many files were parsed in this load (the others were unchanged)


@dataclass(frozen=True, slots=True)
class _Parsed:
    signature: tuple[int, int, int, int]
    content: bytes
    result: FileResult


class DirectoryLoader:
    """Loads a config directory; a file is read again only when its stat signature changed, and
    parsed again only when its content did."""

    def __init__(self, root: Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.root = root
        self.limits = limits
        self._parsed: dict[str, _Parsed] = {}

    def load(self) -> LoadedDirectory:
        with collector_paused():  # parsing only, not compile or translate: see gitxds.gcpause
            return self._load()

    def _load(self) -> LoadedDirectory:
        listing = list_config_files(self.root, self.limits)
        fresh: dict[str, _Parsed] = {}
        results = [FileResult(d.file, diagnostics=(d,)) for d in listing.refused]
        reparsed = 0
        for entry in listing.files:
            parsed = self._parse(entry)
            if isinstance(parsed, FileResult):  # not read: its diagnostic stands for it
                results.append(parsed)
                continue
            if parsed is not None:
                previous = self._parsed.get(entry.relpath)
                if previous is None or parsed.result is not previous.result:
                    reparsed += 1
                fresh[entry.relpath] = parsed
                results.append(parsed.result)
        self._parsed = fresh
        contents = [(relpath, parsed.content) for relpath, parsed in fresh.items()]
        contents += [(r.file, str(d).encode()) for r in results if r.file not in fresh for d in r.diagnostics]
        return LoadedDirectory(merge_files(results), tuple(sorted(contents)), reparsed)

    def _parse(self, entry: ConfigFile) -> _Parsed | FileResult | None:
        cached = self._parsed.get(entry.relpath)
        if cached is not None and cached.signature == entry.signature:
            return cached
        content = read_config_file(entry, self.limits)
        if content is None:
            return None  # removed since it was listed; the next change reloads
        if isinstance(content, Diagnostic):
            return FileResult(entry.relpath, diagnostics=(content,))
        if cached is not None and cached.content == content:
            return _Parsed(entry.signature, content, cached.result)
        return _Parsed(entry.signature, content, _parse_bytes(entry.relpath, content))


def _parse_bytes(relpath: str, content: bytes) -> FileResult:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        return FileResult(relpath, diagnostics=(Diagnostic(relpath, 0, "", Reason.YAML_SYNTAX, message),))
    return parse_file(relpath, text)


def merge_files(results: Iterable[FileResult]) -> LoadedConfig:
    """Combine per-file results; a kind and name seen earlier (by file and line) is a DuplicateName."""
    ordered = sorted(results, key=lambda r: r.file)
    diagnostics = [d for r in ordered for d in r.diagnostics]
    rejected = [x for r in ordered for x in r.rejected]
    named: list[tuple[str, int, str, str, Document | None]] = [
        (x.file, x.line, x.kind, x.name, None) for x in rejected if x.name
    ]
    named += [(d.file, d.line, d.kind, d.name, d) for r in ordered for d in r.documents]
    first_seen: dict[tuple[str, str], tuple[str, int]] = {}
    documents = []
    for file, line, kind, name, document in sorted(named, key=lambda entry: entry[:2]):
        earlier = first_seen.setdefault((kind, name), (file, line))
        if earlier == (file, line):
            if document is not None:
                documents.append(document)
            continue
        message = f'{kind} "{name}" is already defined at {earlier[0]}:{earlier[1]}'
        if document is None:  # already rejected for its own problems; say this one too
            diagnostics.append(Diagnostic(file, line, "metadata.name", Reason.DUPLICATE_NAME, message))
            continue
        diagnostics.append(document.diagnostic(("metadata", "name"), Reason.DUPLICATE_NAME, message))
        rejected.append(Rejected(kind, name, file, line, Reason.DUPLICATE_NAME))
    return LoadedConfig(
        documents=tuple(documents),
        diagnostics=tuple(sorted(diagnostics, key=Diagnostic.sort_key)),
        rejected=tuple(rejected),
        files=tuple(r.file for r in ordered),
    )


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
