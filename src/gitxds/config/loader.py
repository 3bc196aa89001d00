"""Files -> validated documents and diagnostics. ``parse_file`` is pure so callers can cache it per file."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gitxds.config.checks import check_document
from gitxds.config.document import Document, FileResult, Issue, LoadedConfig, Rejected, did_you_mean, line_of
from gitxds.config.pydantic_errors import describe_value, issue_from_error
from gitxds.config.schema import API_VERSION, KINDS, ConfigObject
from gitxds.config.yamlread import FieldPath, RawDocument, format_path, has_child, node_at, read_documents
from gitxds.errors import Diagnostic, Reason
from gitxds.gcpause import collector_paused

__all__ = ["config_files", "load_directory", "merge_files", "parse_file"]

_SUFFIXES = (".yaml", ".yml")


def parse_file(relpath: str, text: str) -> FileResult:
    """One file's text -> its valid documents, its diagnostics and the documents it rejected."""
    raw_documents, problems = read_documents(text)
    diagnostics = [Diagnostic(relpath, p.line, "", Reason.YAML_SYNTAX, p.message) for p in problems]
    documents: list[Document] = []
    rejected: list[Rejected] = []
    for raw in raw_documents:
        document, issues = _parse_document(relpath, raw)
        if document is not None and not issues:
            documents.append(document)
            continue
        diagnostics.extend(
            Diagnostic(
                relpath, line_of(raw.lines, i.path, raw.line), format_path(i.path), i.reason, i.message
            )
            for i in issues
        )
        rejected.append(_rejected(relpath, raw, issues[0].reason))
    return FileResult(relpath, tuple(documents), tuple(diagnostics), tuple(rejected))


def load_directory(root: Path) -> LoadedConfig:
    """Parse every config file under ``root``, then check names across files."""
    results = []
    with collector_paused():
        for relpath in config_files(root):
            try:
                text = (root / relpath).read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError) as exc:
                message = f"cannot read the file: {exc}"
                diagnostic = Diagnostic(relpath, 0, "", Reason.YAML_SYNTAX, message)
                results.append(FileResult(relpath, diagnostics=(diagnostic,)))
                continue
            results.append(parse_file(relpath, text))
        return merge_files(results)


def config_files(root: Path) -> list[str]:
    """Relative paths (with "/") of every ``*.yaml``/``*.yml`` under ``root``, hidden ones skipped, sorted."""
    found = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for filename in filenames:
            if filename.endswith(_SUFFIXES) and not filename.startswith("."):
                found.append((Path(folder) / filename).relative_to(root).as_posix())
    return sorted(found)


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
        message = (
            "a document must be a mapping with apiVersion, kind, metadata and spec, "
            f"got {describe_value(data)}"
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
