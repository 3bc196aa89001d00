"""Reading YAML text into plain Python documents, keeping the line of every key and list item.

Each ``---`` section of a file is parsed on its own, so a syntax error in one document does not hide
the valid documents around it.

Most sections take a fast path: libyaml (the C parser of ruamel's safe loader, here through PyYAML's
lighter composer) composes the nodes, and one walk over them builds the plain data, resolving plain
scalars with ruamel's YAML 1.2 rules and constructors; the line index waits until a diagnostic needs
it. Anything unusual there (a syntax error, a tag, a directive, a merge key, a duplicate key, an alias
cycle...) sends the section through ruamel's loader instead, which decides what it means and how it
is reported.

Limits on hostile text live in their own functions below (``_check_aliases``, ``_safe_message``):
an alias may not expand a document by more than ``ALIAS_EXPANSION_BUDGET`` nodes, and a problem's
message never carries more than a short, escaped excerpt of the text.
"""

from __future__ import annotations

import operator
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml._yaml as pyyaml
import yaml.nodes
from _ruamel_yaml import CParser as _RuamelParser  # type: ignore[import-not-found]
from ruamel.yaml import YAML
from ruamel.yaml.cyaml import CParser  # type: ignore[attr-defined]
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver

from gitxds.errors import Reason

__all__ = [
    "FieldPath",
    "RawDocument",
    "YamlProblem",
    "format_path",
    "has_child",
    "node_at",
    "read_documents",
    "read_section",
    "sections",
]

FieldPath = tuple[str | int, ...]

_DOCUMENT_START = re.compile(r"---(\s.*)?")
_DOCUMENT_END = re.compile(r"\.\.\.\s*")
_MAX_FLOW_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"
_IDENTIFIER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
# Nodes that aliases may add to one document (an anchored list of 20 items used 500 times fits).
ALIAS_EXPANSION_BUDGET = 10_000
_MAX_MESSAGE = 200
# Deeper documents are refused: Python's recursion limit would refuse them later anyway, and some tens
# of thousands of levels overflow the C stack of libyaml's composer (a crash, not an error).
_MAX_BLOCK_DEPTH = 1000
_LOADERS = threading.local()


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
    reason: Reason = Reason.YAML_SYNTAX


def read_documents(text: str) -> tuple[list[RawDocument], list[YamlProblem]]:
    documents: list[RawDocument] = []
    problems: list[YamlProblem] = []
    for start, chunk in sections(text):
        document, problem = read_section(start, chunk)
        if document is not None:
            documents.append(document)
        if problem is not None:
            problems.append(problem)
    return documents, problems


def sections(text: str) -> list[tuple[int, str]]:
    """The ``---`` sections of a file: (0-based first line, text). Each reads alone (:func:`read_section`),
    so a caller may keep what a section gave while its text and first line stay the same."""
    lines = text.splitlines()
    return [
        (start, "\n".join(lines[start:end]) + "\n")
        for start, end in _split_documents(lines, directives="%" in text)
    ]


def read_section(start: int, chunk: str) -> tuple[RawDocument | None, YamlProblem | None]:
    """One section's document (``None`` when empty) or what is wrong with it."""
    try:
        fast = _read_fast(chunk, start)
    except _AliasExpansionError as exc:
        return None, exc.problem(start + 1)
    except Exception:  # ruamel's loader below decides what the section means
        pass
    else:
        return fast, None
    yaml = _slow_loader()
    chunk = "\n" * start + chunk  # padded with blank lines so ruamel's lines are file lines
    documents: list[RawDocument] = []
    problem = _read_slow(yaml, chunk, start + 1, documents)
    if problem is not None:
        _LOADERS.yaml = None  # a fresh one after a failure: nothing half-read stays in it
    return (documents[0] if documents else None), problem


def _slow_loader() -> YAML:
    """The safe loader uses libyaml when installed; its nodes carry the line of every key and item.
    One per thread (a loader is not thread-safe), kept: making one costs ~0.1 ms a section."""
    yaml: YAML | None = getattr(_LOADERS, "yaml", None)
    if yaml is None:
        yaml = _LOADERS.yaml = YAML(typ="safe", pure=False)
    return yaml


