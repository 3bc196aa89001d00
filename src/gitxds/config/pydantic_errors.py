"""Pydantic validation errors -> :class:`Issue` with a reason code, a clean field path and a message."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from gitxds.config.document import Issue, did_you_mean
from gitxds.config.yamlread import FieldPath, format_path, has_child
from gitxds.errors import Reason

__all__ = ["bounded_message", "describe_type", "describe_value", "issue_from_error", "quote"]

_CUSTOM_REASONS = {
    "invalid_duration": Reason.INVALID_DURATION,
    "invalid_rate": Reason.INVALID_RATE,
    "invalid_port": Reason.INVALID_PORT,
    "invalid_name": Reason.INVALID_NAME,
    "invalid_regex": Reason.INVALID_REGEX,
    "invalid_value": Reason.INVALID_VALUE,
    "invalid_type": Reason.INVALID_TYPE,
}
_EXPECTED_TYPES = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "float_type": "a number",
    "float_parsing": "a number",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_BOUNDS = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
_QUOTED = re.compile(r"'([^']*)'")
_MAX_QUOTED = 80  # characters of a value a message may quote
_CONTROL = {code: f"\\x{code:02x}" for code in (*range(32), 127)}
_LONG_QUOTED = re.compile(rf'"([^"]{{{_MAX_QUOTED - 3}}})[^"]{{4,}}"')


def issue_from_error(error: ErrorDetails, data: Any, model: type[BaseModel]) -> Issue:
    kind = error["type"]
    path = _clean_path(error["loc"], data, keep_last=kind == "missing")
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return Issue(path, Reason.MISSING_FIELD, f"{format_path(path[-1:])} is required")
    if kind == "extra_forbidden":
        return Issue(path, Reason.UNKNOWN_FIELD, _unknown_field_message(path, model))
    if kind == "literal_error":
        allowed = _QUOTED.findall(str(ctx.get("expected", "")))
        hint = did_you_mean(str(value), allowed)
        return Issue(
            path, Reason.INVALID_VALUE, f"{describe_value(value)} is not one of {', '.join(allowed)}{hint}"
        )
    if kind in _CUSTOM_REASONS:
        return Issue(path, _CUSTOM_REASONS[kind], error["msg"])
    if kind in _EXPECTED_TYPES:
        return Issue(
            path, Reason.INVALID_TYPE, f"expected {_EXPECTED_TYPES[kind]}, got {describe_value(value)}"
        )
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()), "?")
        return Issue(path, Reason.INVALID_VALUE, f"must be {_BOUNDS[kind]} {bound}, got {value}")
    return Issue(path, Reason.INVALID_VALUE, error["msg"])


def describe_value(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return quote(value)
    return describe_type(value)


def describe_type(value: Any) -> str:
    """What kind of value this is, without any of its text."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a date" if hasattr(value, "isoformat") else "a value"


def bounded_message(message: str) -> str:
    """Any message, however its values were quoted: on one line, each quoted value shortened."""
    return _LONG_QUOTED.sub(r'"\1..."', message).translate(_CONTROL)


def quote(text: str) -> str:
    """``text`` in double quotes, on one line, at most ``_MAX_QUOTED`` characters of it."""
    if len(text) > _MAX_QUOTED:
        text = f"{text[: _MAX_QUOTED - 3]}..."
    return f'"{text.translate(_CONTROL)}"'


def _clean_path(loc: tuple[int | str, ...], data: Any, keep_last: bool) -> FieldPath:
    """Keep only the parts of ``loc`` that exist in the data (drops union tags like ``str``)."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        if has_child(node, part):
            node = node[part]
        elif keep_last and index == len(loc) - 1:
            node = None
        else:
            continue
        path.append(part)
    return tuple(path)


def _unknown_field_message(path: FieldPath, model: type[BaseModel]) -> str:
    key = str(path[-1])
    known = _fields_at(model, path[:-1])
    hint = did_you_mean(key, known) or _belongs_elsewhere(key, path, model)
    if hint or not known:
        return f'unknown field "{key}"{hint}'
    return f'unknown field "{key}" (allowed: {", ".join(known)})'


def _belongs_elsewhere(key: str, path: FieldPath, model: type[BaseModel]) -> str:
    """`` (it belongs in spec.kubernetes)`` when a child of an enclosing object (nearest first) has
    that field: a field written at the wrong level, such as a pod selector on a Backend that is not
    Kubernetes. The envelope (apiVersion, kind, metadata, spec) is not searched."""
    for depth in range(len(path) - 1, 0, -1):
        parent = path[:depth]
        for child in _fields_at(model, parent):
            here = (*parent, child)
            if here != path[: len(here)] and key in _fields_at(model, here):
                return f" (it belongs in {format_path(here)})"
    return ""


def _fields_at(model: type[BaseModel], path: FieldPath) -> list[str]:
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {(f.alias or name): f.annotation for name, f in current.model_fields.items()}
            current = fields.get(str(part))
        elif typing.get_origin(current) in (list, tuple, dict):
            current = typing.get_args(current)[-1 if typing.get_origin(current) is dict else 0]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [(f.alias or name) for name, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union or origin is types.UnionType:
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            annotation = models[0] if models else members[0]
        else:
            return annotation
