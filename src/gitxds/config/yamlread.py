"""Reading YAML text into plain Python documents, keeping the line of every key and list item.

Each ``---`` section of a file is parsed on its own, so a syntax error in one document does not hide
the valid documents around it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

__all__ = ["FieldPath", "RawDocument", "YamlProblem", "format_path", "has_child", "node_at", "read_documents"]

FieldPath = tuple[str | int, ...]

_DOCUMENT_START = re.compile(r"---(\s.*)?")
_DOCUMENT_END = re.compile(r"\.\.\.\s*")
_MAX_FLOW_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"
_IDENTIFIER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class RawDocument:
    """One YAML document as plain dicts/lists/scalars, with 1-based lines per field path."""

    line: int
    data: Any
    lines: Mapping[FieldPath, int]


@dataclass(frozen=True)
class YamlProblem:
    line: int
    message: str


def read_documents(text: str) -> tuple[list[RawDocument], list[YamlProblem]]:
    # The safe loader uses libyaml when installed; its nodes carry the line of every key and item.
    yaml = YAML(typ="safe", pure=False)
    documents: list[RawDocument] = []
    problems: list[YamlProblem] = []
    for first_line, chunk in _split_documents(text):
        try:
            document = _read_one(yaml, chunk, first_line)
        except MarkedYAMLError as exc:
            problems.append(_problem(exc, first_line, chunk.splitlines()))
        except YAMLError as exc:
            problems.append(YamlProblem(first_line, " ".join(str(exc).split())))
        except RecursionError:
            problems.append(
                YamlProblem(first_line, "the document nests too deeply or an alias refers to itself")
            )
        else:
            if document is not None:
                documents.append(document)
    return documents, problems


def _read_one(yaml: YAML, chunk: str, first_line: int) -> RawDocument | None:
    if _flow_depth(chunk) > _MAX_FLOW_DEPTH:  # the YAML parser slows down badly on deep [ { nesting
        raise RecursionError
    node = yaml.compose(chunk)
    data = _to_plain(yaml.constructor.construct_document(node)) if node is not None else None
    if data is None:  # an empty document
        return None
    lines: dict[FieldPath, int] = {}
    _index_lines(node, (), lines)
    return RawDocument(int(node.start_mark.line) + 1, data, lines)


def format_path(path: FieldPath) -> str:
    """``("spec", "rules", 0, "name")`` -> ``spec.rules[0].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


def has_child(node: Any, part: int | str) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def node_at(data: Any, path: FieldPath) -> Any:
    """The plain value at ``path``, or ``None`` when the path does not exist."""
    for part in path:
        if not has_child(data, part):
            return None
        data = data[part]
    return data


def _split_documents(text: str) -> Iterator[tuple[int, str]]:
    """Yield (1-based first line, text padded with blank lines so ruamel's lines are file lines)."""
    lines = text.splitlines()
    start = 0
    for index, line in enumerate(lines):
        if _DOCUMENT_START.fullmatch(line) and index > start and not _only_directives(lines[start:index]):
            yield start + 1, "\n" * start + "\n".join(lines[start:index]) + "\n"
            start = index
        elif _DOCUMENT_END.fullmatch(line):
            yield start + 1, "\n" * start + "\n".join(lines[start:index]) + "\n"
            start = index + 1
    if start < len(lines):
        yield start + 1, "\n" * start + "\n".join(lines[start:]) + "\n"


def _flow_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` outside quotes and comments (a cheap upper bound is enough)."""
    depth = deepest = 0
    quote = ""
    previous = "\n"
    for char in text:
        if quote:
            if char == quote or (char == "\n" and quote == "#"):
                quote = ""
        elif char in "\"'" or (char == "#" and previous in " \t\n"):
            quote = char
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
        previous = char
    return deepest


def _only_directives(lines: list[str]) -> bool:
    """``%YAML`` / ``%TAG`` lines belong to the document that the next ``---`` starts."""
    content = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return bool(content) and all(line.startswith("%") for line in content)


def _problem(exc: MarkedYAMLError, first_line: int, chunk_lines: list[str]) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    # An unexpected end of the document is reported on the document's last line.
    line = min(mark.line + 1, len(chunk_lines)) if mark is not None else first_line
    parts = [p for p in (exc.context, exc.problem) if p]
    message = "; ".join(str(p).strip() for p in parts) or "invalid YAML"
    if 0 < line <= len(chunk_lines) and "\t" in chunk_lines[line - 1]:
        message += " (a tab character: YAML is indented with spaces)"
    return YamlProblem(line, " ".join(message.split()))


def _index_lines(node: Node, path: FieldPath, lines: dict[FieldPath, int]) -> None:
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:  # merged keys stay at their parent's line
                continue
            child = (*path, str(key_node.value))
            lines[child] = int(key_node.start_mark.line) + 1
            _index_lines(value_node, child, lines)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = int(item.start_mark.line) + 1
            _index_lines(item, (*path, index), lines)


def _to_plain(node: Any) -> Any:
    """Loaded values -> plain dict, list, str, int, float, bool (and stops on self-references)."""
    if isinstance(node, dict):
        return {str(key): _to_plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_to_plain(value) for value in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node