def _read_slow(yaml: YAML, chunk: str, first_line: int, documents: list[RawDocument]) -> YamlProblem | None:
    """ruamel's loader on one section: appends its document, or returns what is wrong with it."""
    try:
        document = _read_one(yaml, chunk, first_line)
    except _AliasExpansionError as exc:
        return exc.problem(first_line)
    except MarkedYAMLError as exc:
        return _problem(exc, first_line, chunk.splitlines())
    except YAMLError as exc:
        return YamlProblem(first_line, _safe_message(str(exc)))
    except RecursionError:
        return YamlProblem(first_line, "the document nests too deeply or an alias refers to itself")
    except Exception as exc:  # a constructor refusing a tagged value (!!int x): never quote the value
        message = f"a value does not fit its explicit YAML tag ({type(exc).__name__})"
        return YamlProblem(first_line, message)
    if document is not None:
        documents.append(document)
    return None


def _read_one(yaml: YAML, chunk: str, first_line: int) -> RawDocument | None:
    if _too_deep(chunk):
        raise RecursionError
    node = yaml.compose(chunk)
    if node is not None and "*" in chunk:
        _check_aliases(node)
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


def _split_documents(lines: list[str], directives: bool) -> Iterator[tuple[int, int]]:
    """Yield the (start, end) line slice of each ``---`` section (0-based, end excluded)."""
    start = 0
    for index, line in enumerate(lines):
        if line[:3] not in ("---", "..."):
            continue
        if (
            _DOCUMENT_START.fullmatch(line)
            and index > start
            and not (directives and _only_directives(lines[start:index]))
        ):
            yield start, index
            start = index
        elif _DOCUMENT_END.fullmatch(line):
            yield start, index
            start = index + 1
    if start < len(lines):
        yield start, len(lines)


def _too_deep(text: str) -> bool:
    """The YAML parser slows down badly on deep ``[ {`` nesting, and deep block nesting crashes it."""
    if _nests_too_deeply(text):
        return True
    if text.count("[") + text.count("{") <= _MAX_FLOW_DEPTH:  # cannot nest deeper than that
        return False
    return _flow_depth(text) > _MAX_FLOW_DEPTH


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
    return YamlProblem(line, _safe_message(message))


# --- limits on hostile text ----------------------------------------------------------------------

_DUPLICATE_KEY_VALUES = re.compile(r' with value ".*?" \(original value: ".*"\)', re.DOTALL)
_QUOTED_VALUE = re.compile(r'(?<!duplicate key )"[^"]*"')  # a value the parser quotes, not a key
_SINGLE_QUOTED = re.compile(r"'([^']{24})[^']+'")  # a tag or a character: kept, but short
_CONTROL = {code: f"\\x{code:02x}" for code in (*range(32), 127)}


class _AliasExpansionError(Exception):
    def __init__(self, written: int, expanded: int) -> None:
        super().__init__()
        self.written = written
        self.expanded = expanded

    def problem(self, base: int) -> YamlProblem:
        message = (
            f"aliases would expand this document from {self.written} to {self.expanded} nodes; at most "
            f"{ALIAS_EXPANSION_BUDGET} may come from aliases, so it is not read"
        )
        return YamlProblem(base, message, Reason.ALIAS_EXPANSION_TOO_LARGE)


def _check_aliases(root: Any) -> None:
    """Refuses a document whose aliases expand it by more than the budget, before anything expands
    it: the composed nodes share each anchored node, so this walk costs only the text's own size.
    A self-referencing alias is left to the loader, which reports it."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = _children(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            continue
        if key in sizes:
            continue
        if key in on_path:
            return  # a cycle
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    expanded, written = sizes[id(root)], len(sizes)
    if expanded - written > ALIAS_EXPANSION_BUDGET:
        raise _AliasExpansionError(written, expanded)


def _nests_too_deeply(text: str) -> bool:
    """Measured before composing: every level of nesting needs one of ``- : ? [ {``, so few of them
    bound the depth; otherwise libyaml's event parser (iterative) measures it exactly."""
    if len(text) <= _MAX_BLOCK_DEPTH:  # the length bounds the indicators: most sections are that short
        return False
    if sum(text.count(indicator) for indicator in "-:?[{") <= _MAX_BLOCK_DEPTH:
        return False
    parser = CParser(text)
    depth = 0
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > _MAX_BLOCK_DEPTH:
                    return True
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    except YAMLError:
        return False  # a syntax error before that depth: the loader reports it
    finally:
        parser.dispose()
    return False


_ScalarNode = yaml.nodes.ScalarNode
_SequenceNode = yaml.nodes.SequenceNode
_MAPPINGS = (MappingNode, yaml.nodes.MappingNode)  # ruamel's and the fast path's


def _children(node: Any) -> list[Any]:
    if isinstance(node, _MAPPINGS):
        return [part for pair in node.value for part in pair]
    if isinstance(node.value, list):
        return list(node.value)
    return []


def _safe_message(message: str) -> str:
    """The parser's message on one line, short, without the values it may quote."""
    message = _DUPLICATE_KEY_VALUES.sub("", message)
    message = _QUOTED_VALUE.sub('"..."', message)
    message = _SINGLE_QUOTED.sub(r"'\1...'", message)
    message = " ".join(message.split()).translate(_CONTROL)
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return message


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


# --- the fast path -------------------------------------------------------------------------------
#
# PyYAML's C composer builds plain node objects with half the overhead of ruamel's, and both wrap the
# same libyaml scanner and composer. Its libyaml is newer; the differences are in tags (a section with
# ``!`` never takes this path), in ``:`` and ``?`` inside plain scalars of flow collections (ruamel's
# refuses them: such a scalar sends the section to ruamel) and in an explicit key closing a flow
# sequence (a section with ``?`` must first parse in ruamel's libyaml), and a nesting limit (an error
# here, so ruamel decides). tests/unit/test_config_yamlread.py checks that both paths agree.

_MISSING = object()
# ruamel's implicit resolvers for YAML 1.2 (the version its loader uses without a %YAML directive).
_RESOLVERS: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {
    first: [(tag, re.compile(regexp.pattern, regexp.flags)) for tag, regexp in resolvers]
    for first, resolvers in VersionedResolver(version=(1, 2)).versioned_resolver.items()
}
_ANY_FIRST = _RESOLVERS.get(None, [])
# Plain scalars starting with any other character are strings (unless a resolver takes any first one).
_RESOLVED_FIRST = frozenset(f for f in _RESOLVERS if f is not None)
_CONSTRUCTOR = YAML(typ="safe", pure=True).constructor
_CONSTRUCTORS = {
    "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
    "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
    "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
    "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
    "tag:yaml.org,2002:timestamp": _CONSTRUCTOR.construct_yaml_timestamp,
}
_SCALARS: dict[str, Any] = {}  # plain scalar text -> its value (keys like name, true, 1 recur)
_MAX_SCALARS = 4096


class _FallbackError(Exception):
    pass


class _Composer(pyyaml.CParser):
    """libyaml's composer without tag resolution: without ``!`` in the text no node has a tag, a
    plain scalar has the style ``""``, and the node's class tells mappings from sequences. The hooks
    are C callables, so composing calls no Python code but the node classes."""

    resolve = staticmethod(slice)  # (kind, value, implicit) -> ignored
    descend_resolver = staticmethod(operator.is_)  # (parent, index) -> ignored
    ascend_resolver = staticmethod(tuple)  # () -> ignored


def _read_fast(chunk: str, start: int) -> RawDocument | None:
    """The section's document, ``None`` when it is empty; raises when it needs ruamel's loader.

    The line index is built only when a diagnostic asks for it (:class:`_Lines`)."""
    if "!" in chunk or _too_deep(chunk) or chunk[:1] == "%" or "\n%" in chunk:  # %YAML may change scalars
        raise _FallbackError
    if "?" in chunk:
        _RuamelParser(chunk).raw_parse()  # raises where ruamel's libyaml refuses it
    composer = _Composer(chunk)
    try:
        node = composer.get_single_node()
    finally:
        composer.dispose()
    if node is None:
        return None
    if "*" in chunk:
        _check_aliases(node)
    data = _build(node)
    if data is None:  # an empty document
        return None
    return RawDocument(int(node.start_mark.line) + start + 1, data, _Lines(chunk, start))


def _build(node: Any) -> Any:
    """Plain data of a node composed by :class:`_Composer`. Scalar keys and values are read inline:
    they are most of the nodes, and most of them are plain strings that need no resolving."""
    kind = type(node)
    if kind is _ScalarNode:
        return _scalar(node.value, node.style, False)
    flow = bool(node.flow_style)
    if kind is _SequenceNode:
        return [_value(item, flow) for item in node.value]
    data: dict[str, Any] = {}
    other_keys: list[Any] = []
    for key_node, value_node in node.value:
        if type(key_node) is not _ScalarNode:
            raise _FallbackError  # a complex key
        key = key_node.value
        if key_node.style == "" and (flow or _ANY_FIRST or key[:1] in _RESOLVED_FIRST):
            key = _scalar(key, "", flow)
            if type(key) is not str:  # 1, 1.0 and true are one key to ruamel: a duplicate
                if key in other_keys:
                    raise _FallbackError
                other_keys.append(key)
                key = str(key)
        if key in data:
            raise _FallbackError
        if type(value_node) is _ScalarNode:
            text = value_node.value
            if value_node.style == "" and (flow or _ANY_FIRST or text[:1] in _RESOLVED_FIRST):
                text = _scalar(text, "", flow)
            data[key] = text
        else:
            data[key] = _build(value_node)
    return data


def _value(node: Any, in_flow: bool) -> Any:
    if type(node) is not _ScalarNode:
        return _build(node)
    text = node.value
    if node.style == "" and (in_flow or _ANY_FIRST or text[:1] in _RESOLVED_FIRST):
        return _scalar(text, "", in_flow)
    return text


def _scalar(text: str, style: str | None, in_flow: bool) -> Any:
    if style != "":  # quoted or a block scalar: a string
        return text
    if in_flow and (":" in text or "?" in text):  # ruamel's libyaml ends or refuses the scalar there
        raise _FallbackError
    if _ANY_FIRST or text[:1] in _RESOLVED_FIRST:
        return _plain_scalar(text)
    return text


def _plain_scalar(text: str) -> Any:
    """A plain scalar's value, exactly as ruamel's safe loader resolves and constructs it."""
    value = _SCALARS.get(text, _MISSING)
    if value is not _MISSING:
        return value
    resolvers = _RESOLVERS.get(text[:1], []) + _ANY_FIRST
    tag = next((tag for tag, regexp in resolvers if regexp.match(text)), None)
    if tag is None:
        value = text
    else:
        construct = _CONSTRUCTORS.get(tag)
        if construct is None:  # a merge key, "=" and the like
            raise _FallbackError
        value = _to_plain(construct(ScalarNode(tag, text, None, None)))
    if len(_SCALARS) >= _MAX_SCALARS:
        _SCALARS.clear()
    _SCALARS[text] = value
    return value


class _Lines(Mapping[FieldPath, int]):
    """The line index of a section read by the fast path, built the first time it is read (only a
    diagnostic reads it) by ruamel's composer, as the slow path builds it."""

    __slots__ = ("_chunk", "_lines", "_start")

    def __init__(self, chunk: str, start: int) -> None:
        self._chunk = chunk
        self._start = start
        self._lines: dict[FieldPath, int] | None = None

    def _index(self) -> dict[FieldPath, int]:
        if self._lines is None:
            lines: dict[FieldPath, int] = {}
            try:
                node = YAML(typ="safe", pure=False).compose("\n" * self._start + self._chunk)
            except YAMLError:  # not expected: the fast path reads only what ruamel reads alike
                node = None
            if node is not None:
                _index_lines(node, (), lines)
            self._lines = lines
        return self._lines

    def __getitem__(self, path: FieldPath) -> int:
        return self._index()[path]

    def __iter__(self) -> Iterator[FieldPath]:
        return iter(self._index())

    def __len__(self) -> int:
        return len(self._index())

    def __repr__(self) -> str:
        return repr(self._index())
